"""What the candidate types never costs an answer: /skip, /end, /repeat, /clarify through the engine.

Every test drives a real `Interviewer` over a real session log with a scripted fake grader (it
records what it was asked to grade, and raises when told to), and checks the exact events logged,
the state, the debrief, and that the log replays to the live state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interviewer.corpus import question_bank
from interviewer.grading.grade import Grade, StarCheck
from interviewer.grading.rubric import rubric
from interviewer.interview import Interviewer, InterviewError, command_of
from interviewer.llm import LLMError
from interviewer.questions import Question
from interviewer.session import SessionConfig, SessionState, replay
from interviewer.session_log import SessionLog
from interviewer.settings import Settings
from tests.scripted import scripted_grade

ANSWER = "I owned the platform budget and cut spend 28% in two quarters."
FOLLOW_UP = "Finance and the domain owners agreed on a quarterly review of cost per outcome."
SECOND = "We moved the batch jobs to spot capacity and kept the SLOs at 99.5%."


class ScriptedGrader:
    """Grades every answer `decision`; a story question answered with only its Situation, so the
    offline follow-up chooser always finds a STAR gap to probe. Raises while `failing` is set."""

    def __init__(self, decision: str = "Hire") -> None:
        self.decision = decision
        self.calls: list[str] = []
        self.failing: Exception | None = None

    def __call__(self, question: Question, answer: str, level: str) -> tuple[Grade, list[str]]:
        self.calls.append(answer)
        if self.failing is not None:
            raise self.failing
        star = [StarCheck(element=e.id, name=e.name, present=n == 0) for n, e in enumerate(rubric().star)]
        grade = scripted_grade(question.text, answer, self.decision, score=2.5, star=star, story_question=True)
        return grade, []


class FailingModel:
    """A chat model that always fails, so the follow-up comes with a visible note before it."""

    id = "openai:down"

    def complete(self, messages: Any, *, max_tokens: int | None = None) -> str:
        raise LLMError("openai:down failed: connection refused")

    def stream(self, messages: Any, *, max_tokens: int | None = None):
        raise LLMError("openai:down failed: connection refused")


@pytest.fixture(scope="module")
def bank() -> list[Question]:
    questions, _ = question_bank(Settings())
    return questions


@pytest.fixture
def grader() -> ScriptedGrader:
    return ScriptedGrader()


@pytest.fixture
def interviewer(tmp_path: Path, bank: list[Question], grader: ScriptedGrader) -> Interviewer:
    return Interviewer(bank, grader, SessionLog(tmp_path / "sessions"))


def events(interviewer: Interviewer, state: SessionState) -> list[tuple[Any, ...]]:
    """The log after the start event, as (type, index, kind) with what is absent left out."""
    out = []
    for e in interviewer.log.read(state.id)[1:]:
        out.append(tuple(x for x in (e["type"], e.get("index", e.get("to")), e.get("kind")) if x is not None))
    return out


def assert_replays(interviewer: Interviewer, state: SessionState) -> None:
    assert replay(state.id, interviewer.log.read(state.id)).model_dump() == state.model_dump()


def start(interviewer: Interviewer, questions: int = 2, follow_ups: int = 1) -> SessionState:
    return interviewer.start(SessionConfig(track="leadership", questions=questions, follow_ups=follow_ups, seed=1))


# --- /skip ----------------------------------------------------------------------------------------


def test_skip_mid_follow_up_grades_what_was_said_and_moves_on(interviewer: Interviewer, grader: ScriptedGrader):
    state = start(interviewer, follow_ups=2)
    state = interviewer.submit(state, ANSWER)
    state = interviewer.submit(state, FOLLOW_UP)
    assert state.transcript[-1].kind == "follow_up"  # the second follow-up is pending
    state = interviewer.submit(state, "/skip")

    assert events(interviewer, state) == [
        ("asked", 0, "question"),
        ("answered", 0),
        ("asked", 0, "follow_up"),
        ("answered", 0),
        ("asked", 0, "follow_up"),
        ("skipped", 0),
        ("graded", 0),
        ("advanced", 1),
        ("asked", 1, "question"),
    ]
    first = state.exchanges[0]
    assert grader.calls[-1] == f"{ANSWER}\n\n{FOLLOW_UP}"  # both answers, as one
    assert first.grade is not None and first.grade.answer == f"{ANSWER}\n\n{FOLLOW_UP}"
    assert first.moved_on and not first.skipped and first.finished
    assert first.notes == ["You moved on with 1 follow-up unanswered; graded on the 2 answers given."]
    assert [t.kind for t in state.transcript if t.role == "candidate"] == ["answer", "answer", "move_on"]
    assert state.transcript[-1].text.startswith("Question 2 of 2:") and state.awaiting_answer
    assert_replays(interviewer, state)

    state = interviewer.submit(state, "/end")
    assert state.debrief is not None
    assert state.debrief["per_question"][0] == {
        "question": first.question.text,
        "decision": "Hire",
        "status": "moved_on",
    }
    assert state.debrief["per_question"][1]["decision"] == "not reached"
    assert state.debrief["decision"] == "Hire"  # not pulled to No Hire as a skip would be
    assert not any("Skipped" in r for r in state.debrief["risks"])
    assert state.debrief["summary"].startswith("1 of 2 questions answered and graded; 1 graded with follow-ups")
    assert_replays(interviewer, state)


def test_skip_with_nothing_answered_is_a_skip(interviewer: Interviewer, grader: ScriptedGrader):
    state = start(interviewer, questions=1)
    state = interviewer.submit(state, "/skip")
    assert events(interviewer, state) == [
        ("asked", 0, "question"),
        ("skipped", 0),
        ("advanced", 1),
        ("ended",),
        ("debrief",),
    ]
    assert grader.calls == []  # nothing to grade
    ex = state.exchanges[0]
    assert ex.skipped and not ex.moved_on and ex.grade is None
    assert state.debrief and state.debrief["decision"] == "No Hire"
    assert state.debrief["per_question"][0]["decision"] == "skipped"
    assert "Skipped 1 question(s); each counts as No Hire for that question" in state.debrief["risks"]
    assert_replays(interviewer, state)


def test_without_follow_ups_an_answer_is_graded_at_once_and_skip_is_for_the_next_question(
    interviewer: Interviewer, grader: ScriptedGrader
):
    """With no follow-ups an answer is graded at once, so the next /skip belongs to the next question."""
    state = start(interviewer, questions=2, follow_ups=0)
    state = interviewer.submit(state, ANSWER)
    assert state.exchanges[0].grade is not None and state.current == 1
    state = interviewer.submit(state, "/skip")
    assert state.exchanges[1].skipped and state.exchanges[0].grade.decision == "Hire"  # type: ignore[union-attr]
    assert_replays(interviewer, state)


# --- /end -----------------------------------------------------------------------------------------


def test_end_mid_follow_up_grades_the_exchange_then_debriefs(interviewer: Interviewer, grader: ScriptedGrader):
    state = start(interviewer)
    state = interviewer.submit(state, ANSWER)
    assert state.transcript[-1].kind == "follow_up"
    state = interviewer.submit(state, "/end")
    assert events(interviewer, state)[-3:] == [("ended",), ("graded", 0), ("debrief",)]
    assert grader.calls[-1] == ANSWER
    ex = state.exchanges[0]
    assert ex.grade is not None and ex.grade.answer == ANSWER
    assert ex.notes == ["The interview ended with 1 follow-up unanswered; graded on the 1 answer given."]
    assert state.ended and state.ended_early and state.debrief is not None
    assert [q["decision"] for q in state.debrief["per_question"]] == ["Hire", "not reached"]
    assert state.debrief["per_question"][0]["status"] == "ended"
    assert state.debrief["decision"] == "Hire"
    assert "1 of 2 questions answered and graded" in state.debrief["summary"]
    assert "ended early with 1 question(s) not reached" in state.debrief["summary"]
    assert_replays(interviewer, state)


def test_end_in_the_last_questions_follow_up_is_not_called_an_early_end(interviewer: Interviewer):
    state = start(interviewer, questions=1)
    state = interviewer.submit(state, ANSWER)
    assert state.transcript[-1].kind == "follow_up"
    state = interviewer.submit(state, "/end")
    assert state.debrief is not None and state.exchanges[0].grade is not None
    assert "1 of 1 questions answered and graded" in state.debrief["summary"]
    assert "ended early" not in state.debrief["summary"] and "not reached" not in state.debrief["summary"]


def test_end_before_answering_grades_nothing(interviewer: Interviewer, grader: ScriptedGrader):
    state = start(interviewer, questions=1)
    state = interviewer.submit(state, "/end")
    assert events(interviewer, state) == [("asked", 0, "question"), ("ended",), ("debrief",)]
    assert grader.calls == [] and state.debrief and state.debrief["per_question"][0]["decision"] == "not reached"


# --- /repeat and /clarify -------------------------------------------------------------------------


def test_repeat_after_clarify_repeats_the_question_then_the_follow_up(tmp_path: Path, bank, grader: ScriptedGrader):
    interviewer = Interviewer(bank, grader, SessionLog(tmp_path / "sessions"), FailingModel())
    state = start(interviewer)
    question = state.transcript[-1].text
    state = interviewer.submit(state, "/clarify")
    clarification = state.transcript[-1].text
    for _ in range(2):  # a repeat of a repeat is still the question, not a chain
        state = interviewer.submit(state, "/repeat")
        assert state.transcript[-1].kind == "repeat" and state.transcript[-1].text == question
    state = interviewer.submit(state, ANSWER)
    note, follow_up = state.transcript[-2], state.transcript[-1]
    assert note.kind == "note" and "openai:down" in note.text  # the LLM failed: a note, then the follow-up
    assert follow_up.kind == "follow_up"
    state = interviewer.submit(state, "/clarify")
    state = interviewer.submit(state, "/repeat")
    assert state.transcript[-1].text == follow_up.text != clarification  # neither the note nor the clarification
    assert state.exchanges[0].answers == [ANSWER] and state.awaiting_answer  # commands are not answers
    assert_replays(interviewer, state)


# --- what the candidate types ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("/skip", "skip"),
        ("  /SKIP \n", "skip"),
        ("\t/Skip\r\n", "skip"),
        ("\ufeff/skip", "skip"),  # a byte-order mark from a piped file
        ("/skip\u200b", "skip"),  # a zero-width space from a paste
        ("／ｓｋｉｐ", "skip"),  # full-width, from an input method
        ("/Repeat", "repeat"),
        ("/CLARIFY", "clarify"),
        ("/End", "end"),
        ("/quit", "end"),
        ("/exit", "end"),
        ("/skip please", None),
        ("skip", None),
        ("/skip.", None),
        ("/ skip", None),
        ("my answer\n/end", None),
        ("/endgame plan was ours", None),
        ("", None),
    ],
)
def test_what_counts_as_a_command(typed: str, command: str | None):
    assert command_of(typed) == command


def test_a_command_typed_loosely_acts_and_anything_else_is_an_answer(interviewer: Interviewer):
    state = start(interviewer)
    state = interviewer.submit(state, ANSWER)
    state = interviewer.submit(state, "/skip please, I do not know")  # an answer, to the follow-up
    assert state.exchanges[0].answers == [ANSWER, "/skip please, I do not know"]
    state = interviewer.submit(state, "  /Skip\n")  # a command: moves on from question 2, unanswered
    assert state.exchanges[1].skipped and state.ended
    assert_replays(interviewer, state)


# --- a grader that raises -------------------------------------------------------------------------


def test_a_grader_that_raises_leaves_a_note_and_the_answer_is_graded_at_the_end(
    interviewer: Interviewer, grader: ScriptedGrader
):
    state = start(interviewer, follow_ups=0)
    grader.failing = RuntimeError("index is locked: /secret/path")
    state = interviewer.submit(state, ANSWER)  # no exception: the turn ends with a note and question 2
    assert events(interviewer, state) == [
        ("asked", 0, "question"),
        ("answered", 0),
        ("grade_failed", 0),
        ("advanced", 1),
        ("asked", 1, "question"),
    ]
    note = state.transcript[-2]
    assert note.kind == "note" and "could not be graded (RuntimeError)" in note.text
    assert "/secret/path" not in str(interviewer.log.read(state.id))  # only the type is kept
    assert state.exchanges[0].answers == [ANSWER] and state.exchanges[0].grade_error == "RuntimeError"
    assert state.ungraded == [0] and state.awaiting_answer
    assert_replays(interviewer, state)

    grader.failing = None  # the fault passed: /end grades what was left
    state = interviewer.submit(state, "/end")
    assert events(interviewer, state)[-3:] == [("ended",), ("graded", 0), ("debrief",)]
    assert state.debrief and state.debrief["per_question"][0]["decision"] == "Hire"
    assert state.exchanges[0].grade_error is None and state.ungraded == []
    assert_replays(interviewer, state)


def test_a_grader_that_keeps_raising_is_listed_not_graded_and_graded_on_resume(
    tmp_path: Path, bank, grader: ScriptedGrader
):
    log = SessionLog(tmp_path / "sessions")
    interviewer = Interviewer(bank, grader, log)
    state = start(interviewer)
    state = interviewer.submit(state, ANSWER)  # interim grade fine: a follow-up is asked
    grader.failing = ValueError("bug")
    state = interviewer.submit(state, "/skip")  # moved on; grading raises; question 2 is asked anyway
    assert state.exchanges[0].moved_on and state.exchanges[0].grade is None
    assert state.transcript[-1].text.startswith("Question 2 of 2:")
    state = interviewer.submit(state, "/end")  # retried at the end, fails again: not graded, not lost
    assert state.debrief and state.debrief["per_question"][0]["decision"] == "not graded"
    assert state.debrief["decision"] == "No Hire"  # nothing graded: no evidence is not good evidence
    assert any("could not be graded" in r for r in state.debrief["risks"])
    assert_replays(interviewer, state)

    fixed = ScriptedGrader()
    resumed = Interviewer(bank, fixed, log).catch_up(replay(state.id, log.read(state.id)))
    assert fixed.calls == [ANSWER]
    assert resumed.debrief and resumed.debrief["per_question"][0]["decision"] == "Hire"
    assert resumed.debrief["decision"] == "Hire"
    assert [e["type"] for e in log.read(state.id)[-2:]] == ["graded", "debrief"]
    assert replay(state.id, log.read(state.id)).model_dump() == resumed.model_dump()
    logged = len(log.read(state.id))
    Interviewer(bank, fixed, log).catch_up(resumed)  # nothing left to do
    assert len(log.read(state.id)) == logged


# --- old logs and interrupted turns ---------------------------------------------------------------


def test_an_old_log_that_skipped_an_answer_replays_and_is_graded_on_resume(interviewer: Interviewer, grader):
    """Before this fix, /skip mid-follow-up logged `skipped` then `advanced` and no grade."""
    state = start(interviewer)
    state = interviewer.submit(state, ANSWER)
    log = interviewer.log
    log.append(state.id, {"type": "skipped", "index": 0})
    log.append(state.id, {"type": "advanced", "to": 1})
    log.append(state.id, {"type": "asked", "index": 1, "kind": "question", "text": "Question 2 of 2: old"})
    log.append(state.id, {"type": "asked", "index": 1, "kind": "clarify", "text": "old clarification"})
    log.append(state.id, {"type": "asked", "index": 1, "kind": "repeat", "text": "old clarification"})
    old = replay(state.id, log.read(state.id))
    assert old.exchanges[0].moved_on and old.exchanges[0].answers == [ANSWER] and old.ungraded == [0]
    assert old.transcript[-1].text == "old clarification"  # old events replay as they were written
    caught_up = interviewer.catch_up(old)
    assert caught_up.exchanges[0].grade is not None and caught_up.awaiting_answer and caught_up.current == 1
    assert interviewer.submit(caught_up, "/repeat").transcript[-1].text == "Question 2 of 2: old"


def test_a_crash_between_skip_and_grade_is_finished_on_resume(interviewer: Interviewer, grader: ScriptedGrader):
    state = start(interviewer)
    state = interviewer.submit(state, ANSWER)
    interviewer.log.append(state.id, {"type": "skipped", "index": 0})  # then the process died
    resumed = replay(state.id, interviewer.log.read(state.id))
    assert not resumed.awaiting_answer  # a new answer must not land in the exchange moved on from
    with_grade = interviewer.catch_up(resumed)
    assert [e[0] for e in events(interviewer, with_grade)[-4:]] == ["skipped", "graded", "advanced", "asked"]
    assert with_grade.exchanges[0].grade is not None and with_grade.transcript[-1].text.startswith("Question 2")


def test_a_crash_after_an_answer_gets_its_follow_up_on_resume(interviewer: Interviewer, grader: ScriptedGrader):
    state = start(interviewer)
    interviewer.log.append(state.id, {"type": "answered", "index": 0, "text": ANSWER})  # then the process died
    resumed = interviewer.catch_up(replay(state.id, interviewer.log.read(state.id)))
    assert resumed.transcript[-1].kind == "follow_up" and resumed.awaiting_answer


def test_a_crash_after_ended_gets_its_debrief_on_resume(interviewer: Interviewer, grader: ScriptedGrader):
    state = start(interviewer)
    state = interviewer.submit(state, ANSWER)
    interviewer.log.append(state.id, {"type": "ended", "early": True})  # then the process died
    resumed = interviewer.catch_up(replay(state.id, interviewer.log.read(state.id)))
    assert resumed.debrief and resumed.debrief["per_question"][0]["decision"] == "Hire"
    with pytest.raises(InterviewError, match="has ended"):
        interviewer.submit(resumed, ANSWER)
