"""Choose the hybrid fusion by cross-validation on the retrieval dev set's TRAIN split only.

    python -m interviewer.evals.fusion_cv evals/retrieval_dev.jsonl [--folds 5] [--json]

Held-out cases are dropped before anything is retrieved, so nothing here can see them. Each train
case's four rankings (bm25, dense, heading, question; with and without the glossary's query
expansion in the embedding) are computed once; then every configuration in the grid (RRF k, a
weight per retriever, whether the query embedding is expanded) is scored by grouped k-fold CV: the
folds split target passages, not queries, as the train/held-out split does. In each fold the
configuration with the best training-fold objective is picked and scored on the validation fold;
the mean of those is the CV estimate of the *procedure*. The configuration reported for the
settings is the one best on all of train, shown with its in-sample figures beside the CV estimate.
Objective: MRR@10 + Recall@1 + Recall@5 (ties: fewer non-unit weights, then smaller k).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from interviewer.evals.retrieval import TOP_K, RetrievalCase, first_relevant_rank, load_cases, select
from interviewer.index import RETRIEVERS, Index, fuse

K_GRID = (5.0, 10.0, 20.0, 40.0, 60.0)
WEIGHT_GRID = (0.0, 0.5, 1.0, 2.0)
SEED = 20261202


@dataclass(frozen=True)
class Config:
    k: float
    weights: tuple[float, ...]  # in RETRIEVERS order
    dense_expanded: bool

    def as_settings(self) -> dict:
        return {
            "fusion_k": self.k,
            "fusion_weights": dict(zip(RETRIEVERS, self.weights, strict=True)),
            "glossary_dense": self.dense_expanded,
        }


def grid() -> list[Config]:
    """RRF is unchanged by scaling every weight, so dense (the passage vectors) is fixed at 1."""
    out = []
    others = [r for r in RETRIEVERS if r != "dense"]
    for k, dense_expanded in itertools.product(K_GRID, (False, True)):
        for ws in itertools.product(WEIGHT_GRID, repeat=len(others)):
            weights = dict(zip(others, ws, strict=True)) | {"dense": 1.0}
            out.append(Config(k, tuple(weights[r] for r in RETRIEVERS), dense_expanded))
    return out


def _relevant_ranks(index: Index, case: RetrievalCase, ranked: dict[str, list[tuple[str, float]]]) -> dict:
    """For each retriever: the ranks (1-based) at which relevant chunks appear, for fast re-fusion."""
    ids = {cid for scored in ranked.values() for cid, _ in scored}
    chunks = index.get_chunks(sorted(ids))
    relevant = {cid for cid, hit in chunks.items() if first_relevant_rank([hit], case) == 1}
    return {"ranked": ranked, "relevant": relevant}


def collect(index: Index, cases: list[RetrievalCase]) -> list[dict[bool, dict]]:
    """Per case, per dense expansion on/off: the four rankings and which chunk ids are relevant."""
    out = []
    original = index.settings.glossary_dense
    pool = index.settings.candidate_pool
    try:
        rows: list[dict[bool, dict]] = [{} for _ in cases]
        for dense_expanded in (False, True):
            index.settings.glossary_dense = dense_expanded
            for row, case in zip(rows, cases, strict=True):
                row[dense_expanded] = _relevant_ranks(index, case, index.rankings(case.query, pool))  # type: ignore[arg-type]
        out = rows
    finally:
        index.settings.glossary_dense = original
    return out


def rank_of(row: dict[bool, dict], config: Config) -> int | None:
    data = row[config.dense_expanded]
    fused = fuse(data["ranked"], dict(zip(RETRIEVERS, config.weights, strict=True)), config.k)[:TOP_K]
    return next((r for r, (cid, _) in enumerate(fused, 1) if cid in data["relevant"]), None)


def figures(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "recall@1": sum(r == 1 for r in ranks) / n,
        "recall@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr": sum(1.0 / r for r in ranks if r) / n,
    }


def objective(f: dict[str, float]) -> float:
    return f["mrr"] + f["recall@1"] + f["recall@5"]


def best(rows: list[dict[bool, dict]], configs: list[Config]) -> tuple[Config, dict[str, float]]:
    scored = []
    for c in configs:
        f = figures([rank_of(r, c) for r in rows])
        scored.append((-objective(f), sum(w != 1.0 for w in c.weights), c.k, c.dense_expanded, c, f))
    scored.sort(key=lambda t: t[:4])
    return scored[0][4], scored[0][5]


def folds(cases: list[RetrievalCase], n: int) -> list[list[int]]:
    """Case indices per fold, grouped by target passage (all queries about a passage in one fold)."""
    passages = sorted({(c.doc or "", c.expected_heading or c.answer_snippet or "") for c in cases})
    random.Random(SEED).shuffle(passages)
    fold_of = {p: i % n for i, p in enumerate(passages)}
    out: list[list[int]] = [[] for _ in range(n)]
    for i, c in enumerate(cases):
        out[fold_of[(c.doc or "", c.expected_heading or c.answer_snippet or "")]].append(i)
    return out


def cross_validate(cases: list[RetrievalCase], rows: list[dict[bool, dict]], n_folds: int) -> dict:
    configs = grid()
    per_fold = []
    val_ranks: list[int | None] = []
    for fold in folds(cases, n_folds):
        train = [rows[i] for i in range(len(rows)) if i not in set(fold)]
        chosen, _ = best(train, configs)
        ranks = [rank_of(rows[i], chosen) for i in fold]
        val_ranks += ranks
        per_fold.append({"cases": len(fold), "chosen": chosen.as_settings(), **figures(ranks)})
    final, in_sample = best(rows, configs)
    equal = Config(60.0, (1.0,) * len(RETRIEVERS), False)
    singles = {
        name: figures(
            [rank_of(r, Config(60.0, tuple(float(j == i) for j in range(len(RETRIEVERS))), False)) for r in rows]
        )
        for i, name in enumerate(RETRIEVERS)
    }
    return {
        "train_cases": len(cases),
        "folds": n_folds,
        "grid_size": len(configs),
        "cv": figures(val_ranks),
        "per_fold": per_fold,
        "chosen": final.as_settings(),
        "chosen_in_sample": in_sample,
        "equal_weights_k60_in_sample": figures([rank_of(r, equal) for r in rows]),
        "single_retrievers_in_sample": singles,
    }


def main(argv: list[str] | None = None) -> int:
    from interviewer.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cases, problems = load_cases(args.file)
    for p in problems:
        print(f"skipped {p}", file=sys.stderr)
    train = select(cases, "train")  # the held-out split is never retrieved here
    if not train:
        print("no train cases in the file", file=sys.stderr)
        return 1
    index = Index(Settings())
    if index.count() == 0:
        print("The index is empty: run `interviewer ingest` first.", file=sys.stderr)
        return 1
    index.warm_up()
    result = cross_validate(train, collect(index, train), args.folds)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    cv, ins = result["cv"], result["chosen_in_sample"]
    print(f"{result['train_cases']} train cases, {result['folds']}-fold CV by passage, {result['grid_size']} configs")
    print(f"CV (held-out folds) R@1 {cv['recall@1']:.3f}  R@5 {cv['recall@5']:.3f}  MRR {cv['mrr']:.3f}")
    print(f"chosen on all train: {json.dumps(result['chosen'])}")
    print(f"  in-sample      R@1 {ins['recall@1']:.3f}  R@5 {ins['recall@5']:.3f}  MRR {ins['mrr']:.3f}")
    eq = result["equal_weights_k60_in_sample"]
    print(f"equal weights, k=60 R@1 {eq['recall@1']:.3f}  R@5 {eq['recall@5']:.3f}  MRR {eq['mrr']:.3f}")
    for name, f in result["single_retrievers_in_sample"].items():
        print(f"  {name:9s} alone R@1 {f['recall@1']:.3f}  R@5 {f['recall@5']:.3f}  MRR {f['mrr']:.3f}")
    for i, fold in enumerate(result["per_fold"], 1):
        figs = f"R@1 {fold['recall@1']:.3f} R@5 {fold['recall@5']:.3f}"
        print(f"  fold {i}: {fold['cases']} cases {figs} -> {fold['chosen']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
