"""Spaced repetition of weak questions and weak axes, and per-axis progress over sessions.

Nothing is stored besides the session logs: the review queue is derived by replaying every finished
session, oldest first, through an FSRS scheduler (the maintained `fsrs` package, v6 API:
`Scheduler.review_card(card, rating, review_datetime)`). Each question asked is a card, and so is each
rubric axis. A question graded below Hire (or skipped) is rated Again, Hire Good and Strong Hire Easy;
an axis by the session's average score on it. So a question failed comes back the next day and one
passed comes back later, each time a little later as it keeps being passed; deleting a session log
takes it out of the schedule, and the queue never disagrees with the sessions it is built from.

`practice --review` and the app's "Due for review" start a session from what is due: the due questions
first (most overdue first), then, for a due axis no chosen question tests, the bank question that tests
that axis most (its profile).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from fsrs import Card, Rating, Scheduler

from interviewer.grading.rubric import DECISIONS, rubric

if TYPE_CHECKING:
    from interviewer.profiles import ProfileStore
    from interviewer.questions import Question
    from interviewer.session import SessionState

# Interview practice is paced in days, not minutes: no same-day learning steps (a new card goes
# straight to a day-scale interval), and no fuzz, so the queue is the same whenever it is rebuilt.
SCHEDULER = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
PASS = DECISIONS.index("Hire")  # the bar: below it, a question is weak
_QUESTION_RATING = {"Strong Hire": Rating.Easy, "Hire": Rating.Good}


def question_rating(decision: str | None) -> Rating:
    """Strong Hire Easy, Hire Good; below Hire, or skipped (None), Again."""
    return _QUESTION_RATING.get(decision or "", Rating.Again)


def axis_rating(score: float) -> Rating:
    """An axis average (1-5): below 3 Again (weak), below 4 Hard, below 4.5 Good, else Easy."""
    if score < 3:
        return Rating.Again
    if score < 4:
        return Rating.Hard
    return Rating.Good if score < 4.5 else Rating.Easy


@dataclass
class Item:
    """One card: a question or an axis, with what the last session said about it."""

    key: str  # "question:<id>" or "axis:<axis id>"
    kind: Literal["question", "axis"]
    label: str  # the question's text, or the axis's name
    card: Card
    question: Question | None = None
    last: str = ""  # the last decision, or the last average score
    history: list[str] = field(default_factory=list)

    @property
    def axis(self) -> str | None:
        return self.key.split(":", 1)[1] if self.kind == "axis" else None

    def due_at(self, now: datetime) -> bool:
        return self.card.due <= now


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def schedule(states: list[SessionState]) -> dict[str, Item]:
    """Every question and axis of the finished sessions, reviewed once per session, in time order.

    A session counts at its start time (the log's first event) once it has a debrief."""
    items: dict[str, Item] = {}

    def review(key: str, kind: Literal["question", "axis"], label: str, rating: Rating, at: datetime, last: str):
        item = items.get(key)
        if item is None:
            # card_id fixed: Card() would otherwise read the clock (and sleep a millisecond) for an id.
            item = items[key] = Item(key, kind, label, Card(card_id=len(items) + 1, due=at))
        item.card, _ = SCHEDULER.review_card(item.card, rating, review_datetime=at)
        item.last = last
        item.history.append(last)
        return item

    names = {a.name: a.id for a in rubric().axes}
    for state in sorted((s for s in states if s.debrief), key=lambda s: s.started_at):
        at = _at(state.started_at)
        for ex in state.exchanges:
            if ex.grade is None and not ex.skipped:
                continue  # not reached, or not graded: nothing was learned about it
            decision = ex.grade.decision if ex.grade is not None else None
            item = review(
                f"question:{ex.question.id}",
                "question",
                ex.question.text,
                question_rating(decision),
                at,
                decision or "skipped",
            )
            item.question = ex.question
        assert state.debrief is not None
        for name, score in state.debrief.get("per_axis", {}).items():
            if score is None or name not in names:
                continue  # no evidence either way; the debrief says so
            review(f"axis:{names[name]}", "axis", name, axis_rating(float(score)), at, f"{score}/5")
    return items


def due(items: dict[str, Item], now: datetime) -> list[Item]:
    """What is due at `now`, most overdue first (questions before axes on a tie)."""
    return sorted((i for i in items.values() if i.due_at(now)), key=lambda i: (i.card.due, i.kind != "question"))


def upcoming(items: dict[str, Item], now: datetime) -> Item | None:
    later = [i for i in items.values() if not i.due_at(now)]
    return min(later, key=lambda i: i.card.due) if later else None


def review_plan(due_items: list[Item], bank: list[Question], store: ProfileStore | None, limit: int) -> list[Question]:
    """Up to `limit` questions: the due questions, then one per due axis that no chosen question tests."""
    plan: list[Question] = []
    seen: set[str] = set()
    tested: set[str] = set()
    by_id = {q.id: q for q in bank}

    def tests_of(question: Question) -> list[str]:
        if store is None:
            return []
        found = store.find(question.id)
        if found is None:
            found = store.find(question.text)
        return list(store.profiles[found].tested_axes) if found is not None else []

    def add(question: Question) -> None:
        plan.append(question)
        seen.add(question.id)
        tested.update(tests_of(question))

    for item in due_items:
        if item.kind == "question" and item.question is not None and len(plan) < limit and item.question.id not in seen:
            add(by_id.get(item.question.id, item.question))
    for item in due_items:
        axis = item.axis
        if axis is None or axis in tested or len(plan) >= limit or store is None:
            continue
        candidates = [
            (p.axis_evidence.get(axis, 0.0), p.question_id)
            for p in store.profiles
            if p.question_id in by_id and p.question_id not in seen and p.tested_axes and p.tested_axes[0] == axis
        ]
        if candidates:
            add(by_id[max(candidates, key=lambda c: (c[0], c[1] or ""))[1]])  # type: ignore[index]
    return plan


def describe(item: Item, now: datetime) -> str:
    what = "question" if item.kind == "question" else "axis"
    overdue = now - item.card.due
    when = "due now" if overdue.days < 1 else f"due {overdue.days} day(s) ago"
    return f"{what}: {item.label} (last: {item.last}; {when})"


def nothing_due(items: dict[str, Item], now: datetime) -> str:
    if not items:
        return "Nothing to review yet: finish an interview first, and its weak questions and axes are scheduled."
    nxt = upcoming(items, now)
    when = f" The next review is on {nxt.card.due:%Y-%m-%d %H:%M} UTC ({nxt.label})." if nxt else ""
    return f"Nothing is due for review now.{when}"


# --- progress over sessions -------------------------------------------------------------------------


def axis_progress(states: list[SessionState]) -> list[dict[str, Any]]:
    """One row per finished session, oldest first: its id, start time and average score per axis name."""
    names = [a.name for a in rubric().axes]
    rows = []
    for s in sorted((s for s in states if s.debrief), key=lambda s: s.started_at):
        assert s.debrief is not None
        axes = s.debrief.get("per_axis", {})
        rows.append({"session": s.id, "started": _at(s.started_at), **{n: axes.get(n) for n in names}})
    return rows
