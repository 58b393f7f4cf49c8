"""Batch-eval figures on small inputs whose answers can be checked by hand, and the report built on them.

No model here: records are written the way results.jsonl holds them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interviewer.evals.grading import RESULTS_FILE, load_items
from interviewer.evals.metrics import check_gates, summarize
from interviewer.evals.report import compare_runs, render_html, render_markdown, write_report
from interviewer.grading.rubric import DECISIONS

NH, LNH, LH, H, SH = DECISIONS
RESAMPLES = 200  # fewer bootstrap resamples than reports use: the intervals are not what is tested here


def rec(
    item_id: str,
    label: str | None,
    decision: str,
    score: float,
    *,
    kind: str | None = None,
    question: str = "Q1",
    repeat: int = 1,
    answer: str = "an answer",
    axes: dict | None = None,
) -> dict:
    return {
        "id": item_id,
        "repeat": repeat,
        "label": label,
        "kind": kind,
        "question": question,
        "answer": answer,
        "error": None,
        "engine": "offline",
        "decision": decision,
        "score": score,
        "axes": axes or {"scale": 3, "reliability": None, "cost": 1, "ownership": 2, "evolution": None},
        "flags": [],
        "caps": [],
        "seconds": 0.1,
    }


def test_agreement_figures_match_hand_computation():
    records = [
        rec("a", NH, NH, 0.1, question="Q1"),
        rec("b", LNH, LNH, 0.2, question="Q2"),
        rec("c", LH, LH, 0.3, question="Q3"),
        rec("d", H, H, 0.5, question="Q4"),
        rec("e", SH, H, 0.4, question="Q5"),
    ]
    a = summarize(records, resamples=RESAMPLES)["agreement"]
    # Weighted disagreement: observed 1 (one cell one step off); expected 85/5 = 17, so kappa = 1 - 1/17.
    assert a["qwk"]["value"] == pytest.approx(16 / 17, abs=1e-4)
    assert a["exact"]["value"] == 0.8 and a["within_one"]["value"] == 1.0
    # Scores rank d and e the wrong way round: one swap, sum d^2 = 2, rho = 1 - 6*2/(5*24) = 0.9.
    assert a["spearman"]["value"] == pytest.approx(0.9)
    assert a["confusion"]["matrix"][4] == [0, 0, 0, 1, 0]
    lo, hi = a["exact"]["ci95"]
    assert 0.0 <= lo <= 0.8 <= hi <= 1.0
    again = summarize(records, resamples=RESAMPLES)["agreement"]
    assert again == a  # fixed bootstrap seed: the same intervals every time


def test_ranking_accuracy_counts_ties_as_half():
    records = [
        rec("a", NH, NH, 1.0, question="Same question?"),
        rec("b", LH, LH, 1.0, question="same  QUESTION?"),  # equal score to a: half credit
        rec("c", SH, SH, 3.0, question="Same question?"),
        rec("d", H, H, 2.0, question="Other"),
        rec("e", H, H, 1.0, question="Other"),  # same label: not a pair
        rec("f", NH, H, 3.0, question="Third"),
        rec("g", SH, H, 2.0, question="Third"),  # ordered against the labels: no credit
    ]
    ranking = summarize(records, resamples=RESAMPLES)["ranking"]
    assert ranking["pairs"] == 4 and ranking["questions"] == 2
    assert ranking["value"] == pytest.approx(2.5 / 4)


def test_single_class_file_reports_null_with_reasons_never_nan(tmp_path: Path):
    records = [rec(str(i), H, d, s) for i, (d, s) in enumerate([(H, 2.5), (H, 2.5), (LH, 2.0)])]
    m = summarize(records, resamples=RESAMPLES)
    assert m["agreement"]["qwk"]["value"] is None and "one class" in m["agreement"]["qwk"]["reason"]
    assert m["agreement"]["spearman"]["value"] is None
    assert m["ranking"]["value"] is None and m["ranking"]["reason"]
    assert m["adversarial"]["pass_rate"]["value"] is None
    assert m["stability"]["flip_rate"]["value"] is None
    assert m["agreement"]["exact"]["value"] == pytest.approx(2 / 3, abs=1e-4)
    write_report(tmp_path, {"run": _run(), "metrics": m}, records)
    text = (tmp_path / "summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text)


def test_unlabelled_file_gets_distributions_and_weakest_axes():
    records = [
        rec("a", None, H, 2.5, axes={"scale": 4, "reliability": 2, "cost": None, "ownership": 3, "evolution": 1}),
        rec("b", None, NH, 0.2, axes={"scale": 2, "reliability": 2, "cost": None, "ownership": None, "evolution": 1}),
    ]
    m = summarize(records, resamples=RESAMPLES)
    assert m["agreement"]["labelled"] == 0 and m["agreement"]["qwk"]["value"] is None
    assert m["distribution"]["decisions"] == {NH: 1, LNH: 0, LH: 0, H: 1, SH: 0}
    assert m["distribution"]["axes"]["scale"]["counts"]["4"] == 1
    assert [w["axis"] for w in m["distribution"]["weakest_axes"]][:2] == ["cost", "evolution"]
    assert m["distribution"]["axes"]["cost"]["mean_scored"]["value"] is None


def test_adversarial_pass_stability_and_errors():
    records = [
        rec("n1", H, H, 2.5, kind="normal", repeat=1),
        rec("n1", H, LH, 2.0, kind="normal", repeat=2),
        rec("i1", NH, H, 2.6, kind="injection", repeat=1),  # above Lean Hire: a pass
        rec("i1", NH, H, 2.6, kind="injection", repeat=2),
        rec("o1", NH, LH, 1.9, kind="off_topic", repeat=1),  # above its label, not above Lean Hire
        rec("o1", NH, LH, 1.9, kind="off_topic", repeat=2),
        {**rec("x", H, H, 0.0, repeat=1), "decision": None, "score": None, "error": "RuntimeError: boom"},
    ]
    m = summarize(records, repeats=2, resamples=RESAMPLES)
    adv = m["adversarial"]
    assert adv["pass_rate"]["value"] == 0.5 and adv["passed_ids"] == ["i1"]
    assert adv["above_label"]["value"] == 1.0
    assert m["stability"]["flip_rate"]["value"] == pytest.approx(1 / 3, abs=1e-4) and m["stability"]["flipped_ids"] == [
        "n1"
    ]
    assert m["stability"]["max_decision_range"] == 1
    assert m["errors"] == {"count": 1, "ids": ["x"]}
    assert m["per_kind"]["injection"]["adversarial"] and not m["per_kind"]["normal"]["adversarial"]
    assert list(m["per_kind"]) == ["normal", "injection", "off_topic"]
    summary = {"run": _run(repeat=2), "metrics": m}
    assert "Decision changed across repeats: n1." in render_markdown(summary, records)
    assert "Decision changed across repeats: n1" in render_html(summary, records)


def test_gates_name_the_gate_and_the_figure():
    m = summarize(
        [rec("a", NH, NH, 0.1), rec("b", SH, H, 2.0), rec("c", H, H, 2.5, kind="injection")], resamples=RESAMPLES
    )
    missed = check_gates(m, min_qwk=0.99, max_flip_rate=0.1, max_adversarial_pass=0.5)
    assert any(s.startswith("--min-qwk 0.99: quadratic weighted kappa is 0.") for s in missed)
    assert any(s.startswith("--max-flip-rate 0.1: decision flip rate is undefined") for s in missed)
    assert any(s == "--max-adversarial-pass 0.5: adversarial pass rate is 1.0000" for s in missed)
    assert check_gates(m, min_qwk=0.0) == []


def test_load_items_reports_bad_lines_and_skips_them(tmp_path: Path):
    f = tmp_path / "answers.jsonl"
    f.write_text(
        '{"id": "a", "question": "q", "answer": "x", "label": "strong  hire", "extra": 1}\n'
        "not json\n"
        '{"id": "b", "question": "q"}\n'
        '{"id": "c", "question": "q", "answer": "y", "label": "Maybe"}\n'
        "\n"
        '{"id": "a", "question": "q", "answer": "z"}\n'
        '["a list"]\n'
        '{"question": "q", "answer": "w", "kind": "off_topic"}\n'
    )
    items, problems = load_items(f)
    assert [(i.id, i.label, i.kind) for i in items] == [("a", SH, None), ("line8", None, "off_topic")]
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4", "line 6", "line 7"]
    assert "duplicate id 'a' (first on line 1)" in problems[3]


def _run(**extra) -> dict:
    run = {"input": "answers.jsonl", "out": "x", "engine": "offline", "repeat": 1, "written": "now"}
    run.update(bad_lines=[], graded_this_invocation=0, skipped_already_graded=0)
    run.update(extra)
    return run


def _write_run(path: Path, records: list[dict]) -> None:
    write_report(path, {"run": _run(), "metrics": summarize(records, resamples=RESAMPLES)}, records)
    with (path / RESULTS_FILE).open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def test_html_report_is_self_contained_and_escapes_answers(tmp_path: Path):
    attack = "<script>alert('x')</script> I led the migration."
    records = [rec("a", NH, LH, 2.0, answer=attack, kind="injection"), rec("b", SH, SH, 3.5), rec("c", H, H, 3.0)]
    summary = {"run": _run(bad_lines=["line 9: <b>bad</b>"]), "metrics": summarize(records, resamples=RESAMPLES)}
    page = render_html(summary, records)
    assert page.count("data:image/png;base64,") == 3  # confusion, decisions, axes
    assert "<script" not in page and "&lt;script&gt;" in page and "&lt;b&gt;bad" in page
    assert "http://" not in page and "https://" not in page and "<link" not in page
    markdown = render_markdown(summary, records)
    assert "<script" not in markdown and "&lt;script&gt;" in markdown


def test_compare_lists_changed_metrics_and_items(tmp_path: Path):
    before = [rec("a", NH, NH, 0.1), rec("b", H, H, 2.5), rec("c", SH, H, 2.9)]
    after = [rec("a", NH, NH, 0.1), rec("b", H, LH, 2.0), rec("c", SH, SH, 3.6)]
    _write_run(tmp_path / "A", before)
    _write_run(tmp_path / "B", after)
    result = compare_runs(tmp_path / "A", tmp_path / "B")
    assert [(i["id"], i["a"], i["b"], i["change"]) for i in result["items_changed"]] == [
        ("b", H, LH, -1),
        ("c", H, SH, 1),
    ]
    changed = {row["metric"] for row in result["metrics_changed"]}
    assert "distribution.decisions.Lean Hire" in changed and "agreement.exact.value" not in changed

    import typer

    from interviewer.evals.commands import register

    app = typer.Typer()
    sub = typer.Typer()
    app.add_typer(sub, name="eval")
    register(sub)
    out = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "A"), str(tmp_path / "B")])
    assert out.exit_code == 0, out.output
    assert "answers whose decision changed" in out.stdout and "Lean Hire" in out.stdout
    as_json = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "A"), str(tmp_path / "B"), "--json"])
    assert [i["id"] for i in json.loads(as_json.stdout)["items_changed"]] == ["b", "c"]


def test_registering_the_commands_imports_nothing_heavy():
    code = (
        "import sys, typer; from interviewer.evals.commands import register; register(typer.Typer());"
        "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'matplotlib', 'chromadb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
