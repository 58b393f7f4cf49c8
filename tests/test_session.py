"""The session engine: planning, the pure state machine, and full offline interviews with the real grader."""

from __future__ import annotations

from pathlib import Path

import pytest

from interviewer.assemble import make_grader
from interviewer.corpus import question_bank
from interviewer.index import Index
from interviewer.interview import Interviewer, InterviewError
from interviewer.session import SessionConfig, plan_questions, replay
from interviewer.session_log import SessionLog
from interviewer.settings import Settings

STRONG = (
    "At my last company our data bill grew 40% quarter over quarter. I owned the platform budget. "
    "First I published showback per domain and per SLA tier, then we retired 120 unused tables and re-tiered "
    "18 real-time flows to hourly. Domains now own budgets with quarterly value reviews, so spend fell 28% in two "
    "quarters while freshness SLOs held at 99.5%. The permanent change was moving cost ownership to domains."
)
FOLLOW_UP_ANSWER = (
    "I set up the review with finance: every quarter each domain presents cost per outcome, and anything "
    "without reads for 90 days is deprecated automatically. Over 12 months we plan self-serve budgets."
)


@pytest.fixture(scope="module")
def bank():
    questions, _ = question_bank(Settings())
    return questions


@pytest.fixture
def interviewer(tmp_path: Path, corpus_index: Index, bank) -> Interviewer:
    return Interviewer(bank, make_grader(corpus_index, None), SessionLog(tmp_path / "sessions"))


def test_planning_is_seeded_level_matched_and_never_repeats(bank):
    config = SessionConfig(track="azure-databricks", level="Associate Director", questions=5, seed=7)
    first = plan_questions(bank, config)
    assert [q.id for q in first] == [q.id for q in plan_questions(bank, config)]
    assert len({q.text for q in first}) == 5 and all(q.track == "azure-databricks" for q in first)
    assert all("Associate Director" in q.levels for q in first)
    assert [q.id for q in plan_questions(bank, config.model_copy(update={"seed": 8}))] != [q.id for q in first]
    mixed = plan_questions(bank, SessionConfig(track="mixed", questions=5, seed=1))
    assert len({q.track for q in mixed}) >= 4  # mixed rotates across tracks


def test_full_interview_with_follow_ups_grades_and_debrief(interviewer: Interviewer):
    state = interviewer.start(SessionConfig(track="data-platform", questions=3, follow_ups=1, seed=3))
    assert state.transcript[0].text.startswith("Question 1 of 3:")
    for n in range(3):
        state = interviewer.submit(state, STRONG)
        follow_up = state.transcript[-1]
        assert follow_up.kind == "follow_up" and follow_up.target
        # The follow-up quotes something the candidate actually said.
        quoted = follow_up.text.split('"')[1]
        assert quoted and quoted in STRONG
        state = interviewer.submit(state, FOLLOW_UP_ANSWER)
        graded = state.exchanges[n]
        assert graded.grade is not None and graded.answers == [STRONG, FOLLOW_UP_ANSWER]
        assert graded.grade.answer == graded.combined_answer
    assert state.ended and not state.ended_early and state.debrief
    assert state.debrief["decision"] in ("Strong Hire", "Hire", "Lean Hire", "Lean No Hire", "No Hire")
    # The log replays to the same state.
    assert replay(state.id, interviewer.log.read(state.id)).model_dump() == state.model_dump()


def test_skip_repeat_clarify_and_end_early(interviewer: Interviewer):
    state = interviewer.start(SessionConfig(track="leadership", questions=3, follow_ups=0, seed=1))
    first_question = state.transcript[-1].text
    state = interviewer.submit(state, "/repeat")
    assert state.transcript[-1].kind == "repeat" and state.transcript[-1].text == first_question
    state = interviewer.submit(state, "/clarify")
    assert state.transcript[-1].kind == "clarify" and "what changed permanently" in state.transcript[-1].text
    state = interviewer.submit(state, "/skip")
    assert state.exchanges[0].skipped and state.transcript[-1].text.startswith("Question 2 of 3:")
    state = interviewer.submit(state, "/end")
    assert state.ended and state.ended_early
    assert state.debrief and state.debrief["per_question"][0]["decision"] == "skipped"
    assert state.debrief["per_question"][2]["decision"] == "not reached"
    with pytest.raises(InterviewError, match="has ended"):
        interviewer.submit(state, "more")


def test_bad_answers_get_a_message_and_log_nothing(interviewer: Interviewer):
    state = interviewer.start(SessionConfig(track="leadership", questions=1, follow_ups=0))
    before = interviewer.log.read(state.id)
    for bad, message in (("   \n ", "empty answer"), ("x" * 20_001, "limit is 20,000")):
        with pytest.raises(InterviewError, match=message):
            interviewer.submit(state, bad)
    assert interviewer.log.read(state.id) == before


def test_resume_after_the_process_is_gone_keeps_every_answer(tmp_path: Path, corpus_index: Index, bank):
    log_dir = tmp_path / "sessions"
    first = Interviewer(bank, make_grader(corpus_index, None), SessionLog(log_dir))
    state = first.start(SessionConfig(track="star-pillars", questions=2, follow_ups=1))
    state = first.submit(state, STRONG)
    del first  # the process that ran the interview is gone; only the log remains
    second = Interviewer(bank, make_grader(corpus_index, None), SessionLog(log_dir))
    resumed = second.resume(state.id)
    assert resumed.exchanges[0].answers == [STRONG] and resumed.awaiting_answer
    resumed = second.submit(resumed, FOLLOW_UP_ANSWER)
    assert resumed.exchanges[0].grade is not None


def test_torn_last_line_is_skipped(tmp_path: Path):
    log = SessionLog(tmp_path)
    log.append("20260101-000000-abcdef01", {"type": "started", "config": {}, "plan": []})
    with open(log.path("20260101-000000-abcdef01"), "a") as f:
        f.write('{"type": "answered", "text": "half')
    assert len(log.read("20260101-000000-abcdef01")) == 1
    with pytest.raises(KeyError):
        log.path("../../etc/passwd")
