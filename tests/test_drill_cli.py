"""`interviewer practice --question`: drill one bank question (by id or by text) or your own, from a pipe."""

from __future__ import annotations

import json
import subprocess

from interviewer.corpus import question_bank
from interviewer.index import Index
from interviewer.panel import panel
from tests.test_practice_cli import cli, env_for
from tests.test_session import FOLLOW_UP_ANSWER, STRONG


def practice(home, *args: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli(), "practice", *args],
        input=script,
        capture_output=True,
        text=True,
        env={**env_for(home), "COLUMNS": "400"},  # one printed line per turn
        timeout=300,
    )


def exported(home, stdout: str) -> dict:
    session_id = next(line.split()[1].rstrip(".") for line in stdout.splitlines() if line.startswith("Session "))
    out = subprocess.run(
        [*cli(), "sessions", "--export", session_id, "--format", "json"],
        capture_output=True,
        text=True,
        env=env_for(home),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_drill_a_bank_question_by_id_then_by_its_text(corpus_index: Index):
    home = corpus_index.settings.home
    bank, _ = question_bank(corpus_index.settings)
    question = next(q for q in bank if q.has_model_answer and q.track == "data-platform")
    for key in (question.id, question.text.lower().rstrip("?")):
        out = practice(home, "--question", key, "--follow-ups", "1", script=f"{STRONG}\n\n{FOLLOW_UP_ANSWER}\n\n")
        assert out.returncode == 0, out.stderr
        lines = [line for line in out.stdout.splitlines() if line.startswith("Interviewer:")]
        asker = panel().get("hiring_manager")
        assert asker is not None
        # The one question, asked by the first interviewer of the rotation, then one follow-up.
        assert lines[0] == f"Interviewer: {asker.name} ({asker.role}) — Question 1 of 1: {question.text}"
        assert len(lines) == 2 and "Question 2" not in out.stdout
        state = exported(home, out.stdout)
        assert [e["question"]["id"] for e in state["exchanges"]] == [question.id]
        assert state["exchanges"][0]["answers"] == [STRONG, FOLLOW_UP_ANSWER]
        assert state["debrief"]["per_question"][0]["question"] == question.text
        assert len(state["debrief"]["write_ups"]) == 3
        assert any(line.startswith("Decision: ") for line in out.stdout.splitlines())


def test_drill_your_own_question_and_the_retry_hint(corpus_index: Index):
    home = corpus_index.settings.home
    own = "How would you wind down a data platform nobody admits to owning?"
    out = practice(home, "--question", own, "--follow-ups", "0", script="We turned it off.\n\n")
    assert out.returncode == 0, out.stderr
    assert f"Question 1 of 1: {own}" in out.stdout
    state = exported(home, out.stdout)
    assert state["exchanges"][0]["question"]["track"] == "own"
    assert state["exchanges"][0]["grade"]["question"] == own
    # A four-word answer is below Hire: the debrief says how to drill the same question again.
    assert f"Retry Q1: interviewer practice --question '{own}'" in out.stdout


def test_drill_an_empty_question_is_refused(corpus_index: Index):
    out = practice(corpus_index.settings.home, "--question", "   ", script="")
    assert out.returncode == 1 and "the question to drill is empty" in out.stderr
