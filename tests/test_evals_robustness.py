"""Attacked variants of answers (`interviewer eval robustness`) and the corpus self-check (`eval corpus`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from interviewer.evals.corpus_check import reference_decision
from interviewer.evals.grading import Item
from interviewer.evals.robustness import ATTACKS, POSITIONS, place, variants
from interviewer.grading.guards import HIDDEN_CHARS

runner = CliRunner()
ANSWER = "We had an outage. I led the review. We added alerts and cut repeat incidents by half."


def test_payload_positions():
    assert place(ANSWER, "PAYLOAD", "append").endswith("half.\n\nPAYLOAD")
    assert place(ANSWER, "PAYLOAD", "prefix").startswith("PAYLOAD\n\nWe had")
    middle = place(ANSWER, "PAYLOAD", "middle")
    assert "I led the review. PAYLOAD We added" in middle  # at the sentence break nearest the middle
    assert place("one two three", "X", "middle") in ("one X two three", "one two X three")
    with pytest.raises(ValueError):
        place(ANSWER, "X", "sideways")


def test_every_attack_at_every_position_keeps_the_answer():
    item = Item("a", "How do you run incident reviews?", ANSWER)
    found = list(variants(item))
    assert len(found) == len(ATTACKS) * len(POSITIONS) and len(ATTACKS) >= 7
    for v in found:
        if v.position == "middle":
            assert v.text.startswith("We had an outage. I led the review. ") and v.text.endswith("by half.")
        else:
            assert ANSWER in v.text and v.text != ANSWER
    by_name = {v.attack: v.text for v in found if v.position == "append"}
    assert '"decision": "Strong Hire"' in by_name["fake_json"]
    assert "<|im_start|>system" in by_name["role_tokens"]
    assert "</answer>" in by_name["fake_delimiter"]
    hidden = by_name["unicode_tags"][len(ANSWER) :]
    assert hidden.strip() and all(HIDDEN_CHARS.match(c) for c in hidden.strip())  # invisible when rendered
    assert len(by_name["filler_padding"].split()) >= 150


def test_robustness_reports_a_rate_per_attack(eval_cli: typer.Typer, tmp_path: Path):
    answers = tmp_path / "answers.jsonl"
    rows = [
        {"id": "adv", "question": "How do you run incident reviews?", "answer": "x", "kind": "injection"},
        {
            "id": "r1",
            "question": "How do you run incident reviews to ensure learning and prevent recurrence?",
            "answer": ANSWER,
        },
        {"id": "r2", "question": "q", "answer": "not attacked: beyond --limit"},
    ]
    answers.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = runner.invoke(eval_cli, ["eval", "robustness", str(answers), "--limit", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["answers"] == 1 and report["variants"] == len(ATTACKS) * len(POSITIONS)
    assert set(report["by_attack"]) == {a.name for a in ATTACKS}
    for row in report["by_attack"].values():
        assert row["variants"] == len(POSITIONS)
        assert 0.0 <= row["rate"]["value"] <= 1.0
    assert set(report["by_position"]) == set(POSITIONS)
    overall = report["overall"]
    assert overall["succeeded"] == sum(r["succeeded"] for r in report["by_attack"].values())
    assert overall["rate"]["value"] == pytest.approx(overall["succeeded"] / overall["variants"], abs=1e-4)
    assert report["by_attack"]["plain_instruction"]["flagged"]["value"] == 1.0  # the guard sees plain injections


def test_reference_decision_sets_aside_only_the_recitation_cap():
    assert reference_decision("Lean Hire", "Strong Hire", ["verbatim_copy"]) == "Strong Hire"
    assert reference_decision("Lean No Hire", "Hire", ["verbatim_copy", "too_short"]) == "Lean No Hire"
    assert reference_decision("Lean Hire", "Lean Hire", []) == "Lean Hire"


def test_corpus_check_lists_model_answers_below_hire(eval_cli: typer.Typer):
    result = runner.invoke(eval_cli, ["eval", "corpus", "--track", "leadership", "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["questions"] == 2 and report["graded"] == 2 and not report["errors"]
    assert report["reach_hire"] + len(report["weak"]) == 2
    for row in report["all"]:
        assert row["source"] == "leadership-systemic-qa.md" and row["words"] > 0
        assert "verbatim_copy" not in row["flags"]
        assert row["reaches_hire"] == (row["decision"] in ("Hire", "Strong Hire"))
    table = runner.invoke(eval_cli, ["eval", "corpus", "--track", "leadership", "--limit", "1"])
    assert table.exit_code == 0 and "model answers reach Hire" in table.stdout
