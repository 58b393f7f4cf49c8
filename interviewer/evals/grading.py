"""Batch grading: a JSONL file of answers in, one result line per (item, repeat) out, resumable.

Input lines are {"id", "question", "answer"} with optional "label" (one of the five decisions),
"kind" and "level" (one of the four levels: the answer is graded at that level; without one the
grader's default, Senior EM, is used and the summary counts how many were). The dev set's v2 labels
(evals/LABELING.md) are read when present and all optional: "axes" (per axis 1-5 or null), "star"
(per element true/false), "red_flags", "tested_axes" and "split" (train | heldout). So a v1 file (id,
question, answer, label, kind) still works. Unknown fields are ignored. A line that cannot be used (bad
JSON, a missing answer, a label, level or v2 label that is not one the rubric knows) is reported with
its line number and skipped; the run goes on.

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

from interviewer.evals.devset import AXES, LEVELS, RED_FLAGS, STAR
from interviewer.grading.rubric import DECISIONS, Decision

if TYPE_CHECKING:
    from interviewer.grading.grade import Grade
    from interviewer.index import Index
    from interviewer.llm import ChatModel

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"
DEFAULT_RUNS_DIR = Path("evals/runs")

SPLITS = ("train", "heldout")

_DECISION_BY_KEY = {re.sub(r"\s+", " ", d.lower()): d for d in DECISIONS}
_LEVEL_BY_KEY = {re.sub(r"\s+", " ", lv.lower()): lv for lv in LEVELS}


# --- input ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Labels:
    """The v2 labels of an answer beyond its decision; each None when the line does not give it."""

    axes: dict[str, int | None] | None = None  # axis id -> 1-5, or None for "no evidence on this axis"
    star: dict[str, bool] | None = None  # STAR element id -> present
    red_flags: list[str] | None = None
    tested_axes: list[str] | None = None

    def as_record(self) -> dict[str, Any]:
        return {"axes": self.axes, "star": self.star, "red_flags": self.red_flags, "tested_axes": self.tested_axes}


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    answer: str
    label: Decision | None = None
    kind: str | None = None
    level: str | None = None  # None: graded at the grader's default level
    split: str | None = None
    labels: Labels = field(default_factory=Labels)


def _key(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip().lower())


def parse_decision(value: object) -> Decision | None:
    """A decision name written in any case and spacing ("strong  hire") -> its canonical form."""
    if not isinstance(value, str):
        return None
    return _DECISION_BY_KEY.get(_key(value))


def parse_level(value: object) -> str | None:
    """A level written in any case and spacing ("senior  em") -> its canonical form."""
    if not isinstance(value, str):
        return None
    return _LEVEL_BY_KEY.get(_key(value))


class LineProblem(ValueError):
    pass


def _ids(row: dict, name: str, known: tuple[str, ...]) -> list[str] | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v in known for v in value):
        raise LineProblem(f"{name} {value!r} is not a list of {', '.join(known)}")
    return list(value)


def parse_labels(row: dict) -> Labels:
    """The optional v2 labels of a line; LineProblem for one that is present but malformed."""
    axes, star = row.get("axes"), row.get("star")
    if axes is not None:
        if not isinstance(axes, dict) or not set(axes) <= set(AXES):
            raise LineProblem(f"axes must map axis ids ({', '.join(AXES)}) to 1-5 or null")
        for axis, score in axes.items():
            # bool is an int in Python: true is not a score.
            if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5):
                raise LineProblem(f"axis {axis} score {score!r} is not 1-5 or null")
    if star is not None and (
        not isinstance(star, dict) or not set(star) <= set(STAR) or not all(isinstance(v, bool) for v in star.values())
    ):
        raise LineProblem(f"star must map STAR elements ({', '.join(STAR)}) to true or false")
    return Labels(
        axes=dict(axes) if axes is not None else None,
        star=dict(star) if star is not None else None,
        red_flags=_ids(row, "red_flags", RED_FLAGS),
        tested_axes=_ids(row, "tested_axes", AXES),
    )


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
        raw_level = row.get("level")
        level = parse_level(raw_level)
        if raw_level not in (None, "") and level is None:
            problems.append(f"line {lineno}: level {raw_level!r} is not one of {', '.join(LEVELS)}")
            continue
        split = row.get("split")
        if split not in (None, "") and split not in SPLITS:
            problems.append(f"line {lineno}: split {split!r} is not one of {', '.join(SPLITS)}")
            continue
        try:
            labels = parse_labels(row)
        except LineProblem as exc:
            problems.append(f"line {lineno}: {exc}")
            continue
        if item_id in first_line:
            # Results are keyed by id: a second line with the same id would overwrite the first.
            problems.append(f"line {lineno}: duplicate id {item_id!r} (first on line {first_line[item_id]})")
            continue
        first_line[item_id] = lineno
        kind = row.get("kind")
        kind = str(kind) if kind not in (None, "") else None
        items.append(Item(item_id, question, answer, label, kind, level, split or None, labels))
    return items, problems


# --- graders --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One grade and what it cost: LLM replies that were invalid, and whether it fell back to offline."""

    grade: Grade
    fell_back: bool = False
    invalid_replies: int = 0
    notes: list[str] = field(default_factory=list)


# A grading job: (question, answer, level); level None means the grader's default level.
Job = tuple[str, str, str | None]
Grader = Callable[[str, str, str | None], Outcome]
# The offline engine's embedding is cheapest in large batches: answers are embedded this many at a time
# ahead of grading them (small enough that an interrupted run has not wasted much).
PREFETCH_WINDOW = 64


class OfflineGrader:
    """The offline engine as a Grader, with `prepare` to embed a window of jobs' texts in one call."""

    def __init__(self, index: Index):
        self.index = index

    def __call__(self, question: str, answer: str, level: str | None = None) -> Outcome:
        from interviewer.grading import grade_answer

        return Outcome(grade_answer(question, answer, self.index, level))

    def prepare(self, jobs: list[Job]) -> None:
        from interviewer.grading.offline import prefetch

        prefetch([(question, answer) for question, answer, _ in jobs])


def make_grader(engine: str, index: Index, model: ChatModel | None = None) -> Grader:
    """A grading function for an engine id: `offline`, or `openai:<model>` with its chat model."""
    if engine == "offline":
        return OfflineGrader(index)
    if model is None:
        raise ValueError(f"engine {engine!r} needs a chat model")
    from interviewer.grading.llm_engine import grade_with_llm

    def grade(question: str, answer: str, level: str | None = None) -> Outcome:
        result = grade_with_llm(question, answer, index, model, level)
        return Outcome(result.grade, result.fell_back, result.invalid_replies, list(result.notes))

    return grade


def grade_many(
    jobs: list[Job], grader: Grader, concurrency: int = 1
) -> Iterator[tuple[int, Outcome | None, str | None]]:
    """(job index, outcome, error) for each (question, answer, level), in completion order.

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
    """The result line for one (item, repeat): the labels, and the grade's every layer.

    Enough to recompute every figure from results.jsonl alone: the decision and score, the level it was
    judged at, the axis scores with the axes the question tests, STAR per element, red flags, guard
    flags and caps, and the evidence behind them (the per-sentence judgements and the quotes).
    """
    record: dict[str, Any] = {
        "id": item.id,
        "repeat": repeat,
        "split": item.split,
        "label": item.label,
        "labels": item.labels.as_record(),
        "kind": item.kind,
        "question": item.question,
        "answer": item.answer,
        "seconds": round(seconds, 4),
        "error": error,
    }
    if outcome is None:
        return {
            **record,
            "engine": None,
            "decision": None,
            "score": None,
            "level": item.level,
            "level_defaulted": item.level is None,
            "axes": {},
            "tested_axes": [],
            "star": {},
            "red_flags": [],
            "flags": [],
            "caps": [],
        }
    grade = outcome.grade
    return {
        **record,
        "engine": grade.engine,
        "decision": grade.decision,
        "uncapped_decision": grade.uncapped_decision,
        "score": grade.score,
        "level": grade.level,
        "level_defaulted": grade.level_defaulted,
        "axes": {a.axis: a.score for a in grade.axes},
        "tested_axes": [a.axis for a in grade.axes if a.tested],
        "story_question": grade.story_question,
        "star": {s.element: s.present for s in grade.star},
        "red_flags": [f.flag for f in grade.red_flags],
        "flags": list(grade.flags),
        "caps": list(grade.caps),
        "decision_steps": list(grade.decision_steps),
        "axis_evidence": {a.axis: [e.quote for e in a.evidence if e.quote] for a in grade.axes},
        "sentences": [s.model_dump(mode="json") for s in grade.sentences],
        "quotes": list(grade.quotes),
        "fell_back": outcome.fell_back,
        "invalid_replies": outcome.invalid_replies,
        "notes": outcome.notes,
    }


class ResultsWriter:
    """Appends result lines durably. Each is flushed before the next item is graded, so a killed run
    keeps every finished line; it is fsynced at most once a second and at close, so a power cut costs
    at most a second of grading (re-graded by --resume), where an fsync per line was a fiftieth of an
    offline batch's time."""

    SYNC_EVERY_S = 1.0

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self._file = path.open("a", encoding="utf-8")
        if torn:
            self._file.write("\n")  # a killed writer left half a line: start a fresh one after it
        self._synced = time.monotonic()

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        self._file.flush()
        if time.monotonic() - self._synced >= self.SYNC_EVERY_S:
            self._sync()

    def _sync(self) -> None:
        os.fsync(self._file.fileno())
        self._synced = time.monotonic()

    def close(self) -> None:
        self._file.flush()
        self._sync()
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
    split: str | None = None  # the split graded (--split), None for the whole file
    outside_split: int = 0  # usable lines of the file that are not in that split
    # (word count, label) of the file's labelled train-split answers, graded or not: the length-only
    # baseline's cut points are fitted on them.
    train_lengths: list[tuple[int, str]] = field(default_factory=list)


def default_out_dir(now: datetime | None = None) -> Path:
    return DEFAULT_RUNS_DIR / (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")


def _check_run_dir(out: Path, file: Path, engine: str, resume: bool, split: str | None = None) -> None:
    results = out / RESULTS_FILE
    has_results = results.exists() and results.stat().st_size > 0
    if has_results and not resume:
        raise RunError(f"{out} already holds results: pass --resume to continue that run, or choose another --out")
    meta_path = out / RUN_FILE
    if resume and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("engine") != engine:
            raise RunError(f"{out} was graded with {meta.get('engine')}, not {engine}: one run holds one engine")
        if meta.get("split") != split:
            # The summary covers the items the input plans: another split would mix two runs' answers.
            was, now = (f"the {v} split" if v else "the whole file" for v in (meta.get("split"), split))
            raise RunError(f"{out} graded {was}, not {now}: one run holds one split")
    out.mkdir(parents=True, exist_ok=True)
    if not meta_path.exists():
        meta = {"input": str(file), "engine": engine, "split": split}
        meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")


def run_grading(
    file: Path,
    out: Path,
    grader: Grader,
    engine: str,
    *,
    repeat: int = 1,
    concurrency: int = 1,
    resume: bool = False,
    split: str | None = None,
    on_start: Callable[[int, int, list[str]], None] | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> RunResult:
    """Grade every (item, repeat) of `file` not yet graded in `out`, appending each result as it lands.

    With `split`, only the lines of that split are graded (a line without a split is in none).
    on_start(to_grade, already_done, bad_lines) is called once before grading; on_record(record) after
    each result is on disk (the progress bar; tests raise from it to simulate an interruption).
    """
    all_items, problems = load_items(file)
    if split is not None and split not in SPLITS:
        raise RunError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    items = [i for i in all_items if split is None or i.split == split]
    train_lengths: list[tuple[int, str]] = [
        (len(i.answer.split()), i.label) for i in all_items if i.split == "train" and i.label
    ]
    _check_run_dir(out, file, engine, resume, split)
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
        jobs: list[Job] = [(item.question, item.answer, item.level) for item, _ in todo]
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
    return RunResult(
        out,
        records,
        problems,
        graded_now,
        skipped=len(plan) - len(todo),
        seconds=seconds,
        unreadable_lines=unreadable,
        split=split,
        outside_split=len(all_items) - len(items),
        train_lengths=train_lengths,
    )


def decision_index(decision: str | None) -> int | None:
    return DECISIONS.index(decision) if decision in DECISIONS else None  # type: ignore[arg-type]


def graded(records: Iterable[dict]) -> list[dict]:
    """The records that carry a decision (grading did not fail)."""
    return [r for r in records if not r.get("error") and r.get("decision") in DECISIONS]
