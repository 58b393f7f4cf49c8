"""`interviewer eval grade` end to end: the real MiniLM model and the session's Chroma index of the corpus.

The commands open their index through `commands.open_index`; these tests hand them the session's
index so the grader's per-process caches (built once, keyed by index) are shared with the other tests.
A 10-answer subset of the dev set (v2 lines: a level and per-layer labels each) keeps the module to
seconds once the caches are warm; one v1 line without a level rides along.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

from interviewer.evals.grading import RESULTS_FILE, RunError, make_grader, read_results, run_grading
from interviewer.evals.report import finish_run
from interviewer.grading import warm_up
from interviewer.index import Index
from interviewer.llm import OpenAICompatibleModel
from tests.openai_stub import OpenAIStub, Reply

DEV = Path(__file__).resolve().parent.parent / "evals" / "grader_dev.jsonl"
SUBSET_IDS = ["g001", "g002", "g003", "g005", "g007", "g009", "g010", "g012", "g014", "g020"]
SCRIPT_ANSWER = "<script>alert('x')</script> We paged the owner, rolled back, and wrote a postmortem."
runner = CliRunner()


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def index(corpus_index: Index) -> Index:
    warm_up(corpus_index)
    return corpus_index


_ALL = {json.loads(line)["id"]: line for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()}
DEV_ROWS = {i: _ALL[i] for i in SUBSET_IDS}


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = list(DEV_ROWS.values())
    lines.insert(3, "{not json")
    lines.insert(6, json.dumps({"id": "bad-label", "question": "q", "answer": "a", "label": "Great"}))
    script = {"id": "xss", "question": "Walk me through your last P0.", "answer": SCRIPT_ANSWER, "label": "Hire"}
    lines.append(json.dumps(script))
    path = tmp_path_factory.mktemp("subset") / "subset.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_grade_command_writes_results_and_a_self_contained_report(
    eval_cli: typer.Typer, index: Index, subset: Path, tmp_path: Path
):
    out = tmp_path / "run"
    result = runner.invoke(eval_cli, ["eval", "grade", str(subset), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "skipped line 4: not valid JSON" in result.output
    assert "skipped line 7: label 'Great' is not one of" in result.output
    lines = (out / RESULTS_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [*SUBSET_IDS, "xss"]
    records = [json.loads(line) for line in lines]
    first = records[0]
    assert first["engine"] == "offline" and first["repeat"] == 1 and first["error"] is None
    assert set(first["axes"]) == {"scale", "reliability", "cost", "ownership", "evolution"}
    assert {"decision", "score", "flags", "label", "kind", "caps", "decision_steps"} <= set(first)
    dev = {i: json.loads(line) for i, line in DEV_ROWS.items()}
    for r in records:
        # Each answer was judged at its line's level; the line without one at the default, and said so.
        want = dev[r["id"]]["level"] if r["id"] in dev else "Senior EM"
        assert (r["level"], r["level_defaulted"]) == (want, r["id"] not in dev)
        # Every layer of the grade, grounded in the answer: the evidence is the candidate's own words.
        assert set(r["star"]) == {"situation", "task", "action", "result", "permanent_change"}
        assert set(r["tested_axes"]) <= set(r["axes"]) and r["tested_axes"]
        assert r["sentences"] and all(s["text"] in r["answer"] for s in r["sentences"])
        assert all(q in r["answer"] for q in r["quotes"])
        assert all(q in r["answer"] for quotes in r["axis_evidence"].values() for q in quotes)
        assert r["labels"]["axes"] == (dev[r["id"]]["axes"] if r["id"] in dev else None)
    summary_text = (out / "summary.json").read_text(encoding="utf-8")
    assert "NaN" not in summary_text
    summary = json.loads(summary_text)
    m = summary["metrics"]
    assert m["graded"] == 11 and len(summary["run"]["bad_lines"]) == 2
    assert m["agreement"]["qwk"]["value"] is not None
    assert m["levels"]["defaulted"] == 1
    assert all(v["labelled"] == 10 for v in m["layers"]["axes"].values())
    assert m["layers"]["star"]["answers"] == sum(dev[i]["kind"] == "normal" for i in SUBSET_IDS)
    assert m["layers"]["coherence"]["violations"]["of"] == 11
    assert m["length_baseline"]["method"].endswith("fitted on the file's train split (10 labelled answers)")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "Per axis" in page and "STAR, per element" in page
    assert "1 of 11 graded at the default level (Senior EM)" in result.output

    # Gates: everything is already graded, so this only re-reports and checks them.
    gated = runner.invoke(
        eval_cli,
        ["eval", "grade", str(subset), "--out", str(out), "--resume", "--min-qwk", "0.999", "--max-flip-rate", "0"],
    )
    assert gated.exit_code == 2, gated.output
    assert "gate missed: --min-qwk 0.999: quadratic weighted kappa is 0." in gated.output
    assert "--max-flip-rate 0.0: decision flip rate is undefined" in gated.output
    assert (
        runner.invoke(eval_cli, ["eval", "grade", str(subset), "--out", str(out)]).exit_code == 1
    )  # not without --resume

    # Resume after an interruption: the same figures as the uninterrupted run above.
    grader = make_grader("offline", index)
    resumed = tmp_path / "resumed"
    seen: list[str] = []

    def stop_after_four(record: dict) -> None:
        seen.append(record["id"])
        if len(seen) == 4:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_grading(subset, resumed, grader, "offline", on_record=stop_after_four)
    assert len((resumed / RESULTS_FILE).read_text().splitlines()) == 4  # each result was on disk at once
    with (resumed / RESULTS_FILE).open("a") as f:
        f.write('{"id": "g009", "repeat": 1, "decis')  # killed mid-write: a torn last line
    again = runner.invoke(eval_cli, ["eval", "grade", str(subset), "--out", str(resumed), "--resume"])
    assert again.exit_code == 0, again.output
    assert "resuming: 4 already graded" in again.output
    records, unreadable = read_results(resumed / RESULTS_FILE)
    assert len(records) == 11 and unreadable == 1
    resumed_summary = json.loads((resumed / "summary.json").read_text(encoding="utf-8"))
    assert resumed_summary["metrics"] == summary["metrics"]
    assert resumed_summary["run"]["skipped_already_graded"] == 4
    with pytest.raises(RunError, match="graded with offline"):
        run_grading(subset, resumed, grader, "openai:other", resume=True)


def test_repeats_give_a_flip_rate(index: Index, subset: Path, tmp_path: Path):
    three = tmp_path / "three.jsonl"
    three.write_text("\n".join(subset.read_text().splitlines()[:3]) + "\n")
    result = run_grading(three, tmp_path / "rep", make_grader("offline", index), "offline", repeat=2)
    assert [(r["id"], r["repeat"]) for r in result.records] == [(i, k) for i in SUBSET_IDS[:3] for k in (1, 2)]
    summary = finish_run(result, three, "offline", 2)
    stability = summary["metrics"]["stability"]
    assert stability["items"] == 3 and stability["flip_rate"]["value"] == 0.0  # the offline engine is deterministic
    assert stability["mean_score_std"]["value"] == 0.0


def test_llm_engine_fallbacks_are_counted_with_concurrency(index: Index, subset: Path, tmp_path: Path):
    stub = OpenAIStub()
    try:
        stub.script(Reply("I think this is a Strong Hire."))  # never valid JSON: retried, then offline
        model = OpenAICompatibleModel(
            "judge", base_url=stub.base_url, api_key=SecretStr("sk-x"), timeout=10, max_retries=0, max_tokens=300
        )
        three = tmp_path / "three.jsonl"
        three.write_text("\n".join(subset.read_text().splitlines()[:3]) + "\n")
        result = run_grading(
            three, tmp_path / "llm", make_grader("openai:judge", index, model), "openai:judge", concurrency=2
        )
    finally:
        stub.close()
    assert len(stub.requests) == 6  # two attempts per answer
    levels = {json.loads(DEV_ROWS[i])["level"] for i in SUBSET_IDS[:3]}
    prompts = [json.dumps(r["body"]) for r in stub.requests]
    # The line's level reached the LLM engine's prompt, and the offline fallback's grade.
    assert all(any(f"interviews at the {lv} level" in p for p in prompts) for lv in levels)
    assert [r["level"] for r in result.records] == [json.loads(DEV_ROWS[i])["level"] for i in SUBSET_IDS[:3]]
    assert all(r["fell_back"] and r["invalid_replies"] == 2 and r["engine"] == "offline" for r in result.records)
    summary = finish_run(result, three, "openai:judge", 1)
    assert summary["metrics"]["llm"] == {"fell_back": 3, "invalid_replies": 6}
