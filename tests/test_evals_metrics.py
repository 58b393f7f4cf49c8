"""Batch-eval figures on small inputs whose answers can be checked by hand, and the report built on them.

No model here: records are written the way results.jsonl holds them, and where a run is needed a
scripted fake grader (it records the level it was asked to grade at) stands in for the real one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interviewer.evals.grading import RESULTS_FILE, Outcome, RunError, load_items, run_grading
from interviewer.evals.metrics import check_gates, summarize
from interviewer.evals.report import compare_runs, finish_run, render_html, render_markdown, write_report
from interviewer.grading.grade import AxisGrade, Evidence, Grade, RedFlagFound, SentenceJudgement, StarCheck
from interviewer.grading.rubric import DECISIONS, rubric
from tests.scripted import scripted_grade

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
    labels: dict | None = None,
    tested_axes: list[str] | None = None,
    star: dict | None = None,
    red_flags: list[str] | None = None,
    flags: list[str] | None = None,
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
        "labels": labels or {"axes": None, "star": None, "red_flags": None, "tested_axes": None},
        "tested_axes": tested_axes or [],
        "star": star or {},
        "red_flags": red_flags or [],
        "flags": flags or [],
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


# --- v2 input, the level, and the layers under the decision -------------------------------------------


def test_v2_lines_are_read_and_bad_v2_labels_are_line_problems(tmp_path: Path):
    f = tmp_path / "v2.jsonl"
    good = {
        "id": "v2", "question": "q", "answer": "x", "label": "Hire", "level": "associate  director",
        "split": "heldout", "kind": "normal", "axes": {"scale": None, "cost": 4}, "star": {"result": True},
        "red_flags": ["tool_first"], "tested_axes": ["cost"], "why": "ignored", "sentences": [{"ignored": 1}],
    }  # fmt: skip
    bad = [
        {"level": "VP"},
        {"split": "dev"},
        {"axes": {"scale": 6}},
        {"axes": {"latency": 3}},
        {"axes": {"cost": True}},
        {"star": {"result": "yes"}},
        {"red_flags": ["rude"]},
        {"tested_axes": "cost"},
    ]
    lines = [json.dumps(good)] + [json.dumps({"question": "q", "answer": "x", **b}) for b in bad]
    lines.append(json.dumps({"id": "v1", "question": "q", "answer": "y", "label": "No Hire", "kind": "off_topic"}))
    f.write_text("\n".join(lines) + "\n")
    items, problems = load_items(f)
    assert [i.id for i in items] == ["v2", "v1"]
    v2, v1 = items
    assert (v2.level, v2.split, v2.label) == ("Associate Director", "heldout", "Hire")
    assert v2.labels.axes == {"scale": None, "cost": 4} and v2.labels.star == {"result": True}
    assert v2.labels.red_flags == ["tool_first"] and v2.labels.tested_axes == ["cost"]
    assert (v1.level, v1.split, v1.labels.axes, v1.labels.star) == (None, None, None, None)  # a v1 line
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in range(2, 10)]
    assert "level 'VP' is not one of EM, Senior EM, Director, Associate Director" in problems[0]
    assert (
        "split 'dev'" in problems[1] and "axis scale score 6" in problems[2] and "axis cost score True" in problems[4]
    )


def fake_grade(question: str, answer: str, level: str | None, decision: str = "Hire") -> Grade:
    """A Grade built by hand: scale 4 (tested), cost 2 (tested), the rest no evidence; STAR Situation
    and Action; a red flag; one judged sentence and its quote."""
    first = answer.split(".")[0]
    scores = {"scale": 4, "cost": 2}
    axes = [
        AxisGrade(
            axis=a.id, name=a.name, score=scores.get(a.id), feedback="", tested=a.id in scores,
            evidence=[Evidence(quote=first)] if a.id == "scale" else [],
        )
        for a in rubric().axes
    ]  # fmt: skip
    star = [StarCheck(element=e.id, name=e.name, present=e.id in ("situation", "action")) for e in rubric().star]
    return scripted_grade(
        question,
        answer,
        decision,
        score=3.2,
        axes=axes,
        star=star,
        red_flags=[RedFlagFound(flag="tool_first", name="Over-indexing on tools")],
        quotes=[first],
        level=level or "Senior EM",
        level_defaulted=level is None,
        tested_axes=list(scores),
        sentences=[SentenceJudgement(text=first, relevance=0.9, relevant=True, axes={"scale": 0.7}, star="situation")],
    )


class RecordingGrader:
    """Grades every answer the same way and records the (answer, level) it was asked to grade."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, question: str, answer: str, level: str | None = None) -> Outcome:
        self.calls.append((answer, level))
        return Outcome(fake_grade(question, answer, level))


def _lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


LABELS = {"axes": {"scale": 4, "cost": 3}, "star": {"situation": True, "action": False}, "red_flags": ["tool_first"]}


def test_the_level_of_each_line_reaches_the_grader_and_a_missing_one_is_counted(tmp_path: Path):
    rows = [
        {"id": "a", "question": "Q", "answer": "We sharded it. Then more.", "label": H, "level": "Director", **LABELS},
        {"id": "b", "question": "Q", "answer": "I paged the owner. Done.", "label": "Lean Hire"},  # v1: no level
        {"id": "c", "question": "Q", "answer": "Costs fell. Good.", "label": "No Hire", "level": "em"},
    ]  # fmt: skip
    file = _lines(tmp_path / "answers.jsonl", rows)
    grader = RecordingGrader()
    result = run_grading(file, tmp_path / "run", grader, "scripted")
    assert [level for _, level in grader.calls] == ["Director", None, "EM"]
    records = [json.loads(line) for line in (tmp_path / "run" / RESULTS_FILE).read_text().splitlines()]
    assert [(r["level"], r["level_defaulted"]) for r in records] == [
        ("Director", False), ("Senior EM", True), ("EM", False)
    ]  # fmt: skip
    a = records[0]
    # Every layer of the grade, and the labels beside it: enough to recompute the figures from results alone.
    assert a["axes"] == {"scale": 4, "reliability": None, "cost": 2, "ownership": None, "evolution": None}
    assert a["tested_axes"] == ["scale", "cost"]
    assert a["star"] == {"situation": True, "task": False, "action": True, "result": False, "permanent_change": False}
    assert a["red_flags"] == ["tool_first"] and a["quotes"] == ["We sharded it"]
    assert a["sentences"] == [
        {"text": "We sharded it", "relevance": 0.9, "relevant": True, "axes": {"scale": 0.7}, "star": "situation",
         "red_flag": None, "key_point": None}
    ]  # fmt: skip
    assert a["axis_evidence"]["scale"] == ["We sharded it"]
    assert a["labels"] == {**LABELS, "tested_axes": None} and records[1]["labels"]["axes"] is None
    summary = finish_run(result, file, "scripted", 1)
    assert summary["metrics"]["levels"] == {
        "default": "Senior EM", "defaulted": 1, "counts": {"Director": 1, "EM": 1, "Senior EM": 1}
    }  # fmt: skip
    note = "1 of 3 graded at the default level (Senior EM): their lines give no level."
    assert note in (tmp_path / "run" / "report.md").read_text()
    assert note in (tmp_path / "run" / "report.html").read_text()


def test_split_grades_only_that_split_and_the_baseline_is_fitted_on_train(tmp_path: Path):
    words = {NH: 3, LNH: 10, LH: 30, H: 90, SH: 270}
    rows = [
        {"id": f"{split}{n}", "question": f"Q{n % 2}", "answer": " ".join(["word"] * (words[label] + n % 2)),
         "label": label, "split": split, "level": "Senior EM"}
        for split in ("train", "heldout") for n, label in enumerate(DECISIONS)
    ]  # fmt: skip
    rows.append({"id": "nosplit", "question": "Q", "answer": "in no split", "label": H})
    file = _lines(tmp_path / "split.jsonl", rows)
    grader = RecordingGrader()
    result = run_grading(file, tmp_path / "held", grader, "scripted", split="heldout")
    assert [r["id"] for r in result.records] == [f"heldout{n}" for n in range(5)]
    assert len(grader.calls) == 5 and result.outside_split == 6
    assert sorted(result.train_lengths) == sorted((words[d] + n % 2, d) for n, d in enumerate(DECISIONS))
    summary = finish_run(result, file, "scripted", 1)
    base = summary["metrics"]["length_baseline"]
    assert base["method"].endswith("fitted on the file's train split (5 labelled answers)")
    # Length orders these answers exactly like their labels, so the baseline agrees perfectly.
    assert base["exact"]["value"] == 1.0 and base["qwk"]["value"] == 1.0 and base["ranking"]["value"] == 1.0
    assert summary["run"]["split"] == "heldout" and summary["run"]["outside_split"] == 6
    assert (
        "the heldout split only (6 lines of the file are outside it)" in (tmp_path / "held" / "report.md").read_text()
    )
    with pytest.raises(RunError, match="graded the heldout split, not the whole file"):
        run_grading(file, tmp_path / "held", grader, "scripted", resume=True)


def test_length_baseline_without_a_train_split_cuts_at_the_label_quantiles():
    records = [rec(d, d, NH, 0.1, answer=" ".join(["w"] * 2**k), question="Q") for k, d in enumerate(DECISIONS)]
    base = summarize(records, resamples=RESAMPLES)["length_baseline"]
    assert "quantiles" in base["method"] and "no train split" in base["method"]
    assert base["exact"]["value"] == 1.0 and base["ranking"]["value"] == 1.0
    backwards = [rec(d, d, NH, 0.1, answer=" ".join(["w"] * 2 ** (4 - k))) for k, d in enumerate(DECISIONS)]
    b = summarize(backwards, resamples=RESAMPLES, train_lengths=[(2**k, d) for k, d in enumerate(DECISIONS)])
    # Fitted on a train split where length rises with the label, applied to answers where it falls.
    assert b["length_baseline"]["qwk"]["value"] == -1.0 and b["length_baseline"]["ranking"]["value"] == 0.0


def _v2(axes: dict | None = None, star: dict | None = None, red_flags: list | None = None) -> dict:
    return {"axes": axes, "star": star, "red_flags": red_flags, "tested_axes": None}


def test_per_axis_kappa_and_null_agreement_match_hand_computation():
    pairs = [(1, 1), (3, 2), (5, 5), (None, None), (None, 3), (2, None)]  # (labelled, graded) scale
    records = [
        rec(str(n), H, H, 2.5, labels=_v2(axes={"scale": g}), axes={"scale": p, "cost": 3})
        for n, (g, p) in enumerate(pairs)
    ]
    records.append(rec("v1", H, H, 2.5))  # no axis labels: not counted
    axes = summarize(records, resamples=RESAMPLES)["layers"]["axes"]
    scale = axes["scale"]
    # Both scored: (1,1), (3,2), (5,5). Quadratic weights (i-j)^2/16; observed 1/16; expected over the
    # margins {1,3,5} x {1,2,5} at 1/3 each: (17 + 9 + 25)/48 = 51/48; kappa = 1 - (1/16)/(51/48) = 16/17.
    assert scale["weighted_kappa"]["value"] == pytest.approx(16 / 17, abs=1e-4) and scale["weighted_kappa"]["of"] == 3
    assert scale["null_agreement"]["value"] == pytest.approx(4 / 6, abs=1e-4) and scale["null_agreement"]["of"] == 6
    assert (scale["labelled_null_graded_none"], scale["labelled_null_graded_score"]) == (1, 1)
    assert scale["labelled_score_graded_none"] == 1
    assert scale["within_one"]["value"] == 1.0 and scale["exact"]["value"] == pytest.approx(2 / 3, abs=1e-4)
    assert axes["cost"]["labelled"] == 0 and axes["cost"]["weighted_kappa"]["value"] is None
    assert axes["cost"]["null_agreement"]["value"] is None


def test_star_accuracy_and_red_flags_count_normal_answers_only():
    star_rows = [(True, True), (True, False), (False, False), (False, True)]  # (labelled, graded) situation
    records = [
        rec(f"s{n}", H, H, 2.5, kind="normal", labels=_v2(star={"situation": g}), star={"situation": p})
        for n, (g, p) in enumerate(star_rows)
    ]
    records.append(
        rec("adv", NH, NH, 0.1, kind="injection", labels=_v2(star={"situation": True}, red_flags=["tool_first"]))
    )  # wrong on both, but adversarial: left out
    records += [
        rec("f1", H, H, 2.5, labels=_v2(red_flags=["tool_first"]), red_flags=["tool_first"]),
        rec("f2", H, H, 2.5, labels=_v2(red_flags=[]), red_flags=["tool_first"]),
        rec("f3", H, H, 2.5, labels=_v2(red_flags=["hero_narrative"]), red_flags=[]),
    ]
    layers = summarize(records, resamples=RESAMPLES)["layers"]
    situation = layers["star"]["elements"]["situation"]
    assert situation["accuracy"]["value"] == 0.5 and situation["accuracy"]["of"] == 4
    assert (situation["labelled_present"], situation["graded_present"]) == (2, 2)
    assert layers["star"]["elements"]["task"]["accuracy"]["value"] is None  # never labelled
    flags = layers["red_flags"]
    assert flags["answers"] == 3
    tool = flags["flags"]["tool_first"]
    assert tool["precision"]["value"] == 0.5 and tool["recall"]["value"] == 1.0
    hero = flags["flags"]["hero_narrative"]
    assert hero["recall"]["value"] == 0.0 and hero["precision"]["value"] is None  # never graded
    assert flags["pooled"]["precision"]["value"] == 0.5 and flags["pooled"]["recall"]["value"] == 0.5


def test_coherence_counts_grades_that_contradict_their_tested_axes():
    strong = {"scale": 4, "cost": 5}
    records = [
        rec("gap", H, H, 3.1, tested_axes=["scale", "cost"], axes={"scale": 4, "cost": None}),  # Hire with a gap
        rec("two", SH, SH, 4.1, tested_axes=["cost"], axes={"cost": 2}),  # Strong Hire at cost 2
        rec("ok_hire", H, H, 3.2, tested_axes=["scale", "cost"], axes={"scale": 3, "cost": 3}),
        rec("low", LNH, LNH, 1.5, tested_axes=["scale", "cost"], axes=strong),  # nothing explains it
        rec("flagged", LNH, LNH, 1.5, tested_axes=["scale", "cost"], axes=strong, red_flags=["hero_narrative"]),
        rec("guarded", NH, NH, 0.5, tested_axes=["scale", "cost"], axes=strong, flags=["too_short"]),
        rec("unguarded", NH, NH, 0.5, tested_axes=["scale", "cost"], axes=strong, flags=["far_from_reference"]),
        rec("lean_hire", LH, LH, 2.5, tested_axes=["scale", "cost"], axes={"scale": 1, "cost": 1}),
        rec("old", H, H, 3.0, axes={"scale": None}),  # no tested axes recorded: not checked
    ]
    c = summarize(records, resamples=RESAMPLES)["layers"]["coherence"]
    assert c["hire_with_gap"] == ["gap", "two"] and c["low_without_reason"] == ["low", "unguarded"]
    assert (c["violations"]["count"], c["violations"]["of"]) == (4, 8)
    assert c["violations"]["value"] == 0.5


def test_reports_carry_the_per_layer_tables_with_targets(tmp_path: Path):
    records = [
        rec("a", H, H, 3.2, labels=_v2(axes={"scale": 4}, star={"situation": True}, red_flags=[]),
            axes={"scale": 4}, star={"situation": True}, tested_axes=["scale"]),
        rec("b", NH, NH, 0.2, labels=_v2(axes={"scale": 1}, star={"situation": False}, red_flags=["tool_first"]),
            axes={"scale": 2}, star={"situation": False}, tested_axes=["scale"], red_flags=["tool_first"]),
        rec("c", LH, H, 3.0, labels=_v2(axes={"scale": 3}), axes={"scale": 3}, tested_axes=["scale"]),
    ]  # fmt: skip
    summary = {"run": _run(), "metrics": summarize(records, resamples=RESAMPLES)}
    write_report(tmp_path, summary, records)
    saved = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert set(saved["layers"]) == {"axes", "star", "red_flags", "coherence", "tested_axes"}
    assert saved["targets"]["axis_kappa"] == {"bound": 0.8, "direction": ">="}
    markdown = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    for text in (markdown, page):
        assert "Decision, beside the length-only baseline" in text and "length only" in text
        assert "Per axis" in text and "weighted kappa (both scored)" in text and "≥ 0.80" in text
        assert "STAR, per element (normal answers)" in text and "≥ 0.90" in text
        assert "Red flags (normal answers)" in text and "Coherence" in text and "≤ 0.02 met" in text
        assert "≥ 0.97" in text and "≥ 0.93" in text
    # The decision table row for kappa: the grader's figure, its target, then the baseline's.
    rows = [line for line in markdown.splitlines() if line.startswith("| quadratic weighted kappa |")]
    assert len(rows) == 2 and rows[1].count("|") == 5  # the headline's row, then the decision table's
    assert "≥ 0.90 met" in rows[1] or "≥ 0.90 missed" in rows[1]


def test_eval_grade_command_with_a_fake_grader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import typer

    from interviewer.evals import commands

    grader = RecordingGrader()
    monkeypatch.setattr(commands, "_grader", lambda engine, settings: (grader, None))
    app, sub = typer.Typer(), typer.Typer()
    app.add_typer(sub, name="eval")
    commands.register(sub)
    rows = [
        {"id": "t", "question": "Q", "answer": "Trained on. Yes.", "label": H, "split": "train", **LABELS},
        {"id": "h", "question": "Q", "answer": "Held out. Yes.", "label": H, "split": "heldout", **LABELS},
        {"id": "h2", "question": "Q", "answer": "Held out too. No.", "label": NH, "split": "heldout"},
    ]
    file = _lines(tmp_path / "f.jsonl", rows)
    out = CliRunner().invoke(app, ["eval", "grade", str(file), "--split", "heldout", "--out", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    assert [a for a, _ in grader.calls] == ["Held out. Yes.", "Held out too. No."]
    assert "2 of 2 graded at the default level (Senior EM)" in out.stdout
    assert "Per axis" in out.stdout and "STAR, per element" in out.stdout and "length only" in out.stdout
    bad = CliRunner().invoke(app, ["eval", "grade", str(file), "--split", "dev", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "not one of train, heldout" in bad.output
