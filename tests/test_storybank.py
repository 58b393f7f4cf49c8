"""The story bank: stories found in the candidate's documents, ranked for a question, asked for with /story;
and the debrief's checks across answers (one story told twice, a number that changed between answers).

Ranking and the cross-answer checks run the real MiniLM and the grader's fitted sentence classifiers:
what they judge is the behaviour under test. The engine is driven with the scripted grader.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from interviewer.corpus import question_bank
from interviewer.debrief import render
from interviewer.documents import parse_document
from interviewer.index import Index
from interviewer.interview import Interviewer, command_of
from interviewer.profiles import profile_question
from interviewer.session import SessionConfig, replay
from interviewer.session_log import SessionLog
from interviewer.settings import Settings
from interviewer.storybank import NO_DOCUMENTS, compare_answers, extract_stories, quantities, rank, story_hint
from tests.test_commands import ScriptedGrader

STORIES_MD = """# My STAR stories

## Cutting the data platform bill

**Situation**

Our Databricks bill grew from $6M to $9M a year in four quarters while usage was flat.

**Task**

I owned the platform budget and had to cut spend without breaking freshness SLOs.

**Actions**

I published showback per domain, retired 120 unused tables, and moved batch jobs to spot capacity.

**Results**

Spend fell 31% in two quarters and the SLOs held at 99.5%. Domains now own budgets with quarterly reviews.

## Turning around an underperforming engineer

A senior engineer on my team missed three sprint commitments in a row and code reviews were blocked for days.
I needed to either help him recover or move him out within a quarter. I met him weekly, set two measurable goals,
paired him with a staff engineer and wrote down the expectations. Within eight weeks he shipped the ingestion
rewrite on time, and review turnaround dropped from 4 days to 1. We now use the same written 30-day plan for
every performance concern.

## Notes on interviewing

Remember to speak slowly, breathe, and bring numbers.
"""
# A plain-text file: no headings, two stories as runs of paragraphs.
STORIES_TXT = """Last spring a schema change in the orders stream broke 40 downstream dashboards and finance closed the month a day late.

As incident commander I froze deploys, rolled back the producer within 35 minutes and ran the blameless postmortem. We added contract tests to every producer pipeline.

Since then we have had zero schema-break incidents in nine months.

In 2023 the marketing VP wanted real-time attribution for every campaign, which would have tripled our streaming cost.

I ran a one-page trade-off review with her team and proposed hourly attribution with a real-time view for the top five campaigns only. She agreed, we shipped in six weeks, and streaming cost stayed flat while campaign reporting latency fell from a day to an hour.
"""  # noqa: E501

UNDERPERFORMER = "How do you handle underperforming team members?"
COST = "Platform costs are exploding. What do you do?"


def write_documents(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "my-stories.md").write_text(STORIES_MD, encoding="utf-8")
    (directory / "more.txt").write_text(STORIES_TXT, encoding="utf-8")
    return sorted(directory.iterdir())


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory):
    paths = write_documents(tmp_path_factory.mktemp("docs"))
    return extract_stories([parse_document("user/" + p.name, p, p.read_bytes()) for p in paths])


def test_stories_are_the_sections_and_paragraph_runs_that_narrate(stories):
    # The labelled template is one story under its heading (its Situation paragraph does not split it);
    # the prose section is another; the notes are not a story; the text file holds two paragraph runs.
    assert [(s.file, s.name) for s in stories] == [
        ("more.txt", "Last spring a schema change in the orders stream broke…"),
        ("more.txt", "In 2023 the marketing VP wanted real-time attribution for every…"),
        ("my-stories.md", "Cutting the data platform bill"),
        ("my-stories.md", "Turning around an underperforming engineer"),
    ]
    cost = stories[2]
    assert cost.text.startswith("Situation: Our Databricks bill")
    # Its labels are taken as written; the prose story's parts are the classifiers' judgement.
    assert [e for e, present in cost.star.items() if present] == [
        "situation",
        "task",
        "action",
        "result",
        "permanent_change",
    ]
    assert "Notes on interviewing" not in " ".join(s.title for s in stories)


def test_the_story_that_fits_ranks_first_for_each_question(stories, corpus_index: Index):
    for question, expected in (
        (UNDERPERFORMER, "Turning around an underperforming engineer"),
        (COST, "Cutting the data platform bill"),
    ):
        ranked = rank(stories, profile_question(question, corpus_index))
        assert ranked[0].story.name == expected, [(r.story.name, r.score) for r in ranked]
        assert ranked[0].score > ranked[1].score


@pytest.fixture
def bank():
    questions, _ = question_bank(Settings())
    return questions


def test_story_command_answers_from_the_candidates_documents(tmp_path: Path, corpus_index: Index, bank):
    # The candidate's own home (their documents); the corpus index and its profiles are shared.
    settings = corpus_index.settings.model_copy(update={"home": tmp_path / "home"})
    grader = ScriptedGrader()
    underperformer = next(q for q in bank if q.text == UNDERPERFORMER)
    interviewer = Interviewer(
        bank, grader, SessionLog(tmp_path / "sessions"), story_hint=story_hint(settings, corpus_index)
    )
    assert command_of(" /STORY ") == "story"

    state = interviewer.start(SessionConfig(follow_ups=0), plan=[underperformer])
    state = interviewer.submit(state, "/story")
    assert state.transcript[-1].kind == "story" and state.transcript[-1].text == NO_DOCUMENTS

    write_documents(settings.documents_dir)
    state = interviewer.submit(state, "/story")
    hint = state.transcript[-1].text
    first = hint.splitlines()[1]
    assert first.startswith("1. “Turning around an underperforming engineer” (my-stories.md)"), hint
    # A hint is not an answer: nothing was graded, the question is still waiting for its answer.
    assert grader.calls == [] and state.awaiting_answer and state.exchanges[0].answers == []
    state = interviewer.submit(state, "/repeat")
    assert state.transcript[-1].text == state.transcript[0].text  # /repeat repeats the question, not the hint
    assert replay(state.id, interviewer.log.read(state.id)).model_dump() == state.model_dump()


# --- across answers ----------------------------------------------------------------------------------

COST_ANSWER = (
    "At my last company the Databricks bill went from $6M to $9M in a year while usage was flat. I owned the "
    "platform budget. I published showback per domain, retired 120 unused tables and moved batch jobs to spot "
    "capacity. We cut spend 31% in two quarters and the freshness SLOs held at 99.5%."
)
STAKEHOLDER_ANSWER = (  # the same cost programme seen from another question, with another number
    "During that Databricks cost programme the analytics team wanted to keep every real-time job. I showed their "
    "director the showback numbers per domain and we agreed to move most jobs to hourly. In the end spend fell "
    "45% and analytics kept real-time for two dashboards."
)
INCIDENT_ANSWER = (  # another project, with numbers of its own
    "Last spring a schema change in the orders stream broke 40 downstream dashboards and finance closed the month "
    "a day late. As incident commander I froze deploys and rolled back the producer within 35 minutes. We added "
    "contract tests to every producer and have had zero schema breaks in nine months."
)
RETOLD_ANSWER = (  # the cost story again, told for a change-management question, numbers consistent
    "The change I led was moving cost ownership to the domains. Our Databricks bill had grown from $6M to $9M a "
    "year with flat usage. I published showback per domain, we retired 120 unused tables and moved the batch jobs "
    "to spot capacity. Spend dropped 31% over two quarters, and domains now own their budgets with quarterly reviews."
)


def test_debrief_flags_a_story_told_twice_and_a_number_that_changed(tmp_path: Path, bank):
    interviewer = Interviewer(bank, ScriptedGrader(), SessionLog(tmp_path / "sessions"))
    state = interviewer.start(SessionConfig(track="leadership", questions=4, follow_ups=0, seed=2))
    for answer in (COST_ANSWER, STAKEHOLDER_ANSWER, INCIDENT_ANSWER, RETOLD_ANSWER):
        state = interviewer.submit(state, answer)
    assert state.ended and state.debrief is not None
    found = state.debrief["consistency"]
    assert [r["questions"] for r in found["story_reuse"]] == [[1, 4]]
    # 31% against 45% (Q1/Q2), and 45% against the retold 31% (Q2/Q4); Q1 and Q4 agree; the incident's
    # numbers are about another project and never compared.
    assert [(c["questions"], c["first"], c["second"]) for c in found["contradictions"]] == [
        ([1, 2], "We cut spend 31% in two quarters", "In the end spend fell 45%"),
        ([2, 4], "In the end spend fell 45%", "Spend dropped 31% over two quarters"),
    ]
    for c in found["contradictions"]:  # quotes are the candidate's words
        assert c["first"] in state.exchanges[c["questions"][0] - 1].combined_answer
        assert c["second"] in state.exchanges[c["questions"][1] - 1].combined_answer
    text = render(state.debrief)
    assert "Q1 and Q4 tell the same story" in text
    assert 'Q1 says "We cut spend 31% in two quarters" and Q2 says "In the end spend fell 45%"' in text


def test_a_changed_number_is_found_however_it_is_phrased():
    """Generated: many phrasings of the spend figure in the second answer, random values, a seed. It is a
    contradiction exactly when the value differs from the first answer's 31%."""
    rng = random.Random(11)
    templates = [
        "In the end spend fell {n}% and analytics kept real-time for two dashboards.",
        "In the end we cut spend by {n}% and analytics kept real-time for two dashboards.",
        "Spend dropped {n} percent in the end, and analytics kept real-time for two dashboards.",
        "In the end we reduced spend {n}% while analytics kept real-time for two dashboards.",
        "Overall the spend reduction was {n}% and analytics kept real-time for two dashboards.",
    ]
    base = STAKEHOLDER_ANSWER.rsplit(" In the end", 1)[0]
    for template in templates:
        for n in [31, *rng.sample(range(5, 95), 3)]:
            second = f"{base} {template.format(n=n)}"
            found = compare_answers([(1, COST_ANSWER), (2, second)])["contradictions"]
            assert bool(found) == (n != 31), (template, n, found)
            if found:
                assert f"{n}" in found[0]["second"] and "31%" in found[0]["first"]


def test_numbers_keep_their_units_and_what_they_measure():
    got = {(q.value, q.unit, q.direction) for q in quantities(1, COST_ANSWER)}
    assert got == {(6e6, "$", ""), (9e6, "$", ""), (120, "unused", ""), (31, "%", "down"), (99.5, "%", "")}
    # A year is not a quantity; a time span keeps its unit.
    assert [(q.value, q.unit) for q in quantities(1, "In 2023 we rolled back within 35 minutes.")] == [(35, "minute")]
