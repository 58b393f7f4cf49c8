"""Spaced repetition over sessions (review.py): what is due follows what was failed, on a fake clock;
`practice --review` and `sessions` through the CLI.

Sessions are written by a real `Interviewer` over a real log with a scripted grader (a decision per
question, a score per axis); the log's clock is replaced so sessions happen days apart.
"""

from __future__ import annotations

import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from interviewer import session_log
from interviewer.corpus import question_bank
from interviewer.grading.grade import AxisGrade, Grade
from interviewer.grading.rubric import rubric
from interviewer.index import Index
from interviewer.interview import Interviewer
from interviewer.questions import Question
from interviewer.review import axis_progress, due, review_plan, schedule
from interviewer.session import SessionConfig, replay_all
from interviewer.session_log import SessionLog
from interviewer.settings import Settings
from tests.scripted import scripted_grade
from tests.test_practice_cli import cli, env_for

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Grader:
    """Grades each question with the decision scripted for it (Hire if none), every axis with the scripted score."""

    def __init__(self) -> None:
        self.decisions: dict[str, str] = {}
        self.axes: dict[str, int] = {}

    def __call__(self, question: Question, answer: str, level: str) -> tuple[Grade, list[str]]:
        decision = self.decisions.get(question.id, "Hire")
        names = {a.id: a.name for a in rubric().axes}
        axes = [AxisGrade(axis=a, name=names[a], score=s, feedback="") for a, s in self.axes.items()]
        grade = scripted_grade(question.text, answer, decision, axes=axes)
        return grade, []


@pytest.fixture(scope="module")
def bank() -> list[Question]:
    questions, _ = question_bank(Settings())
    return questions


def clock_at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """The session log stamps events at `when` (only the log's clock: everything else keeps real time)."""
    fake = SimpleNamespace(time=lambda: when.timestamp(), gmtime=time.gmtime, strftime=time.strftime)
    monkeypatch.setattr(session_log, "time", fake)


def run_session(interviewer: Interviewer, plan: list[Question]) -> None:
    state = interviewer.start(SessionConfig(follow_ups=0), plan=plan)
    for _ in plan:
        state = interviewer.submit(state, "I owned the platform budget and cut spend 28% in two quarters.")
    assert state.ended and state.debrief


def keys(items) -> list[str]:
    return [i.key for i in items]


def test_a_failed_question_is_due_when_a_passed_one_is_not_across_two_sessions(tmp_path, bank, monkeypatch):
    grader = Grader()
    interviewer = Interviewer(bank, grader, SessionLog(tmp_path / "sessions"))
    failed, passed = bank[0], bank[1]

    clock_at(monkeypatch, T0)  # session 1: one question failed, one passed; cost weak, ownership strong
    grader.decisions = {failed.id: "Lean No Hire", passed.id: "Hire"}
    grader.axes = {"cost": 2, "ownership": 4}
    run_session(interviewer, [failed, passed])

    later = T0 + timedelta(days=1, hours=1)
    items = schedule(replay_all(interviewer.log))
    assert keys(due(items, T0 + timedelta(hours=1))) == []  # nothing is due within the same day
    assert keys(due(items, later)) == [f"question:{failed.id}", "axis:cost"]
    assert items[f"question:{passed.id}"].card.due > later and items["axis:ownership"].card.due > later
    assert [q.id for q in review_plan(due(items, later), bank, None, 3)] == [failed.id]

    clock_at(monkeypatch, later)  # session 2, from what is due: now the failed question is passed
    grader.decisions = {failed.id: "Hire"}
    grader.axes = {"cost": 4}
    run_session(interviewer, review_plan(due(items, later), bank, None, 3))

    items = schedule(replay_all(interviewer.log))
    assert keys(due(items, later + timedelta(hours=1))) == []
    assert items[f"question:{failed.id}"].history == ["Lean No Hire", "Hire"]
    # What was passed in session 1 (and not asked since) comes back first; the question passed only now, later.
    two_days = T0 + timedelta(days=2, hours=1)
    assert keys(due(items, two_days)) == [f"question:{passed.id}", "axis:ownership"]
    assert items[f"question:{failed.id}"].card.due > two_days

    rows = axis_progress(replay_all(interviewer.log))
    assert [(r["started"], r["Cost"], r["Ownership"]) for r in rows] == [(T0, 2.0, 4.0), (later, 4.0, None)]


def test_practice_review_and_sessions_through_the_cli(tmp_path: Path, corpus_index: Index, bank, monkeypatch):
    from interviewer.profiles import profiles_for

    store = profiles_for(corpus_index)

    def tested(q: Question) -> list[str]:
        found = store.find(q.id)
        return store.profiles[found].tested_axes if found is not None else ["?"]

    # Two questions asked as written (ending in "?") that do not test cost, the axis that will be weak.
    failed, passed = [q for q in bank if q.text.endswith("?") and "cost" not in tested(q)][:2]
    home = tmp_path / "home"
    home.mkdir()
    (home / "index").symlink_to(corpus_index.settings.index_dir)  # the corpus index, read only; own sessions
    grader = Grader()
    interviewer = Interviewer(bank, grader, SessionLog(home / "sessions"))
    three_days_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    clock_at(monkeypatch, three_days_ago)
    grader.decisions = {failed.id: "No Hire", passed.id: "Strong Hire"}
    grader.axes = {"cost": 2, "ownership": 5}
    run_session(interviewer, [failed, passed])
    monkeypatch.undo()
    # What is due: the failed question, then for the weak axis the bank question that tests it most.
    plan = review_plan(due(schedule(replay_all(interviewer.log)), datetime.now(UTC)), bank, store, 2)
    assert plan[0].id == failed.id and tested(plan[1])[0] == "cost" and passed not in plan

    out = subprocess.run(
        [*cli(), "practice", "--review", "--questions", "2", "--follow-ups", "0"],
        input="/end\n",
        capture_output=True,
        text=True,
        env={**env_for(home), "COLUMNS": "250"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    at = lines.index("Due for review:")
    assert lines[at + 1 : at + 3] == [
        f"- question: {failed.text} (last: No Hire; due 2 day(s) ago)",
        "- axis: Cost (last: 2.0/5; due 2 day(s) ago)",
    ]
    assert f"Question 1 of 2: {failed.text}" in out.stdout and passed.text not in out.stdout
    assert "Question 2 of 2" not in out.stdout  # /end before answering ends the review session at question 1

    listed = subprocess.run(
        [*cli(), "sessions"], capture_output=True, text=True, env={**env_for(home), "COLUMNS": "250"}, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if f"{three_days_ago:%Y-%m-%d %H:%M}" in line]
    progress = [r for r in rows if "2.0" in r]
    assert len(progress) == 1
    cells = [c.strip() for c in re.split(r"[│|┃]", progress[0]) if c.strip()]
    names = [a.name for a in rubric().axes]
    assert dict(zip(names, cells[-len(names) :], strict=True)) == {
        "Scale": "–",
        "Reliability": "–",
        "Cost": "2.0",
        "Ownership": "5.0",
        "Evolution": "–",
    }
    assert f"- question: {failed.text}" in listed.stdout  # still due: the review session answered nothing


def test_practice_review_with_nothing_due_says_so(tmp_path: Path, corpus_index: Index):
    home = tmp_path / "home"
    home.mkdir()
    (home / "index").symlink_to(corpus_index.settings.index_dir)
    out = subprocess.run(
        [*cli(), "practice", "--review"], input="", capture_output=True, text=True, env=env_for(home), timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "Nothing to review yet" in out.stdout and "Question 1" not in out.stdout
    assert not (home / "sessions").exists() or not list((home / "sessions").iterdir())  # no session started
