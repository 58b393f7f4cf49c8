"""The panel and the drill, through the engine: who asks, who follows up, the write-ups, the block.

A scripted grader gives each question exactly one gap (an unevidenced axis the question tests, or a
missing STAR element), so whichever way the follow-up chooser orders gaps, the follow-up targets that
one; the tests check the exact events logged (who speaks, on what), the debrief's three write-ups in
the corpus's format and the panel's decision, and that the log replays to the live state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from interviewer.corpus import question_bank
from interviewer.debrief import render
from interviewer.grading.grade import AxisGrade, Evidence, Grade, Point, RedFlagFound, StarCheck
from interviewer.grading.rubric import rubric
from interviewer.interview import Interviewer, InterviewError
from interviewer.panel import panel
from interviewer.questions import FREE_TRACK, Question, find_question
from interviewer.session import SessionConfig, SessionState, replay
from interviewer.session_log import SessionLog
from interviewer.settings import Settings
from tests.scripted import scripted_grade

ANSWER = "I owned the platform budget and cut spend 28% in two quarters; I stayed up all night to patch it."
FOLLOW_UP = "The on-call rota and the runbook now page the domain owner; MTTR fell from 4 hours to 40 minutes."


@dataclass
class Script:
    """One question's grades: `gap` is missing from the first answer; `closed` says whether the
    follow-up answer fills it; `decision` is the final grade's; `flag` a red flag found in it."""

    gap: str  # "axis:<id>" or "star:<id>"
    decision: str
    closed: bool = True
    flag: str | None = None
    untested: tuple[str, ...] = ()  # axes this question does not test


@dataclass
class PanelGrader:
    scripts: dict[str, Script] = field(default_factory=dict)  # by question id
    calls: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, question: Question, answer: str, level: str) -> tuple[Grade, list[str]]:
        self.calls.append((question.id, answer))
        script = self.scripts[question.id]
        final = FOLLOW_UP in answer
        open_gap = not (final and script.closed)
        quote = "cut spend 28% in two quarters"
        axes = []
        for axis in rubric().axes:
            missing = open_gap and script.gap == f"axis:{axis.id}"
            axes.append(
                AxisGrade(
                    axis=axis.id,
                    name=axis.name,
                    score=None if missing else 4,
                    feedback=f"{axis.name} feedback",
                    evidence=[] if missing else [Evidence(quote=quote)],
                    tested=axis.id not in script.untested,
                    shown="" if missing else f'showed {axis.name.lower()}: "{quote}"',
                    missing=f"One {axis.name.lower()} decision with its outcome." if missing else "",
                )
            )
        star = [
            StarCheck(element=e.id, name=e.name, present=not (open_gap and script.gap == f"star:{e.id}"))
            for e in rubric().star
        ]
        flags = []
        if script.flag and final:
            name = next(f.name for f in rubric().red_flags if f.id == script.flag)
            flags = [RedFlagFound(flag=script.flag, name=name, evidence=[Evidence(quote="I stayed up all night")])]
        # The grade's own risks name its gaps, as the offline grader's do.
        risks = [
            Point(text=f"{a.name}, which this question tests: no evidence. The bar: {a.missing}")
            for a in axes
            if a.score is None
        ]
        decision = script.decision if final else "Lean No Hire"
        grade = scripted_grade(
            question.text,
            answer,
            decision,
            axes=axes,
            star=star,
            red_flags=flags,
            risks=risks,
            quotes=[quote],
            tested_axes=[a.id for a in rubric().axes if a.id not in script.untested],
            story_question=True,
        )
        return grade, []


@pytest.fixture(scope="module")
def bank() -> list[Question]:
    questions, _ = question_bank(Settings())
    return questions


@pytest.fixture
def grader() -> PanelGrader:
    return PanelGrader()


@pytest.fixture
def interviewer(tmp_path: Path, bank: list[Question], grader: PanelGrader) -> Interviewer:
    return Interviewer(bank, grader, SessionLog(tmp_path / "sessions"))


def asked(interviewer: Interviewer, state: SessionState) -> list[tuple[Any, ...]]:
    """Every `asked` event after the start: (index, kind, speaker, target)."""
    return [
        (e["index"], e["kind"], e.get("speaker"), e.get("target"))
        for e in interviewer.log.read(state.id)[1:]
        if e["type"] == "asked"
    ]


def test_a_panel_interview_three_interviewers_speak_and_each_writes_up(interviewer: Interviewer, grader: PanelGrader):
    state = interviewer.start(SessionConfig(track="leadership", questions=3, follow_ups=1, seed=0))
    plan = [e.question for e in state.exchanges]
    assert [e.asker for e in state.exchanges] == ["hiring_manager", "technical_peer", "bar_raiser"]
    grader.scripts = {
        plan[0].id: Script(gap="axis:reliability", decision="Hire"),  # owned by the technical peer
        plan[1].id: Script(gap="axis:ownership", decision="Lean No Hire", closed=False),  # the bar raiser's
        plan[2].id: Script(gap="star:result", decision="Hire"),  # not an axis: the asker follows up
    }
    for _ in range(3):
        state = interviewer.submit(state, ANSWER)
        state = interviewer.submit(state, FOLLOW_UP)
    assert asked(interviewer, state) == [
        (0, "question", "hiring_manager", None),
        (0, "follow_up", "technical_peer", "axis:reliability"),
        (1, "question", "technical_peer", None),
        (1, "follow_up", "bar_raiser", "axis:ownership"),
        (2, "question", "bar_raiser", None),
        (2, "follow_up", "bar_raiser", "star:result"),
    ]
    # Each follow-up opens in its speaker's voice (their lead-in from panel.yaml); the chooser's own
    # text is what the exchange keeps, so it can tell what it already asked.
    follow_ups = [t for t in state.transcript if t.kind == "follow_up"]
    for turn, ex in zip(follow_ups, state.exchanges, strict=True):
        person = panel().get(turn.speaker)
        assert person is not None
        opener = next(o for options in person.lead_ins.values() for o in options if turn.text.startswith(o))
        assert turn.text == f"{opener} {ex.follow_ups[0]}" and '"' not in opener
    assert state.ended and state.debrief is not None
    debrief = state.debrief

    ups = {u["interviewer"]: u for u in debrief["write_ups"]}
    assert set(ups) == {"hiring_manager", "technical_peer", "bar_raiser"}
    assert [ups[i]["asked"] for i in ("hiring_manager", "technical_peer", "bar_raiser")] == [[1], [2], [3]]
    assert [ups[i]["followed_up"] for i in ("hiring_manager", "technical_peer", "bar_raiser")] == [[], [1], [2]]
    # The hiring manager asked Q1 (Hire) and owns cost and evolution, evidenced everywhere.
    assert (ups["hiring_manager"]["decision"], ups["hiring_manager"]["confidence"]) == ("Hire", "Medium")
    # The technical peer asked Q2 (Lean No Hire) and heard Q1 (Hire) when following up on it:
    # judged on both (mean 2 -> Lean Hire); reliability, missing in Q1's first answer, was filled.
    assert (ups["technical_peer"]["decision"], ups["technical_peer"]["confidence"]) == ("Lean Hire", "High")
    assert ups["technical_peer"]["summary"].startswith("Asked Q2 (Lean No Hire) and followed up on Q1 (Hire).")
    assert not any(r.startswith("Reliability") for r in ups["technical_peer"]["risks"])
    # The bar raiser asked Q3 (Hire) but owns ownership, still unevidenced in Q2: held below the bar.
    bar = ups["bar_raiser"]
    assert bar["decision"] == "Lean No Hire" and "gap on Ownership" in bar["summary"]
    assert bar["scope_fit"] == "Senior EM (below bar on ownership)"
    assert "Ownership (no evidence in Q2): not yet shown: one ownership decision with its outcome" in bar["risks"]
    # The technical peer's question left ownership open: a risk in the peer's write-up too.
    assert (
        "Ownership (no evidence in Q2): not yet shown: one ownership decision with its outcome"
        in (ups["technical_peer"]["risks"])
    )
    assert all(u["recommendation"] and "{" not in u["recommendation"] for u in ups.values())
    # What each should work on: the bar raiser's own gap; for the peer, the gap of the question asked.
    assert "Senior EM on this evidence; ownership is below the bar" in bar["recommendation"]
    assert ups["technical_peer"]["recommendation"] == "Hire with a 60-day guardrail plan on ownership."
    # The panel decides on every question's grade (Hire, Lean No Hire, Hire: mean 2.33 -> Lean Hire).
    assert debrief["panel"]["blocked_by"] is None
    assert debrief["decision"] == debrief["panel"]["decision"] == "Lean Hire"
    assert [v["decision"] for v in debrief["panel"]["votes"]] == ["Hire", "Lean Hire", "Lean No Hire"]

    text = render(debrief)
    assert "## Panel" in text and "**Panel decision**: Lean Hire" in text
    for u in ups.values():  # each write-up in the corpus's feedback format, in its order
        section = text[text.index(f"### {u['name']}") :]
        labels = ["**Decision**", "**Scope Fit**", "**Summary**", "**Evidence**", "**Strengths**"]
        labels += ["**Risks/Concerns**", "**Recommendation**"]
        positions = [section.index(label) for label in labels]
        assert positions == sorted(positions)
    assert replay(state.id, interviewer.log.read(state.id)).model_dump() == state.model_dump()


def test_an_interviewer_whose_questions_were_never_answered_says_what_the_decision_reads(
    interviewer: Interviewer, grader: PanelGrader
):
    state = interviewer.start(SessionConfig(track="leadership", questions=3, follow_ups=1, seed=0))
    grader.scripts = {state.exchanges[0].question.id: Script(gap="axis:reliability", decision="Hire")}
    state = interviewer.submit(state, ANSWER)
    state = interviewer.submit(state, FOLLOW_UP)
    state = interviewer.submit(state, "/end")  # Q2 (technical peer) and Q3 (bar raiser) never reached
    assert state.debrief is not None
    ups = {u["interviewer"]: u for u in state.debrief["write_ups"]}
    assert ups["bar_raiser"]["confidence"] == "Low"
    assert "Nothing they asked was answered" in ups["bar_raiser"]["summary"]
    # The technical peer's Q2 was never reached, but they followed up on Q1 and heard its answer.
    for who in ("hiring_manager", "technical_peer"):
        assert ups[who]["confidence"] == "Medium"
        assert "Nothing they asked was answered" not in ups[who]["summary"]


def test_an_interviewer_who_only_followed_up_writes_up_what_they_heard(interviewer: Interviewer, grader: PanelGrader):
    # Two questions, three interviewers: the bar raiser asks none, but follows up on Q1's ownership gap.
    state = interviewer.start(SessionConfig(track="leadership", questions=2, follow_ups=1, seed=0))
    plan = [e.question for e in state.exchanges]
    grader.scripts = {
        plan[0].id: Script(gap="axis:ownership", decision="Hire"),
        plan[1].id: Script(gap="star:result", decision="Hire"),
    }
    for _ in range(2):
        state = interviewer.submit(state, ANSWER)
        state = interviewer.submit(state, FOLLOW_UP)
    assert state.debrief is not None
    bar = next(u for u in state.debrief["write_ups"] if u["interviewer"] == "bar_raiser")
    assert (bar["asked"], bar["followed_up"]) == ([], [1])
    assert bar["summary"].startswith("Asked no question of their own; followed up on Q1 (Hire).")
    assert "Nothing they asked was answered" not in bar["summary"]
    assert (bar["decision"], bar["confidence"]) == ("Hire", "Medium")
    assert "asked no question; followed up on Q1)" in render(state.debrief)


def test_an_axis_gap_is_a_risk_once_in_a_write_up(interviewer: Interviewer, grader: PanelGrader):
    # Q1 ends with reliability unevidenced (the follow-up does not fill it): the hiring manager, who
    # asked it and does not own reliability, lists that gap once, not once as the grade's risk and
    # once as an axis line.
    state = interviewer.start(SessionConfig(track="leadership", questions=1, follow_ups=1, seed=0))
    grader.scripts = {
        state.exchanges[0].question.id: Script(gap="axis:reliability", decision="Lean Hire", closed=False)
    }
    state = interviewer.submit(state, ANSWER)
    state = interviewer.submit(state, FOLLOW_UP)
    assert state.debrief is not None
    grade = state.exchanges[0].grade
    assert grade is not None and any(p.text.startswith("Reliability") for p in grade.risks)
    ups = {u["interviewer"]: u for u in state.debrief["write_ups"]}
    for who in ("hiring_manager", "technical_peer"):  # asked it; followed up on it and owns reliability
        assert sum("Reliability" in r for r in ups[who]["risks"]) == 1, (who, ups[who]["risks"])


def test_an_axis_gap_names_the_question_that_tests_it(interviewer: Interviewer, grader: PanelGrader):
    # Walkthrough: "Reliability (no evidence in Q2): not yet shown" when Q2 did not test reliability and
    # Q3, which did, had no evidence of it.
    state = interviewer.start(SessionConfig(track="leadership", questions=2, follow_ups=0, seed=0))
    first, second = (e.question.id for e in state.exchanges)
    grader.scripts = {
        first: Script(gap="axis:reliability", decision="Hire", closed=False, untested=("reliability",)),
        second: Script(gap="axis:reliability", decision="Lean No Hire", closed=False),
    }
    state = interviewer.submit(state, ANSWER + " " + FOLLOW_UP)
    state = interviewer.submit(state, ANSWER)
    assert state.debrief is not None
    peer = next(u for u in state.debrief["write_ups"] if u["interviewer"] == "technical_peer")
    lines = [r for r in peer["risks"] if r.startswith("Reliability")]
    assert lines == [lines[0]] and "in Q2)" in lines[0], peer["risks"]


def test_repeat_and_clarify_come_from_whoever_is_speaking(interviewer: Interviewer, grader: PanelGrader):
    state = interviewer.start(SessionConfig(track="leadership", questions=2, follow_ups=1, seed=1))
    assert state.exchanges[0].asker == "technical_peer"  # seed 1 starts one place into the rotation
    grader.scripts = {state.exchanges[0].question.id: Script(gap="axis:cost", decision="Hire")}
    state = interviewer.submit(state, ANSWER)
    follow_up = state.transcript[-1]
    assert (follow_up.speaker, follow_up.target) == ("hiring_manager", "axis:cost")
    state = interviewer.submit(state, "/clarify")
    assert state.transcript[-1].speaker == "technical_peer"  # the question's asker explains it
    state = interviewer.submit(state, "/repeat")
    assert state.transcript[-1].text == follow_up.text and state.transcript[-1].speaker == "hiring_manager"


@pytest.mark.parametrize("flag", ["hero_narrative", "vague_ownership"])
def test_the_bar_raiser_blocks_on_an_ownership_or_culture_red_flag(
    interviewer: Interviewer, grader: PanelGrader, bank: list[Question], flag: str
):
    question = next(q for q in bank if q.track == "leadership")
    grader.scripts = {question.id: Script(gap="star:result", decision="Hire", flag=flag)}
    state = interviewer.start(SessionConfig(question=question.id, follow_ups=1))
    state = interviewer.submit(state, ANSWER)
    state = interviewer.submit(state, FOLLOW_UP)
    debrief = state.debrief
    assert debrief is not None and state.exchanges[0].grade and state.exchanges[0].grade.decision == "Hire"
    block = debrief["panel"]["blocked_by"]
    assert block == {
        "interviewer": "bar_raiser",
        "flag": flag,
        "name": next(f.name for f in rubric().red_flags if f.id == flag),
        "question": 1,
        "quote": "I stayed up all night",
    }
    assert debrief["decision"] == "No Hire"  # the graded question was a Hire: the block decides
    ups = {u["interviewer"]: u for u in debrief["write_ups"]}
    assert (ups["bar_raiser"]["decision"], ups["bar_raiser"]["confidence"]) == ("No Hire", "High")
    assert ups["bar_raiser"]["risks"][0] == f'{block["name"]} (Q1): "I stayed up all night"'
    assert "systems-over-heroics" in ups["bar_raiser"]["recommendation"]
    assert ups["hiring_manager"]["decision"] == "Hire"  # the others still write up what they saw
    assert "blocked by the bar raiser" in render(debrief)


def test_a_red_flag_outside_ownership_and_culture_does_not_block(
    interviewer: Interviewer, grader: PanelGrader, bank: list[Question]
):
    question = next(q for q in bank if q.track == "leadership")
    grader.scripts = {question.id: Script(gap="star:result", decision="Hire", flag="tool_first")}
    state = interviewer.start(SessionConfig(question=question.id, follow_ups=1))
    state = interviewer.submit(state, ANSWER)
    state = interviewer.submit(state, FOLLOW_UP)
    assert state.debrief is not None
    assert state.debrief["panel"]["blocked_by"] is None and state.debrief["decision"] == "Hire"


# --- drill one question -------------------------------------------------------------------------


def test_drilling_a_bank_question_by_id_plans_exactly_it(interviewer: Interviewer, grader: PanelGrader, bank):
    question = next(q for q in bank if q.has_model_answer and q.track == "data-platform")
    grader.scripts = {question.id: Script(gap="axis:scale", decision="Hire")}
    state = interviewer.start(SessionConfig(question=question.id, questions=5, follow_ups=1))
    assert [e.question for e in state.exchanges] == [question]
    assert state.config.questions == 1 and state.config.question == question.id
    assert state.transcript[0].text.startswith("Question 1 of 1:") and state.transcript[0].speaker
    state = interviewer.submit(state, ANSWER)
    assert state.transcript[-1].kind == "follow_up" and state.transcript[-1].speaker == "technical_peer"
    state = interviewer.submit(state, FOLLOW_UP)
    assert state.ended and state.debrief and len(state.debrief["per_question"]) == 1
    assert grader.calls[-1] == (question.id, f"{ANSWER}\n\n{FOLLOW_UP}")
    assert replay(state.id, interviewer.log.read(state.id)).model_dump() == state.model_dump()


def test_drilling_your_own_question_asks_it_as_written(interviewer: Interviewer, grader: PanelGrader):
    own = "How did you   decide which of three acquisitions' data platforms to keep?"
    state = interviewer.start(SessionConfig(question=own, follow_ups=0))
    drilled = state.exchanges[0].question
    assert drilled.track == FREE_TRACK and drilled.text == own.replace("   ", " ")
    assert state.transcript[0].text == f"Question 1 of 1: {drilled.text}"
    grader.scripts = {drilled.id: Script(gap="axis:cost", decision="Lean Hire")}
    state = interviewer.submit(state, f"{ANSWER} {FOLLOW_UP}")  # no follow-ups: graded at once
    assert state.ended and state.exchanges[0].grade and state.exchanges[0].grade.question == drilled.text


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_drilling_nothing_is_refused(interviewer: Interviewer, blank: str):
    with pytest.raises(InterviewError, match="empty"):
        interviewer.start(SessionConfig(question=blank))
    assert interviewer.log.ids() == []


def _retyped(text: str, rng: random.Random) -> str:
    """The question as a candidate might type it back from memory: case, spacing, quotes, a dropped
    question mark, bold emphasis, a trailing full stop."""
    words = text.split()
    out = []
    for w in words:
        roll = rng.random()
        out.append(w.upper() if roll < 0.1 else w.lower() if roll < 0.4 else w)
    typed = ("  " if rng.random() < 0.5 else " ").join(out)
    typed = typed.replace("'", "\u2019") if rng.random() < 0.5 else typed
    if rng.random() < 0.5:
        typed = typed.rstrip("?") + ("." if rng.random() < 0.5 else "")
    if rng.random() < 0.3:
        typed = f"**{typed}**"
    return f"{' ' * rng.randint(0, 3)}{typed}{' ' * rng.randint(0, 3)}"


def test_a_retyped_bank_question_is_the_bank_question(bank: list[Question]):
    rng = random.Random(11)
    for question in rng.sample(bank, 60):
        typed = _retyped(question.text, rng)
        found = find_question(bank, typed)
        assert found is not None, typed
        assert found.text.casefold().rstrip("?. ") == question.text.casefold().rstrip("?. "), (typed, found.text)


def test_a_question_the_bank_does_not_have_is_not_matched(bank: list[Question]):
    rng = random.Random(5)
    subjects = ["a merger", "a reorg", "a vendor exit", "a hiring freeze", "a data-centre move", "an audit"]
    verbs = ["planned", "handled", "communicated", "staffed", "budgeted", "sequenced"]
    for _ in range(40):
        typed = (
            f"When you {rng.choice(verbs)} {rng.choice(subjects)} in {rng.randint(2001, 2025)}, "
            f"what did week {rng.randint(1, 52)} look like?"
        )
        assert find_question(bank, typed) is None, typed


# --- write-ups with an LLM -------------------------------------------------------------------------


class WriterModel:
    """A chat model that writes follow-ups plainly and write-ups with `write_up(person name)`."""

    id = "openai:scripted"

    def __init__(self, write_up) -> None:
        self.write_up = write_up
        self.prompts: list[str] = []

    def complete(self, messages: Any, *, max_tokens: int | None = None) -> str:
        system, user = messages[0][1], messages[1][1]
        if "writing your feedback" not in system:
            return "What did you change so the fix no longer depended on you?"
        self.prompts.append(user)
        name = next(p.name for p in panel().interviewers if f"You are {p.name}," in user)
        reply = self.write_up(name)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def stream(self, messages: Any, *, max_tokens: int | None = None):
        yield self.complete(messages, max_tokens=max_tokens)


def drill_with(tmp_path: Path, bank: list[Question], model: WriterModel, answer: str = ANSWER) -> SessionState:
    grader = PanelGrader()
    question = next(q for q in bank if q.track == "leadership")
    grader.scripts = {question.id: Script(gap="star:result", decision="Hire")}
    interviewer = Interviewer(bank, grader, SessionLog(tmp_path / "llm"), model)  # type: ignore[arg-type]
    state = interviewer.start(SessionConfig(question=question.id, follow_ups=1))
    state = interviewer.submit(state, answer)
    return interviewer.submit(state, FOLLOW_UP)


def test_with_an_llm_the_write_ups_prose_is_the_models_and_the_decisions_are_not(tmp_path: Path, bank):
    from interviewer.llm import LLMError

    def write_up(name: str):
        if name.startswith("Priya"):
            return '```json\n{"summary": "Clear cost ownership with numbers. Evolution plan is thin.", ' + (
                '"recommendation": "Hire for Senior EM; pair with Finance on forecasting."}\n```'
            )
        if name.startswith("Daniel"):
            return '{"summary": "Says Strong Hire material throughout.", "recommendation": "Strong Hire now."}'
        return LLMError("openai:scripted failed: connection refused")

    offline = drill_with(tmp_path / "offline", bank, None)  # type: ignore[arg-type]
    model = WriterModel(write_up)
    state = drill_with(tmp_path, bank, model)
    assert state.debrief is not None and offline.debrief is not None
    ups = {u["name"].split()[0]: u for u in state.debrief["write_ups"]}
    before = {u["name"].split()[0]: u for u in offline.debrief["write_ups"]}
    assert ups["Priya"]["summary"] == "Clear cost ownership with numbers. Evolution plan is thin."
    assert ups["Priya"]["engine"] == "openai:scripted" and ups["Priya"]["notes"] == []
    # A reply naming another decision, and a model that fails: the offline prose, with a note.
    for who, why in (("Daniel", "not the write-up asked for"), ("Maya", "connection refused")):
        assert ups[who]["summary"] == before[who]["summary"] and ups[who]["engine"] == "offline"
        assert len(ups[who]["notes"]) == 1 and why in ups[who]["notes"][0]
    for key in ("decision", "confidence", "scope_fit", "evidence", "risks"):  # never the model's
        assert [u[key] for u in ups.values()] == [u[key] for u in before.values()]
    assert state.debrief["panel"] == offline.debrief["panel"]
    assert "could not write this write-up" in render(state.debrief)
    # The candidate's words reach the prompt datamarked, between random delimiters.
    assert all("cut\u02c6spend\u02c628%" in p and "NOTES-" in p for p in model.prompts)


def test_an_unreachable_model_is_tried_once_for_the_write_ups(tmp_path: Path, bank):
    from interviewer.llm import LLMError

    model = WriterModel(lambda name: LLMError("openai:scripted failed: timed out"))
    state = drill_with(tmp_path, bank, model)
    assert state.debrief is not None and len(model.prompts) == 1  # not once per interviewer
    assert all("timed out" in u["notes"][0] and u["engine"] == "offline" for u in state.debrief["write_ups"])
