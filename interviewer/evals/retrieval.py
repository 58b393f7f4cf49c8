"""Retrieval evaluation: does the index find the passage a paraphrased question is about?

Each JSONL line: {"id", "query", "expected_heading"?, "answer_snippet"?, "doc"?, "split"?}; unknown
fields are ignored. `split` is "train" or "heldout", set per target passage by `split_for` (a hash,
decided before any result was seen); `--split` evaluates one of them. A hit is relevant when
`expected_heading` occurs in its heading path or first line, or `answer_snippet` occurs in its text,
compared after `normalize_for_match` (encoding repaired, `**` removed, curly quotes straightened,
whitespace collapsed, case folded). Every retriever's ranking (bm25, dense, heading, question) and
hybrid's fusion of them come from the same retrieval run, so the columns are comparable; figures
are given overall and per document (`doc`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from interviewer.index import MODES, Hit, Index, Mode
from interviewer.text import normalize_for_match

TOP_K = 10
SPLITS = ("train", "heldout")
HELDOUT_PERCENT = 35


def split_for(doc: str, expected_heading: str) -> str:
    """The split of a target passage, fixed by a hash of (document, heading) before any result is seen.

    Every query about the same passage lands in the same split, so a held-out passage is one that
    nothing (fusion weights, glossary, thresholds) was tuned on, under any wording.
    """
    digest = hashlib.sha256(f"{doc}\n{expected_heading}".encode()).hexdigest()
    return "heldout" if int(digest[:8], 16) % 100 < HELDOUT_PERCENT else "train"


@dataclass(frozen=True)
class RetrievalCase:
    id: str
    query: str
    expected_heading: str | None
    answer_snippet: str | None
    doc: str | None = None
    split: str | None = None


def load_cases(path: Path) -> tuple[list[RetrievalCase], list[str]]:
    """Cases, and a message for each line that could not be used (with its line number)."""
    cases: list[RetrievalCase] = []
    problems: list[str] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            query = str(row.get("query") or "").strip()
            heading = row.get("expected_heading") or None
            snippet = row.get("answer_snippet") or None
            if not query:
                raise ValueError("missing 'query'")
            if not heading and not snippet:
                raise ValueError("needs 'expected_heading' or 'answer_snippet'")
            split = row.get("split") or None
            if split is not None and split not in SPLITS:
                raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
            doc = row.get("doc") or None
            cases.append(
                RetrievalCase(str(row.get("id", f"line{lineno}")), query, heading, snippet, doc and str(doc), split)
            )
        except ValueError as exc:
            problems.append(f"line {lineno}: {exc}")
    return cases, problems


def is_relevant(hit: Hit, case: RetrievalCase) -> bool:
    if case.expected_heading:
        expected = normalize_for_match(case.expected_heading)
        if expected in normalize_for_match(hit.heading) or expected in normalize_for_match(hit.first_line):
            return True
    return bool(case.answer_snippet and normalize_for_match(case.answer_snippet) in normalize_for_match(hit.text))


def first_relevant_rank(hits: list[Hit], case: RetrievalCase) -> int | None:
    return next((rank for rank, hit in enumerate(hits, 1) if is_relevant(hit, case)), None)


def select(cases: list[RetrievalCase], split: str | None) -> list[RetrievalCase]:
    """The cases of one split (None or "all": every case)."""
    if split in (None, "all"):
        return cases
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or all, got {split!r}")
    return [c for c in cases if c.split == split]


def _figures(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {
        "recall@1": sum(1 for r in ranks if r == 1) / n if n else 0.0,
        "recall@5": sum(1 for r in ranks if r is not None and r <= 5) / n if n else 0.0,
        "mrr": sum(1.0 / r for r in ranks if r) / n if n else 0.0,
    }


def evaluate(index: Index, cases: list[RetrievalCase], modes: tuple[Mode, ...] = MODES) -> dict:
    """Recall@1/@5 and MRR@10 per mode, overall and per document, from one retrieval per case."""
    ranks: dict[Mode, list[int | None]] = {mode: [] for mode in modes}
    per_case = []
    for case in cases:
        results = index.search_all_modes(case.query, TOP_K, modes=modes)
        row: dict = {"id": case.id, "query": case.query, "doc": case.doc, "split": case.split}
        row["expected"] = case.expected_heading or case.answer_snippet
        for mode in modes:
            rank = first_relevant_rank(results[mode], case)
            ranks[mode].append(rank)
            row[mode] = rank
            row[f"{mode}_top"] = results[mode][0].id if results[mode] else None
        per_case.append(row)
    docs = sorted({str(row["doc"] or "") for row in per_case})
    per_document = {
        doc: {
            "cases": sum(1 for row in per_case if (row["doc"] or "") == doc),
            **{mode: _figures([row[mode] for row in per_case if (row["doc"] or "") == doc]) for mode in modes},
        }
        for doc in docs
    }
    metrics = {mode: _figures(ranks[mode]) for mode in modes}
    return {"cases": len(cases), "top_k": TOP_K, "metrics": metrics, "per_document": per_document, "per_case": per_case}
