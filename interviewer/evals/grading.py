"""Batch grading: a JSONL file of answers in, one result line per (item, repeat) out, resumable.

Input lines are {"id", "question", "answer"} with optional "label" (one of the five decisions) and
"kind"; unknown fields are ignored. A line that cannot be used is reported with its line number and
skipped; the run goes on.

Each result is appended to DIR/results.jsonl the moment it is graded (flushed and fsynced), so a run
that is killed loses at most the items in flight. `resume=True` skips the (id, repeat) pairs that
already have a result and regrades the ones whose last result is an error (an LLM endpoint that was
down should be retried, not remembered as a failure). When results are read back, the last line for
a pair wins, a torn last line (the process died mid-write) is ignored, and the summary covers
exactly the pairs the input file plans, in input order, so an interrupted-and-resumed run and an
uninterrupted one produce the same figures.

A grading failure never stops the batch and never becomes a silent NaN: the result line carries an
`error`, and LLM replies that were invalid or fell back to the offline engine are counted per item.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interviewer.grading.rubric import DECISIONS, Decision

if TYPE_CHECKING:
    from interviewer.grading.grade import Grade
    from interviewer.index import Index
    from interviewer.llm import ChatModel

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"
DEFAULT_RUNS_DIR = Path("evals/runs")

_DECISION_BY_KEY = {re.sub(r"\s+", " ", d.lower()): d for d in DECISIONS}


# --- input ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    answer: str
    label: Decision | None = None
    kind: str | None = None


def parse_decision(value: object) -> Decision | None:
    """A decision name written in any case and spacing ("strong  hire") -> its canonical form."""
    if not isinstance(value, str):
        return None
    return _DECISION_BY_KEY.get(re.sub(r"\s+", " ", value.strip().lower()))


def load_items(path: Path) -> tuple[list[Item], list[str]]:
    """Items, and a message for each line that could not be used (with its line number)."""
    items: list[Item] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {lineno}: not a JSON object")
            continue
        item_id = str(row["id"]).strip() if row.get("id") not in (None, "") else f"line{lineno}"
        question, answer = row.get("question"), row.get("answer")
        if not isinstance(question, str) or not question.strip():
            problems.append(f"line {lineno}: missing 'question'")
            continue
        if not isinstance(answer, str) or not answer.strip():
            problems.append(f"line {lineno}: missing 'answer'")
            continue
        raw_label = row.get("label")
        label = parse_decision(raw_label)
        if raw_label not in (None, "") and label is None:
            problems.append(f"line {lineno}: label {raw_label!r} is not one of {', '.join(DECISIONS)}")
            continue
        if item_id in first_line:
            # Results are keyed by id: a second line with the same id would overwrite the first.
            problems.append(f"line {lineno}: duplicate id {item_id!r} (first on line {first_line[item_id]})")
            continue
        first_line[item_id] = lineno
        kind = row.get("kind")
        items.append(Item(item_id, question, answer, label, str(kind) if kind not in (None, "") else None))
    return items, problems


# --- graders --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One grade and what it cost: LLM replies that were invalid, and whether it fell back to offline."""

    grade: Grade
    fell_back: bool = False
    invalid_replies: int = 0
    notes: list[str] = field(default_factory=list)


Grader = Callable[[str, str], Outcome]
# The offline engine's embedding is cheapest in large batches: answers are embedded this many at a time
# ahead of grading them (small enough that an interrupted run has not wasted much).
PREFETCH_WINDOW = 64


class OfflineGrader:
    """The offline engine as a Grader, with `prepare` to embed a window of jobs' texts in one call."""

    def __init__(self, index: Index):
        self.index = index

    def __call__(self, question: str, answer: str) -> Outcome:
        from interviewer.grading import grade_answer

        return Outcome(grade_answer(question, answer, self.index))

    def prepare(self, jobs: list[tuple[str, str]]) -> None:
        from interviewer.grading.offline import prefetch

        prefetch(jobs)


def make_grader(engine: str, index: Index, model: ChatModel | None = None) -> Grader:
    """A grading function for an engine id: `offline`, or `openai:<model>` with its chat model."""
    if engine == "offline":
        return OfflineGrader(index)
    if model is None:
        raise ValueError(f"engine {engine!r} needs a chat model")
    from interviewer.grading.llm_engine import grade_with_llm

    def grade(question: str, answer: str) -> Outcome:
        result = grade_with_llm(question, answer, index, model)
        return Outcome(result.grade, result.fell_back, result.invalid_replies, list(result.notes))

    return grade


def grade_many(
    jobs: list[tuple[str, str]], grader: Grader, concurrency: int = 1
) -> Iterator[tuple[int, Outcome | None, str | None]]:
    """(job index, outcome, error) for each (question, answer), in completion order.

    Concurrency bounds the LLM calls in flight (a thread pool; at most `concurrency` jobs are
    submitted at a time, so an interrupted run has little in flight). With 1, jobs run in the calling
    thread, which keeps Ctrl-C immediate for the CPU-bound offline engine.
    """

    def run(i: int) -> tuple[int, Outcome | None, str | None]:
        try:
            return i, grader(*jobs[i]), None
        except Exception as exc:  # one failed item must not stop the batch; the error is recorded
            return i, None, f"{type(exc).__name__}: {exc}"[:500]

    prepare = getattr(grader, "prepare", None)  # optional: batch work ahead (OfflineGrader)
    if concurrency <= 1:
        for i in range(len(jobs)):
            if prepare is not None and i % PREFETCH_WINDOW == 0:
                # Only an optimisation: if it fails, each item is still graded (and fails) on its own.
                with contextlib.suppress(Exception):
                    prepare(jobs[i : i + PREFETCH_WINDOW])
            yield run(i)
        return
    pool = ThreadPoolExecutor(max_workers=concurrency)
    pending: set[Future[tuple[int, Outcome | None, str | None]]] = set()
    queue = iter(range(len(jobs)))
    try:
        pending.update(pool.submit(run, i) for i in islice(queue, concurrency))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(run, nxt))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --- results on disk ------------------------------------------------------------------------------


def result_record(item: Item, repeat: int, outcome: Outcome | None, error: str | None, seconds: float) -> dict:
    """The result line for one (item, repeat). Everything the metrics and the report need, no more."""
    record: dict[str, Any] = {
        "id": item.id,
        "repeat": repeat,
        "label": item.label,
        "kind": item.kind,
        "question": item.question,
        "answer": item.answer,
        "seconds": round(seconds, 4),
        "error": error,
    }
    if outcome is None:
        return {**record, "engine": None, "decision": None, "score": None, "axes": {}, "flags": [], "caps": []}
    grade = outcome.grade
    return {
        **record,
        "engine": grade.engine,
        "decision": grade.decision,
        "uncapped_decision": grade.uncapped_decision,
        "score": grade.score,
        "axes": {a.axis: a.score for a in grade.axes},
        "star": sum(1 for s in grade.star if s.present),
        "flags": list(grade.flags),
        "caps": list(grade.caps),
        "fell_back": outcome.fell_back,
        "invalid_replies": outcome.invalid_replies,
        "notes": outcome.notes,
    }


class ResultsWriter:
    """Appends result lines durably: each is flushed and fsynced before the next item is graded."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self._file = path.open("a", encoding="utf-8")
        if torn:
            self._file.write("\n")  # a killed writer left half a line: start a fresh one after it

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def read_results(path: Path) -> tuple[dict[tuple[str, int], dict], int]:
    """The last record per (id, repeat), and how many lines could not be read (a torn last line)."""
    latest: dict[tuple[str, int], dict] = {}
    unreadable = 0
    if not path.exists():
        return latest, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            latest[(str(record["id"]), int(record["repeat"]))] = record
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            unreadable += 1
    return latest, unreadable


# --- one run --------------------------------------------------------------------------------------


class RunError(RuntimeError):
    """The run cannot start as asked (an output folder holding another run, a different engine...)."""


@dataclass
class RunResult:
    out: Path
    records: list[dict]  # the final record per planned (id, repeat), in input order
    problems: list[str]  # bad input lines
    graded_now: int  # items graded by this invocation (0 when everything was already done)
    skipped: int  # pairs a resume found already graded
    seconds: float  # wall-clock grading time of this invocation
    unreadable_lines: int = 0


def default_out_dir(now: datetime | None = None) -> Path:
    return DEFAULT_RUNS_DIR / (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")


def _check_run_dir(out: Path, file: Path, engine: str, resume: bool) -> None:
    results = out / RESULTS_FILE
    has_results = results.exists() and results.stat().st_size > 0
    if has_results and not resume:
        raise RunError(f"{out} already holds results: pass --resume to continue that run, or choose another --out")
    meta_path = out / RUN_FILE
    if resume and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("engine") != engine:
            raise RunError(f"{out} was graded with {meta.get('engine')}, not {engine}: one run holds one engine")
    out.mkdir(parents=True, exist_ok=True)
    if not meta_path.exists():
        meta_path.write_text(json.dumps({"input": str(file), "engine": engine}, indent=1), encoding="utf-8")


def run_grading(
    file: Path,
    out: Path,
    grader: Grader,
    engine: str,
    *,
    repeat: int = 1,
    concurrency: int = 1,
    resume: bool = False,
    on_start: Callable[[int, int, list[str]], None] | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> RunResult:
    """Grade every (item, repeat) of `file` not yet graded in `out`, appending each result as it lands.

    on_start(to_grade, already_done, bad_lines) is called once before grading; on_record(record) after
    each result is on disk (the progress bar; tests raise from it to simulate an interruption).
    """
    items, problems = load_items(file)
    _check_run_dir(out, file, engine, resume)
    results_path = out / RESULTS_FILE
    plan = [(item, r) for item in items for r in range(1, repeat + 1)]
    existing, _ = read_results(results_path) if resume else ({}, 0)
    todo = [(item, r) for item, r in plan if existing.get((item.id, r), {"error": "missing"}).get("error")]
    if on_start:
        on_start(len(todo), len(plan) - len(todo), problems)
    writer = ResultsWriter(results_path)
    started = time.perf_counter()
    graded_now = 0
    try:
        jobs = [(item.question, item.answer) for item, _ in todo]
        last = time.perf_counter()
        for i, outcome, error in grade_many(jobs, grader, concurrency):
            now = time.perf_counter()
            # Per-item time is exact with concurrency 1; with a pool it is the gap between completions.
            record = result_record(todo[i][0], todo[i][1], outcome, error, now - last)
            last = now
            writer.write(record)
            graded_now += 1
            if on_record:
                on_record(record)
    finally:
        writer.close()
    seconds = time.perf_counter() - started
    final, unreadable = read_results(results_path)
    records = [final[(item.id, r)] for item, r in plan if (item.id, r) in final]
    return RunResult(out, records, problems, graded_now, len(plan) - len(todo), seconds, unreadable)


def decision_index(decision: str | None) -> int | None:
    return DECISIONS.index(decision) if decision in DECISIONS else None  # type: ignore[arg-type]


def graded(records: Iterable[dict]) -> list[dict]:
    """The records that carry a decision (grading did not fail)."""
    return [r for r in records if not r.get("error") and r.get("decision") in DECISIONS]
