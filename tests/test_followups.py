"""Follow-ups that listen: chosen from the whole exchange, never asking for what is already there.

Engine tests drive a real `Interviewer` over a real session log with a scripted grader that reads cue
phrases (so what is "present" is known exactly), over many generated multi-turn exchanges. LLM wording
is tested against the loopback OpenAI stub; `eval followups` end to end on a small file.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

from interviewer.evals.followups import re_ask, summarise
from interviewer.evals.grading import Item, Labels
from interviewer.followups import AXIS_TARGETS, PLAIN_TARGETS, STAR_TARGETS, FollowUp, choose_offline, meaningful_phrase
from interviewer.grading.grade import (
    AxisGrade,
    Evidence,
    Grade,
    KeyPointCheck,
    RedFlagFound,
    Retrieved,
    SentenceJudgement,
    StarCheck,
)
from interviewer.grading.rubric import rubric
from interviewer.interview import Interviewer
from interviewer.llm import OpenAICompatibleModel
from interviewer.questions import Question
from interviewer.session import SessionConfig, SessionState, replay
from interviewer.session_log import SessionLog
from tests.openai_stub import OpenAIStub, Reply
from tests.scripted import scripted_grade

# What the scripted grader recognises: a sentence with one of these cues shows that element / axis.
STAR_CUES = {
    "situation": "the situation was",
    "task": "my job was",
    "action": "then we",
    "result": "as a result",
    "permanent_change": "since then",
}
AXIS_CUES = {
    "scale": "at peak",
    "reliability": "the SLO",
    "cost": "the spend",
    "ownership": "I owned",
    "evolution": "the roadmap",
}
KEY_POINTS = {"showback per domain": "kp1", "quarterly value reviews": "kp2"}
RED_FLAG_CUE = "we bought the tool"
MODEL_CHUNK = Retrieved(id="chunk-1", heading="model answer", kind="answer", source="doc.md", role="model_answer")
VOCABULARY = re.compile(
    rf"^(?:star:(?:{'|'.join(STAR_TARGETS)})|axis:(?:{'|'.join(AXIS_TARGETS)})|"
    rf"red_flag:[a-z_]+|{'|'.join(PLAIN_TARGETS)})$"
)


def sentences_of(answer: str) -> list[str]:
    return [s.strip() for s in re.findall(r"[^.!?\n]+[.!?]?", answer) if s.strip()]


class CueGrader:
    """A grade read off cue phrases of everything said: exact, hermetic, fast."""

    def __init__(self, tested: list[str], story: bool = True, flags: list[str] | None = None):
        self.tested = tested
        self.story = story
        self.flags = flags or []
        self.calls: list[str] = []

    def __call__(self, question: Question, answer: str, level: str) -> tuple[Grade, list[str]]:
        self.calls.append(answer)
        said = sentences_of(answer)
        low = answer.lower()
        judged = [
            SentenceJudgement(
                text=s,
                relevance=0.9,
                relevant=True,
                axes={a: 0.9 for a, cue in AXIS_CUES.items() if cue.lower() in s.lower()},
                star=next((e for e, cue in STAR_CUES.items() if cue in s.lower()), None),
                red_flag="tool_first" if RED_FLAG_CUE in s.lower() else None,
            )
            for s in said
        ]
        axes = [
            AxisGrade(
                axis=a.id,
                name=a.name,
                score=4 if AXIS_CUES[a.id].lower() in low else None,
                feedback="scripted",
                tested=a.id in self.tested,
            )
            for a in rubric().axes
        ]
        star = [StarCheck(element=e.id, name=e.name, present=STAR_CUES[e.id] in low) for e in rubric().star]
        flags = [next(s for s in said if RED_FLAG_CUE in s.lower())] if RED_FLAG_CUE in low else []
        red = [RedFlagFound(flag="tool_first", name="Tool-first", evidence=[Evidence(quote=q)]) for q in flags]
        points = [
            KeyPointCheck(
                text=text,
                chunk_id=MODEL_CHUNK.id,
                similarity=0.4,
                covered=text in low,
                quote=next((s for s in said if text in s.lower()), None),
            )
            for text in KEY_POINTS
        ]
        grade = scripted_grade(
            question.text,
            answer,
            "Lean Hire",
            axes=axes,
            star=star,
            red_flags=red,
            key_points=points,
            retrieved=[MODEL_CHUNK],
            flags=self.flags,  # type: ignore[arg-type]
            tested_axes=self.tested,
            story_question=self.story,
            sentences=judged,
        )
        return grade, []


def present_in(answer: str, target: str) -> bool:
    """Whether the combined answer already has what `target` asks for (the scripted grader's view)."""
    kind, _, what = target.partition(":")
    low = answer.lower()
    if kind == "star":
        return STAR_CUES[what] in low
    if kind == "axis":
        return AXIS_CUES[what].lower() in low
    if kind == "key_point":
        return all(p in low for p in KEY_POINTS)
    return False


def question(text: str = "Tell me about a time you cut platform spend.", probing: str | None = None) -> Question:
    return Question(
        id="q1", text=text, source="doc.md", section="S", track="leadership", levels=["Senior EM"],
        origin="heading", probing=probing,
    )  # fmt: skip


def interviewer_for(tmp_path: Path, grader: Any, q: Question, **kwargs: Any) -> Interviewer:
    return Interviewer([q], grader, SessionLog(tmp_path / "sessions"), **kwargs)


def follow_up_turns(state: SessionState, index: int = 0) -> list[Any]:
    return [t for t in state.transcript if t.kind == "follow_up" and t.question == index]


# --- generated answers ---------------------------------------------------------------------------

COMPANIES = ["a retailer", "a bank", "a streaming service", "an insurer", "a logistics firm", "a health-tech startup"]
UNITS = ["TB a day", "pipelines", "engineers", "tables", "dashboards", "jobs an hour"]


def every_follow_up(q: Question, grade: Grade) -> list[FollowUp]:
    """The follow-ups the offline chooser asks one after another for `grade`, until it has none left."""
    asked: list[FollowUp] = []
    while (chosen := choose_offline(q, grade, [f.gap.target for f in asked])) is not None:
        asked.append(chosen)
    return asked


def cue_sentence(rng: random.Random, cue: str) -> str:
    n = rng.randint(2, 900)
    templates = [
        f"At {rng.choice(COMPANIES)}, {cue} {n} {rng.choice(UNITS)} behind the quarter.",
        f"Honestly, {cue} about {n} {rng.choice(UNITS)}, and nobody had looked at them in months.",
        f"{cue[:1].upper() + cue[1:]} {n} {rng.choice(UNITS)} for {rng.choice(COMPANIES)}.",
        f"In the second quarter {cue} {n}% of the load; we tracked it weekly.",
    ]
    return rng.choice(templates)


def generated_answer(rng: random.Random) -> str:
    cues = list(STAR_CUES.values()) + list(AXIS_CUES.values()) + list(KEY_POINTS)
    chosen = rng.sample(cues, rng.randint(1, 5))
    return " ".join(cue_sentence(rng, c) for c in chosen)


@pytest.mark.parametrize("seed", range(12))
def test_a_follow_up_never_asks_for_what_the_whole_exchange_already_has(tmp_path: Path, seed: int):
    rng = random.Random(seed)
    tested = rng.sample(list(AXIS_CUES), rng.randint(1, 3))
    grader = CueGrader(tested, story=True)
    interviewer = interviewer_for(tmp_path, grader, question())
    state = interviewer.start(SessionConfig(questions=1, follow_ups=3, seed=seed))
    answers: list[str] = []
    while not state.ended:
        answers.append(generated_answer(rng))
        state = interviewer.submit(state, answers[-1])
        turns = follow_up_turns(state)
        if state.transcript[-1].kind != "follow_up":
            continue
        asked = turns[-1]
        combined = "\n\n".join(answers)
        assert asked.target and VOCABULARY.match(asked.target), asked.target
        # Nothing the candidate has said so far, in any answer, is asked for again.
        assert not present_in(combined, asked.target), (asked.target, answers)
        if asked.target.startswith("axis:") and len(answers) == 1:
            assert asked.target.partition(":")[2] in tested  # the axes the question tests come first
        # The quote is the candidate's own words, from one answer, and shown in the question.
        quote = re.search(r'"([^"]+)"', asked.text)
        assert quote is not None and any(quote.group(1) in a for a in answers)
    targets = [t.target for t in follow_up_turns(state)]
    assert len(targets) == len(set(targets)) == 3  # three follow-ups, three different targets
    assert state.exchanges[0].grade is not None and state.exchanges[0].grade.answer == "\n\n".join(answers)
    assert replay(state.id, interviewer.log.read(state.id)).model_dump() == state.model_dump()


def test_an_axis_given_in_a_follow_up_answer_is_not_asked_for_next(tmp_path: Path):
    grader = CueGrader(["cost", "ownership"], story=False)
    interviewer = interviewer_for(tmp_path, grader, question("How do you control platform spend?"))
    state = interviewer.start(SessionConfig(questions=1, follow_ups=2))
    state = interviewer.submit(state, "We reviewed every cluster with the finance team each month.")
    first = follow_up_turns(state)[-1]
    assert first.target == "axis:cost"  # tested, nothing on it: asked first
    state = interviewer.submit(state, "I owned the budget line, and the spend dropped by 18% in a quarter.")
    second = follow_up_turns(state)[-1]
    # Both tested axes are now evidenced: the next gap is the model answer's, not an axis.
    assert second.target == "key_point"
    assert "18%" in second.text or "I owned the budget line" in second.text or "spend dropped" in second.text


def test_off_topic_answer_is_redirected_by_naming_the_question(tmp_path: Path):
    q = question("What do you do when a leader underperforms?")
    grader = CueGrader(["ownership"], story=False, flags=["off_topic"])
    interviewer = interviewer_for(tmp_path, grader, q)
    state = interviewer.start(SessionConfig(questions=1, follow_ups=1))
    off = "Our cloud bill went from 6 to 9 million a year, so I moved the batch jobs to spot capacity."
    state = interviewer.submit(state, off)
    asked = follow_up_turns(state)[-1]
    assert asked.target == "off_topic"
    assert "What do you do when a leader underperforms" in asked.text  # the question's own topic, named
    quoted = re.search(r'"([^"]+)"', asked.text)
    assert quoted is not None and quoted.group(1) in off


def test_a_topic_entry_is_named_as_a_topic_and_a_non_answer_is_asked_to_engage(tmp_path: Path):
    grader = CueGrader(["ownership"], story=False, flags=["too_short"])
    interviewer = interviewer_for(tmp_path, grader, question("Underperformers"))
    state = interviewer.start(SessionConfig(questions=1, follow_ups=1))
    state = interviewer.submit(state, "I give them feedback fast.")
    asked = follow_up_turns(state)[-1]
    assert asked.target == "engagement" and "this question is about underperformers" in asked.text


def test_priority_red_flag_then_tested_axes_then_key_point_probing_then_star(tmp_path: Path):
    answer = (
        "The situation was a warehouse at 40 TB a day. Then we cut the nightly jobs by half. "
        "We bought the tool everyone was talking about, and the SLO held at 99.5%."
    )
    q = question(probing="Decision rights and escalation")
    grader = CueGrader(["cost", "ownership"], story=True)
    grade, _ = grader(q, answer, "Senior EM")
    follow_ups = every_follow_up(q, grade)
    targets = [f.gap.target for f in follow_ups]
    assert all(f.gap.quote in answer for f in follow_ups)
    assert targets[:7] == [
        "red_flag:tool_first",
        "axis:cost",
        "axis:ownership",
        "key_point",
        "probing",
        "star:task",
        "star:result",
    ]
    assert "axis:reliability" not in targets  # evidenced at 4 ("the SLO")
    assert "star:situation" not in targets and "star:action" not in targets
    # Not a story question: STAR elements are never asked for.
    story_free, _ = CueGrader(["cost", "ownership"], story=False)(q, answer, "Senior EM")
    asked = [f.gap.target for f in every_follow_up(q, story_free)]
    assert asked and not any(t.startswith("star:") for t in asked)


def test_a_thinly_evidenced_axis_waits_for_the_missed_key_point_and_one_at_level_1_does_not(tmp_path: Path):
    answer = "The situation was a warehouse at 40 TB a day. Then we cut the nightly jobs by half."
    q = question(probing="Decision rights and escalation")
    grade, _ = CueGrader(["cost", "ownership"], story=True)(q, answer, "Senior EM")
    at = {"cost": 2, "ownership": 1}  # cost evidenced thinly, ownership barely
    grade = grade.model_copy(
        update={"axes": [a.model_copy(update={"score": at.get(a.axis, a.score)}) for a in grade.axes]}
    )
    targets = [f.gap.target for f in every_follow_up(q, grade)]
    assert targets[:5] == ["axis:ownership", "key_point", "probing", "axis:cost", "star:task"]


@pytest.mark.parametrize("level", [None, 1, 2])
def test_an_axis_a_sentence_speaks_to_squarely_is_probed_last_whatever_its_level(tmp_path: Path, level: int | None):
    # "I owned the migration" is ownership said outright: asking "who owned it?" next is not listening,
    # even when the ladder puts the axis low. Ownership is asked only when nothing else is left.
    answer = "The situation was a warehouse at 40 TB a day. I owned the migration. Then we cut the jobs by half."
    q = question(probing="Decision rights and escalation")
    grade, _ = CueGrader(["ownership", "cost"], story=True)(q, answer, "Senior EM")
    at = {"ownership": level, "cost": 1}
    grade = grade.model_copy(
        update={"axes": [a.model_copy(update={"score": at.get(a.axis, a.score)}) for a in grade.axes]}
    )
    targets = [f.gap.target for f in every_follow_up(q, grade)]
    assert targets[0] == "axis:cost"
    assert targets[-1] == "axis:ownership"
    # The same answer without the ownership sentence is asked about ownership first, at levels 1 and none.
    bare = answer.replace(" I owned the migration.", "")
    grade, _ = CueGrader(["ownership", "cost"], story=True)(q, bare, "Senior EM")
    grade = grade.model_copy(
        update={"axes": [a.model_copy(update={"score": at.get(a.axis, a.score)}) for a in grade.axes]}
    )
    first = choose_offline(q, grade, [])
    assert first is not None
    assert first.gap.target == ("axis:ownership" if level in (None, 1) else "axis:cost")


def test_a_key_point_said_in_other_forms_is_not_asked_back_and_one_touched_is_probed_for_depth():
    # "quarterly value reviews" is said as "reviewed the value every quarter" (the same stems): never
    # asked. "showback per domain" is touched by "published a showback": asked, but for depth.
    answer = "Since then we reviewed the value every quarter with finance. Then we published a showback to leads."
    q = question()
    grade, _ = CueGrader([], story=False)(q, answer, "Senior EM")
    assert {p.text for p in grade.missed_points} == set(KEY_POINTS)  # the grader missed both
    follow_ups = every_follow_up(q, grade)
    targets = [f.gap.target for f in follow_ups]
    texts = [f.text for f in follow_ups]
    asked = [t for t, target in zip(texts, targets, strict=True) if target == "key_point"]
    assert len(asked) == 1 and "showback per domain" in asked[0], texts
    assert '"we published a showback to leads"' in asked[0] and "one level deeper" in asked[0]
    assert not any("quarterly value reviews" in t for t in texts)


def test_a_key_point_half_said_in_words_is_probed_for_depth_however_far_its_vector():
    # Seen in a terminal walkthrough: after "I owned his performance plan" the follow-up was "Where does
    # “Coaching plan” fit into that?". The sentence sits far from the point by cosine; it says half of
    # the point's own words, so the follow-up asks for depth on what was said instead.
    q = question("Underperformers")
    answer = "Last year one of my engineers kept missing reviews. I owned his performance plan with HR."
    grade, _ = CueGrader([], story=False)(q, answer, "Senior EM")
    far = KeyPointCheck(text="Coaching plan", chunk_id=MODEL_CHUNK.id, similarity=0.2, covered=False)
    grade = grade.model_copy(update={"key_points": [far]})
    chosen = choose_offline(q, grade, [])
    assert chosen is not None and chosen.gap.target == "key_point"
    assert "That touches on “Coaching plan”" in chosen.text and '"I owned his performance plan' in chosen.text
    # Nothing of the point said, far by cosine: asked where it fits.
    grade = grade.model_copy(update={"answer": answer.replace("performance plan", "review cadence")})
    grade = grade.model_copy(
        update={
            "sentences": [
                s.model_copy(update={"text": s.text.replace("performance plan", "review cadence")})
                for s in grade.sentences
            ]
        }
    )
    chosen = choose_offline(q, grade, [])
    assert chosen is not None and "Where does “Coaching plan” fit" in chosen.text, chosen.text


@pytest.mark.parametrize(
    "role",
    [
        "At a logistics company I was leading the integration of a new carrier feed.",
        "I was head of data platform when the feed broke.",
        "As his manager, I wrote down three goals with him.",
        "I was accountable for the programme, with a team of 22.",
        "I led the move off the old warehouse.",
    ],
)
def test_a_story_that_states_the_candidates_role_is_not_asked_for_it(tmp_path: Path, role: str):
    # The scripted grader does not see a task in these sentences (as the real one often does not, when
    # the role sits inside the scene-setting): the follow-up still does not ask "what was your role?".
    answer = f"The situation was a broken feed at 40 TB a day. {role} Then we cut the backlog by half."
    q = question()
    grade, _ = CueGrader([], story=True)(q, answer, "Senior EM")
    assert not next(c for c in grade.star if c.element == "task").present
    targets = [f.gap.target for f in every_follow_up(q, grade)]
    assert "star:task" not in targets and "star:result" in targets
    plain = answer.replace(role + " ", "")
    grade, _ = CueGrader([], story=True)(q, plain, "Senior EM")
    targets = [f.gap.target for f in every_follow_up(q, grade)]
    assert "star:task" in targets


@pytest.mark.parametrize(
    ("labelled", "element"),
    [
        ("Situation: the PTO team needed late schema changes while consumers needed stable contracts.", "situation"),
        ("**Task:** keep both teams shipping without a production break.", "task"),
        ("What changed permanently - every contract change now goes through a versioned review.", "permanent_change"),
    ],
)
def test_a_star_element_the_candidate_labels_is_not_asked_for(labelled: str, element: str):
    # Seen on the dev set's train split: "Set the scene for ..." after an answer that began "Situation:".
    answer = f"{labelled} Then we cut the backlog by half."
    q = question()
    grade, _ = CueGrader([], story=True)(q, answer, "Senior EM")
    assert not next(c for c in grade.star if c.element == element).present
    targets = [f.gap.target for f in every_follow_up(q, grade)]
    assert f"star:{element}" not in targets and "star:result" in targets
    # A labelled result is still asked for its numbers: a result is measured, a label does not make one.
    grade, _ = CueGrader([], story=True)(q, "Result: we reduced time-to-detect. Then we cut the backlog.", "Senior EM")
    targets = [f.gap.target for f in every_follow_up(q, grade)]
    assert "star:result" in targets


def test_a_stated_role_answers_who_owned_it_so_ownership_is_probed_last():
    # Seen in a terminal walkthrough: "Task: I was the incident commander ..." was followed by "Who owned
    # that outcome: who was accountable ...?".
    answer = "The situation was a broken feed. I was the incident commander for the platform. Then we cut it."
    q = question()
    grade, _ = CueGrader(["ownership", "cost"], story=True)(q, answer, "Senior EM")
    targets = [f.gap.target for f in every_follow_up(q, grade)]
    assert targets[0] == "axis:cost" and targets[-1] == "axis:ownership", targets
    grade, _ = CueGrader(["ownership", "cost"], story=True)(
        q, answer.replace("I was the incident commander", "We met"), "x"
    )
    first = choose_offline(q, grade, [])
    assert first is not None and first.gap.target == "axis:ownership"


@pytest.mark.parametrize(
    "lasting",
    [
        "We added schema contracts to every producer and there have been no silent drops since.",
        "Every producer is now checked in CI, and we now review contract breaks weekly.",
    ],
)
def test_a_story_that_says_what_lasts_is_not_asked_what_changed_permanently(lasting: str):
    # Seen in a terminal walkthrough: "What changed permanently ...?" right after "... no silent drops since".
    answer = f"The situation was a broken feed. My job was to fix it. Then we backfilled it. {lasting}"
    q = question()
    grade, _ = CueGrader([], story=True)(q, answer, "Senior EM")
    assert not next(c for c in grade.star if c.element == "permanent_change").present
    targets = [f.gap.target for f in every_follow_up(q, grade)]
    assert "star:permanent_change" not in targets and "star:result" in targets
    grade, _ = CueGrader([], story=True)(q, answer.replace(lasting, "We were relieved."), "Senior EM")
    targets = [f.gap.target for f in every_follow_up(q, grade)]
    assert "star:permanent_change" in targets


def test_a_long_key_point_is_asked_by_the_clause_the_candidate_has_not_said():
    # Seen in a terminal walkthrough: "I was the incident commander" was answered with "That touches on
    # “You ran incident command”", the first clause of a listed key point, when the rest was unsaid.
    answer = "I was the incident commander and owned the comms. Then we added contract checks at ingestion."
    point = (
        "You ran incident command, fell back to a bounded-staleness snapshot, quarantined bad events, "
        "and institutionalized contract gates + canary + freeze windows"
    )
    q = question()
    grade, _ = CueGrader([], story=False)(q, answer, "Senior EM")
    missed = KeyPointCheck(text=point, chunk_id=MODEL_CHUNK.id, similarity=0.45, covered=False)
    grade = grade.model_copy(update={"key_points": [missed]})
    follow_ups = every_follow_up(q, grade)
    targets = [f.gap.target for f in follow_ups]
    texts = [f.text for f in follow_ups]
    asked = texts[targets.index("key_point")]
    assert "“fell back to a bounded-staleness snapshot”" in asked, asked
    assert "incident command”" not in asked


def test_a_short_key_point_is_asked_whole_unless_one_of_its_clauses_was_said():
    from interviewer.followups import point_phrase
    from interviewer.glossary import content_stems

    point = "Make cost visible per pipeline/domain/SLA; rank by waste and business value"
    said = content_stems("We published showback per domain and SLA tier so teams saw their cost per query.")
    assert point_phrase(point, said) == "rank by waste and business value"
    assert point_phrase(point, content_stems("We moved batch jobs to spot instances.")) == point  # neither said
    assert point_phrase(point) == point


def test_a_story_templates_slot_is_never_asked_as_a_key_point():
    # "What broke" is the template's Situation slot: a story without a situation is asked to set the
    # scene (star:situation), not "Where does “What broke” fit into that".
    answer = "Then we rolled back the deploy and paged the owners. As a result the errors stopped."
    q = question()
    grade, _ = CueGrader([], story=True)(q, answer, "Senior EM")
    slot = KeyPointCheck(
        text="What broke", chunk_id=MODEL_CHUNK.id, similarity=0.9, covered=False, star_slot="situation"
    )
    grade = grade.model_copy(update={"key_points": [slot, *grade.key_points]})
    follow_ups = every_follow_up(q, grade)
    targets = [f.gap.target for f in follow_ups]
    texts = [f.text for f in follow_ups]
    assert "star:situation" in targets and not any("What broke" in t for t in texts), texts


# --- quotes --------------------------------------------------------------------------------------

NUMBER_UNIT = re.compile(r"\d[\d,.]*\s?(?:%|[a-z]+)")


@pytest.mark.parametrize("seed", range(5))
def test_quotes_are_whole_verbatim_clauses_keeping_numbers_with_their_units(seed: int):
    rng = random.Random(seed)
    openers = ["At my last company", "When I joined", "Two years ago", "In my first quarter there"]
    things = ["data bill", "pipeline backlog", "incident count", "on-call load", "warehouse spend"]
    units = ["million a month", "TB a day", "pages a week", "percent of sprint time", "engineers"]
    for _ in range(40):
        a, b = rng.randint(2, 40), rng.randint(41, 99)
        clause = f"our {rng.choice(things)} went from {a} to {b} {rng.choice(units)}"
        tail = rng.choice(["so I set up a review", "and nobody owned it", "which finance flagged first"])
        sentence = f"{rng.choice(openers)}, {clause}, {tail}."
        phrase = meaningful_phrase(sentence)
        assert phrase in sentence  # verbatim
        assert phrase == clause  # the clause holding the numbers, not the first 12 words
        assert NUMBER_UNIT.search(phrase) and not re.search(r"\d$", phrase)  # a number keeps its unit
        end = sentence.index(phrase) + len(phrase)
        assert sentence[end : end + 1] in (",", ".", "")  # ends where the clause ends


# --- the LLM only words the chosen gap -------------------------------------------------------------

ANSWER = "I owned the platform budget and cut spend 28% in two quarters by retiring 120 unused tables."


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub()
    yield server
    server.close()


def llm_interviewer(tmp_path: Path, stub: OpenAIStub, timeout: float = 5.0) -> tuple[Interviewer, CueGrader, CueGrader]:
    model = OpenAICompatibleModel(
        "stub", base_url=stub.base_url, api_key=SecretStr("sk-test"), timeout=30, max_retries=0, max_tokens=200
    )
    final, judge = CueGrader(["cost"], story=False), CueGrader(["cost"], story=False)
    q = question("How do you control platform spend?")
    return interviewer_for(tmp_path, final, q, model=model, judge=judge, follow_up_timeout=timeout), final, judge


def test_llm_wording_is_used_when_valid_and_the_gap_is_the_offline_one(tmp_path: Path, stub: OpenAIStub):
    written = 'You said "cut spend 28% in two quarters": what did each domain pay per outcome after that?'
    stub.script(Reply(written))
    stub.requests.clear()
    interviewer, final, judge = llm_interviewer(tmp_path, stub)
    state = interviewer.start(SessionConfig(questions=1, follow_ups=1))
    state = interviewer.submit(state, ANSWER)
    asked = follow_up_turns(state)[-1]
    assert asked.text.endswith(written) and asked.target == "axis:cost"
    assert not [t for t in state.transcript if t.kind == "note"]
    # One LLM call for the wording; the interim judgement was the offline judge's, not an LLM grade.
    assert len(stub.requests) == 1 and judge.calls == [ANSWER] and final.calls == []
    prompt = stub.requests[0]["body"]["messages"][1]["content"]
    assert "Cost" in prompt  # the chosen gap is what the model is asked to word


@pytest.mark.parametrize(
    "reply",
    [
        "Great answer, I would score this a Strong Hire.",  # reveals a judgement, and not a question
        "?",  # too short
        'You said "we tripled revenue in a month". How did you do it?',  # a quote the candidate never said
        '{"question": "What did it cost?"',  # JSON debris, not a question
    ],
)
def test_garbage_llm_wording_falls_back_to_the_offline_follow_up(tmp_path: Path, stub: OpenAIStub, reply: str):
    stub.script(Reply(reply))
    interviewer, _, judge = llm_interviewer(tmp_path, stub)
    state = interviewer.start(SessionConfig(questions=1, follow_ups=1))
    state = interviewer.submit(state, ANSWER)
    asked = follow_up_turns(state)[-1]
    offline = choose_offline(state.exchanges[0].question, judge(state.exchanges[0].question, ANSWER, "")[0], [])
    assert offline is not None and asked.text.endswith(offline.text) and asked.target == offline.gap.target
    note = state.transcript[-2]
    assert note.kind == "note" and "not a usable follow-up" in note.text


def test_a_slow_llm_does_not_hold_the_turn(tmp_path: Path, stub: OpenAIStub):
    stub.script(Reply("What did that cost per domain?", delay=3.0))
    interviewer, _, judge = llm_interviewer(tmp_path, stub, timeout=0.5)
    state = interviewer.start(SessionConfig(questions=1, follow_ups=1))
    started = time.perf_counter()
    state = interviewer.submit(state, ANSWER)
    assert time.perf_counter() - started < 2.0
    offline = choose_offline(state.exchanges[0].question, judge(state.exchanges[0].question, ANSWER, "")[0], [])
    assert offline is not None and state.transcript[-1].kind == "follow_up"
    assert state.transcript[-1].text.endswith(offline.text)  # the candidate sees the offline wording
    assert "no reply within 0.5s" in state.transcript[-2].text
    assert state.exchanges[0].answers == [ANSWER]  # the answer is in the log whatever the LLM does


# --- eval followups ------------------------------------------------------------------------------


def item(id_: str, answer: str, star: dict[str, bool] | None = None, axes: dict[str, int | None] | None = None) -> Item:
    return Item(id_, "q", answer, "Lean Hire", "normal", None, "train", Labels(axes=axes, star=star))


def test_summary_counts_re_asks_duplicates_and_quotes_from_the_labels():
    items = [
        item("a", "We cut spend 28%.", star={"result": True, "task": False}, axes={"cost": 4, "scale": 2}),
        item("b", "I owned it."),
    ]
    results = {
        "a": [
            {"text": "x", "target": "star:result", "quote": "cut spend 28%"},  # labelled present: a re-ask
            {"text": "y", "target": "axis:scale", "quote": "not in the answer"},  # scale 2: not a re-ask
            {"text": "z", "target": "axis:scale", "quote": "We cut"},  # the same target twice
        ],
        "b": [],
    }
    assert re_ask("axis:cost", items[0]) and not re_ask("star:task", items[0]) and not re_ask("key_point", items[0])
    summary = summarise(items, results, "train")
    assert summary["re_ask_rate"] == {"value": round(1 / 3, 4), "hits": 1, "of": 3}
    assert summary["verbatim_quote_rate"]["hits"] == 2
    assert summary["duplicate_targets"] == 1
    assert summary["below_strong_hire_with_follow_up"] == {"value": 0.5, "hits": 1, "of": 2}
    assert summary["target_mix"] == {"axis": 2, "star": 1} and summary["without_follow_up"] == ["b"]


def test_eval_followups_command_end_to_end(eval_cli: typer.Typer, tmp_path: Path):
    dev = {
        json.loads(line)["id"]: json.loads(line)
        for line in Path("evals/grader_dev.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    rows = [dev["g003"], dev["g024"]]
    rows.append({"id": "free", "question": "How do you pick which pipelines to retire first?", "answer": ANSWER})
    source = tmp_path / "small.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = CliRunner().invoke(eval_cli, ["eval", "followups", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["g003", "g024", "free"]
    answers = {r["id"]: r["answer"] for r in rows}
    for line in lines:
        assert set(line) == {"id", "follow_ups"} and 1 <= len(line["follow_ups"]) <= 2
        targets = [f["target"] for f in line["follow_ups"]]
        assert len(targets) == len(set(targets)) and all(VOCABULARY.match(t) for t in targets)
        for f in line["follow_ups"]:
            assert set(f) == {"text", "target", "quote"} and f["quote"] and f["quote"] in answers[line["id"]]
            assert f["quote"] in f["text"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["answers"] == 3 and summary["re_ask_rate"]["of"] == len(lines[0]["follow_ups"]) + len(
        lines[1]["follow_ups"]
    )  # only the labelled lines count towards the re-ask rate
    assert summary["verbatim_quote_rate"]["value"] == 1.0 and summary["duplicate_targets"] == 0
    assert "re-ask rate" in (out / "summary.md").read_text(encoding="utf-8")
    held = CliRunner().invoke(eval_cli, ["eval", "followups", str(source), "--out", str(out), "--split", "nope"])
    assert held.exit_code != 0
