"""The interview session as a pure state machine: events in, state out.

State is never mutated in place by the outside world: `apply(state, event)` folds one logged event
into a new state, and `replay(events)` rebuilds a session from its log. Everything impure (grading,
writing follow-ups, appending to disk) lives in `interview.py`, which decides which events happen.

Flow: started → asked(question) → answered → [asked(follow_up) → answered]* → graded → next
question … → ended → debrief. Candidates may skip, ask for a repeat or a clarification, or end early.

What a command means is decided here, from what the exchange already holds, so a log replays the
same whichever version wrote it: `skipped` with nothing answered is a skip; `skipped` after an
answer is moving on, and the answer is graded (logs written before this rule carry such events
without a grade: `ungraded` lists them and `Interviewer.catch_up` grades them). `ended` in the
middle of an exchange leaves it to be graded before the debrief. `grade_failed` records a grader
that raised: the answer stays in the log, ungraded, for the next catch-up.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, Field

from interviewer.grading.grade import Grade
from interviewer.questions import Question, find_question, free_question
from interviewer.session_log import SessionLog
from interviewer.text import normalize_for_match

LEVELS = ("EM", "Senior EM", "Director", "Associate Director")
MIXED = "mixed"

AskKind = Literal["question", "follow_up", "repeat", "clarify", "note", "story"]


class SessionConfig(BaseModel):
    track: str = MIXED
    level: str = "Senior EM"
    questions: int = Field(default=3, ge=1, le=10)
    follow_ups: int = Field(default=1, ge=0, le=3)
    seed: int = 0
    backend: str = "offline"
    # Drill: a bank question's id, or a question's text (matched to the bank, else asked as written).
    # When set, the plan is exactly that one question.
    question: str | None = None


class Turn(BaseModel):
    role: Literal["interviewer", "candidate"]
    kind: str  # question | follow_up | repeat | clarify | note | story | answer | skip | move_on
    text: str
    question: int  # index of the exchange it belongs to
    target: str | None = None  # for follow-ups: what gap it probes (axis, STAR element, key point…)
    speaker: str | None = None  # the panel interviewer's id (interviewer turns; None in logs before the panel)


class Exchange(BaseModel):
    """One planned question and everything that happened around it."""

    question: Question
    asker: str | None = None  # the panel interviewer who asks this question (see panel.py)
    answers: list[str] = Field(default_factory=list)
    follow_ups: list[str] = Field(default_factory=list)
    grade: Grade | None = None
    skipped: bool = False  # /skip with nothing answered: counts as No Hire for this question
    moved_on: bool = False  # /skip after answering: graded on what was said, not a skip
    grade_error: str | None = None  # the grader raised (its exception type); cleared by a grade
    notes: list[str] = Field(default_factory=list)  # e.g. "the LLM failed, graded offline"

    @property
    def combined_answer(self) -> str:
        return "\n\n".join(a for a in self.answers if a.strip())

    @property
    def finished(self) -> bool:
        return self.skipped or self.grade is not None

    @property
    def unanswered_follow_ups(self) -> int:
        """Follow-ups asked and not answered (the first answer is the question's)."""
        return max(0, len(self.follow_ups) - max(0, len(self.answers) - 1))


class SessionState(BaseModel):
    id: str
    config: SessionConfig
    started_at: float
    exchanges: list[Exchange]
    current: int = 0
    transcript: list[Turn] = Field(default_factory=list)
    ended: bool = False
    ended_early: bool = False
    debrief: dict[str, Any] | None = None

    @property
    def exchange(self) -> Exchange | None:
        return self.exchanges[self.current] if self.current < len(self.exchanges) else None

    @property
    def awaiting_answer(self) -> bool:
        ex = self.exchange
        return (
            not self.ended
            and ex is not None
            and not ex.finished
            and not ex.moved_on
            and len(ex.answers) <= len(ex.follow_ups)
        )

    @property
    def graded(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.grade is not None]

    @property
    def ungraded(self) -> list[int]:
        """Exchanges answered and left behind (moved on from, finished, or cut off by the end) that have
        no grade: the grader raised, the process died while grading, or an old log skipped them."""
        return [
            i
            for i, e in enumerate(self.exchanges)
            if e.answers and e.grade is None and not e.skipped and (i < self.current or self.ended)
        ]


def plan_questions(bank: list[Question], config: SessionConfig) -> list[Question]:
    """Seeded, level-matched, never-repeating questions; `mixed` rotates across tracks.

    A drill (`config.question`) plans exactly that question: the bank question with that id or
    text, or, when the bank has none, the candidate's own question as written."""
    if config.question is not None:
        found = find_question(bank, config.question)
        return [found if found is not None else free_question(config.question)]
    pool = [q for q in bank if config.track == MIXED or q.track == config.track]
    leveled = [q for q in pool if config.level in q.levels]
    if len(leveled) >= config.questions:
        pool = leveled
    rng = random.Random(config.seed)
    # Questions with a model answer first: their grades can cite what a strong answer covers.
    ordered = sorted(pool, key=lambda q: q.id)
    rng.shuffle(ordered)
    ordered.sort(key=lambda q: not q.has_model_answer)
    if config.track == MIXED:
        by_track: dict[str, list[Question]] = {}
        for q in ordered:
            by_track.setdefault(q.track, []).append(q)
        tracks = sorted(by_track)
        rng.shuffle(tracks)
        ordered = [q for group in _round_robin([by_track[t] for t in tracks]) for q in group]
    chosen: list[Question] = []
    seen: set[str] = set()
    for q in ordered:
        key = normalize_for_match(q.text)
        if key not in seen:
            seen.add(key)
            chosen.append(q)
        if len(chosen) == config.questions:
            break
    return chosen


def _round_robin(groups: list[list[Question]]) -> list[list[Question]]:
    out = []
    for i in range(max((len(g) for g in groups), default=0)):
        out.append([g[i] for g in groups if i < len(g)])
    return out


def new_state(session_id: str, event: dict[str, Any]) -> SessionState:
    config = SessionConfig.model_validate(event["config"])
    plan = [Question.model_validate(q) for q in event["plan"]]
    askers = event.get("askers") or [None] * len(plan)  # logs written before the panel have none
    return SessionState(
        id=session_id,
        config=config,
        started_at=event.get("at", 0.0),
        exchanges=[Exchange(question=q, asker=a) for q, a in zip(plan, askers, strict=True)],
    )


def apply(state: SessionState, event: dict[str, Any]) -> SessionState:
    """Fold one event into a new state (the input state is not modified)."""
    state = state.model_copy(deep=True)
    kind = event["type"]
    index = event.get("index", state.current)
    ex = state.exchanges[index] if 0 <= index < len(state.exchanges) else None
    if kind == "asked" and ex is not None:
        if event["kind"] == "follow_up":
            ex.follow_ups.append(event["text"])
        # The speaker's lead-in is part of what was said, not of the follow-up itself: `follow_ups`
        # keeps the chooser's text, which is what it compares against to never ask twice.
        said = f"{event['lead_in']} {event['text']}" if event.get("lead_in") else event["text"]
        state.transcript.append(
            Turn(
                role="interviewer",
                kind=event["kind"],
                text=said,
                question=index,
                target=event.get("target"),
                speaker=event.get("speaker"),
            )
        )
    elif kind == "answered" and ex is not None:
        ex.answers.append(event["text"])
        state.transcript.append(Turn(role="candidate", kind="answer", text=event["text"], question=index))
    elif kind == "graded" and ex is not None:
        ex.grade = Grade.model_validate(event["grade"])
        ex.grade_error = None
        ex.notes.extend(event.get("notes", []))
    elif kind == "grade_failed" and ex is not None:
        ex.grade_error = event.get("error", "error")
        state.transcript.append(
            Turn(
                role="interviewer",
                kind="note",
                text=f"Note: this answer could not be graded ({ex.grade_error}). It is saved, and it is graded "
                "when the interview ends or the session is resumed.",
                question=index,
            )
        )
    elif kind == "skipped" and ex is not None:
        if ex.answers:  # moving on after answering: what was said is graded, nothing is thrown away
            ex.moved_on = True
            if ex.unanswered_follow_ups:
                ex.notes.append(_partial_note("You moved on", ex))
            state.transcript.append(
                Turn(role="candidate", kind="move_on", text="(moved on to the next question)", question=index)
            )
        else:
            ex.skipped = True
            state.transcript.append(Turn(role="candidate", kind="skip", text="(skipped)", question=index))
    elif kind == "advanced":
        state.current = event["to"]
    elif kind == "ended":
        state.ended = True
        state.ended_early = event.get("early", False)
        current = state.exchange
        if current is not None and current.answers and not current.finished and current.unanswered_follow_ups:
            current.notes.append(_partial_note("The interview ended", current))
    elif kind == "debrief":
        state.debrief = event["debrief"]
    return state


def _partial_note(what: str, ex: Exchange) -> str:
    n = ex.unanswered_follow_ups
    return (
        f"{what} with {n} follow-up{'s' if n > 1 else ''} unanswered; graded on the "
        f"{len(ex.answers)} answer{'s' if len(ex.answers) > 1 else ''} given."
    )


def replay_all(log: SessionLog) -> list[SessionState]:
    """Every readable session in a log, newest first; a log without a start event is skipped."""
    states = []
    for session_id in log.ids():
        try:
            states.append(replay(session_id, log.read(session_id)))
        except (ValueError, KeyError):
            continue
    return states


def replay(session_id: str, events: list[dict[str, Any]]) -> SessionState:
    if not events or events[0].get("type") != "started":
        raise ValueError(f"session {session_id} has no start event")
    state = new_state(session_id, events[0])
    for event in events[1:]:
        state = apply(state, event)
    return state
