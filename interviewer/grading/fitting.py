"""Fitting the decision rule on the labelled dev set, reproducibly, and measuring it honestly.

    python -m interviewer.grading.fitting evals/grader_dev.jsonl

Every answer is measured once (signals do not depend on fitted parameters). The overall score is a
ridge regression, with each weight held to its declared direction (rule.DIRECTIONS), of the label
index (No Hire = 0 ... Strong Hire = 4) on the standardised features
of the answers the guards pass (guarded answers are governed by their caps, and their keyword-rich
or recited text would otherwise teach the regression that rubric terms are bad); the ridge penalty
is chosen by leave-one-out inside the training data. The four thresholds are then chosen, by
coordinate ascent over midpoints of the training predictions, to maximise quadratic weighted kappa
of the capped decisions on all training answers.

The figures reported are 5-fold cross-validated: folds group answers by question (no question has
answers on both sides), the assignment is seeded, and each fold is scored by a model fitted on the
other four. A length-only baseline (the same pipeline with the log word count of the answer as submitted as
the only feature, and no guards) is measured the same way. The final parameters, fitted on every answer, are written to
calibration.json with the cross-validated figures beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import GridSearchCV

from interviewer.grading.reference import background, reference_for, warm_up
from interviewer.grading.rubric import DECISIONS
from interviewer.grading.rule import (
    CALIBRATION_PATH,
    DIRECTIONS,
    FEATURES,
    Calibration,
    apply_caps,
    axis_scores,
    features,
    reference_flags,
)
from interviewer.grading.segments import words
from interviewer.grading.signals import measure
from interviewer.index import Index

ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
COMMAND = "python -m interviewer.grading.fitting evals/grader_dev.jsonl"


@dataclass
class Example:
    id: str
    question: str
    label: int
    kind: str
    values: dict[str, float]
    flags: Sequence[str]


def load_dev(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if row.get("label") not in DECISIONS:
            raise ValueError(f"{row.get('id')}: label must be one of {', '.join(DECISIONS)}")
    return rows


def measure_examples(rows: list[dict], index: Index) -> list[Example]:
    state = index.count()
    bg = background(index, state)
    examples = []
    for row in rows:
        m = measure(row["answer"], reference_for(row["question"], index, state), bg)
        values = features(m, axis_scores(m))
        # The baseline's one feature: the length of the answer as submitted, injection included.
        values["raw_log_words"] = float(np.log1p(len(words(row["answer"]))))
        examples.append(
            Example(row["id"], row["question"], DECISIONS.index(row["label"]), row.get("kind", ""), values, m.flags)
        )
    return examples


# --- fitting ------------------------------------------------------------------------------------------


def _matrix(examples: list[Example], names: tuple[str, ...]) -> np.ndarray:
    return np.array([[e.values[n] for n in names] for e in examples], dtype=float)


def _decisions(scores: np.ndarray, flag_lists: Sequence[Sequence[str]], thresholds: list[float]) -> np.ndarray:
    return np.array([apply_caps(float(s), f, thresholds)[0] for s, f in zip(scores, flag_lists, strict=True)])


def _qwk(y: np.ndarray, pred: np.ndarray) -> float:
    if len(set(y.tolist()) | set(pred.tolist())) < 2:
        return 0.0
    return float(cohen_kappa_score(y, pred, weights="quadratic", labels=list(range(len(DECISIONS)))))


def fit_thresholds(scores: np.ndarray, y: np.ndarray, flag_lists: Sequence[Sequence[str]]) -> list[float]:
    """Four ordered cut points maximising QWK of the capped decisions on these (training) answers."""
    thresholds = [0.5, 1.5, 2.5, 3.5]
    candidates = np.unique(scores)
    mids = (candidates[:-1] + candidates[1:]) / 2 if len(candidates) > 1 else candidates
    best = _qwk(y, _decisions(scores, flag_lists, thresholds))
    for _round in range(20):
        changed = False
        for k in range(4):
            low = thresholds[k - 1] if k > 0 else -np.inf
            high = thresholds[k + 1] if k < 3 else np.inf
            for value in mids[(mids > low) & (mids < high)]:
                trial = [*thresholds[:k], float(value), *thresholds[k + 1 :]]
                kappa = _qwk(y, _decisions(scores, flag_lists, trial))
                # Strictly better only, so the result does not depend on float noise in ties.
                if kappa > best + 1e-12:
                    best, thresholds, changed = kappa, trial, True
        if not changed:
            break
    return [round(t, 6) for t in thresholds]


def fit(examples: list[Example], names: tuple[str, ...] = FEATURES, guards: bool = True) -> Calibration:
    regress = [e for e in examples if not (guards and e.flags)] or examples
    x = _matrix(regress, names)
    y = np.array([e.label for e in regress], dtype=float)
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales == 0] = 1.0
    # Each feature is turned to its declared direction, so "weights >= 0" means "no weight has the
    # wrong sign"; the penalty is chosen by 5-fold CV (unshuffled, so deterministic) in the training data.
    signs = np.array([DIRECTIONS.get(name, 1) for name in names], dtype=float)
    z = (x - means) / scales * signs
    search = GridSearchCV(Ridge(positive=True), {"alpha": ALPHAS}, cv=min(5, len(y)), scoring="neg_mean_squared_error")
    model = search.fit(z, y).best_estimator_
    calibration = Calibration(
        features=list(names),
        means=means.round(6).tolist(),
        scales=scales.round(6).tolist(),
        weights=(np.asarray(model.coef_) * signs).round(6).tolist(),
        intercept=round(float(model.intercept_), 6),
        thresholds=[0.5, 1.5, 2.5, 3.5],
        alpha=float(model.alpha),
        trained_on=len(examples),
    )
    scores = np.array([calibration.score(e.values) for e in examples])
    y = np.array([e.label for e in examples])
    flag_lists = [e.flags if guards else [] for e in examples]
    calibration.thresholds = fit_thresholds(scores, y, flag_lists)
    if guards and "soft_coverage" in names:
        calibration.coverage_floor = fit_coverage_floor(examples, scores, y, calibration)
        flag_lists = [_all_flags(e, calibration) for e in examples]
        calibration.thresholds = fit_thresholds(scores, y, flag_lists)
    return calibration


def _all_flags(e: Example, calibration: Calibration) -> list[str]:
    return [*e.flags, *reference_flags(e.values, calibration)]


def fit_coverage_floor(examples: list[Example], scores: np.ndarray, y: np.ndarray, calibration: Calibration) -> float:
    """The soft-coverage floor (0 = none) that maximises QWK of the capped decisions on these answers.

    Candidates are the midpoints between the training answers' soft coverages in their lower half
    (a floor above the median would cap ordinary answers); only a strict improvement moves it off 0.
    """
    values = np.unique([e.values["soft_coverage"] for e in examples])
    values = values[values <= np.median(values)]
    best_floor, best = 0.0, _qwk(y, _decisions(scores, [e.flags for e in examples], calibration.thresholds))
    for floor in (values[:-1] + values[1:]) / 2:
        trial = calibration.model_copy(update={"coverage_floor": float(floor)})
        kappa = _qwk(y, _decisions(scores, [_all_flags(e, trial) for e in examples], calibration.thresholds))
        if kappa > best + 1e-12:
            best_floor, best = float(floor), kappa
    return round(best_floor, 6)


# --- evaluation ---------------------------------------------------------------------------------------


def group_folds(examples: list[Example], folds: int, seed: int) -> list[int]:
    """Fold number per example: whole questions to a fold, seeded, balancing the number of answers."""
    questions = sorted({e.question for e in examples})
    rng = np.random.default_rng(seed)
    order = [questions[i] for i in rng.permutation(len(questions))]
    size = Counter(e.question for e in examples)
    order.sort(key=lambda q: -size[q])  # stable: ties keep the seeded order
    load = [0] * folds
    fold_of: dict[str, int] = {}
    for q in order:
        k = int(np.argmin(load))
        fold_of[q] = k
        load[k] += size[q]
    return [fold_of[e.question] for e in examples]


def pair_order_accuracy(examples: list[Example], scores: np.ndarray) -> tuple[float, int]:
    """Share of same-question pairs with different labels that the scores order like the labels."""
    agree = 0.0
    pairs = 0
    by_question: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        by_question.setdefault(e.question, []).append(i)
    for members in by_question.values():
        for i, j in combinations(members, 2):
            if examples[i].label == examples[j].label:
                continue
            pairs += 1
            hi, lo = (i, j) if examples[i].label > examples[j].label else (j, i)
            if scores[hi] > scores[lo]:
                agree += 1
            elif scores[hi] == scores[lo]:
                agree += 0.5
    return (agree / pairs if pairs else 0.0), pairs


def metrics(examples: list[Example], decisions: np.ndarray, scores: np.ndarray) -> dict:
    y = np.array([e.label for e in examples])
    pairs, n_pairs = pair_order_accuracy(examples, scores)
    return {
        "qwk": round(_qwk(y, decisions), 4),
        "exact": round(float(np.mean(decisions == y)), 4),
        "within_one": round(float(np.mean(np.abs(decisions - y) <= 1)), 4),
        "pair_order": round(pairs, 4),
        "pairs": n_pairs,
    }


def cross_validate(
    examples: list[Example], folds: int = 5, seed: int = 0, names: tuple[str, ...] = FEATURES, guards: bool = True
) -> tuple[dict, np.ndarray, np.ndarray]:
    fold_ids = group_folds(examples, folds, seed)
    decisions = np.zeros(len(examples), dtype=int)
    scores = np.zeros(len(examples))
    per_fold = []
    for k in range(folds):
        train = [e for e, f in zip(examples, fold_ids, strict=True) if f != k]
        test_idx = [i for i, f in enumerate(fold_ids) if f == k]
        calibration = fit(train, names, guards)
        for i in test_idx:
            flags = _all_flags(examples[i], calibration) if guards else []
            raw = calibration.score(examples[i].values)
            decisions[i], scores[i], _ = apply_caps(raw, flags, calibration.thresholds)
        test = [examples[i] for i in test_idx]
        per_fold.append({"fold": k, "answers": len(test_idx), **metrics(test, decisions[test_idx], scores[test_idx])})
    result = metrics(examples, decisions, scores)
    result["per_fold"] = per_fold
    return result, decisions, scores


def guard_report(examples: list[Example]) -> dict[str, dict[str, int]]:
    """Which flags fired on which kinds of dev answer (the guards' thresholds are not fitted)."""
    table: dict[str, Counter[str]] = {}
    for e in examples:
        table.setdefault(e.kind or "?", Counter())
        table[e.kind or "?"]["answers"] += 1
        for flag in e.flags:
            table[e.kind or "?"][flag] += 1
    return {kind: dict(sorted(c.items())) for kind, c in sorted(table.items())}


def calibrate(dev_path: Path | str, index: Index, folds: int = 5, seed: int = 0, out: Path | None = None) -> dict:
    """Fit the decision rule on `dev_path`, write calibration.json, return the cross-validated figures."""
    dev_path = Path(dev_path)
    out = out or CALIBRATION_PATH
    rows = load_dev(dev_path)
    warm_up(index)
    examples = measure_examples(rows, index)
    cv, decisions, _ = cross_validate(examples, folds, seed)
    baseline, _, _ = cross_validate(examples, folds, seed, names=("raw_log_words",), guards=False)
    y = np.array([e.label for e in examples])
    confusion = [
        [int(np.sum((y == a) & (decisions == b))) for b in range(len(DECISIONS))] for a in range(len(DECISIONS))
    ]
    report = {
        "dev_set": str(dev_path),
        "answers": len(examples),
        "folds": folds,
        "seed": seed,
        "grouped_by": "question",
        "cross_validated": cv,
        "length_only_baseline": baseline,
        "confusion": {"rows=label, cols=predicted": list(DECISIONS), "matrix": confusion},
        "guards_on_dev": guard_report(examples),
        "targets": {"qwk": 0.75, "within_one": 0.95, "pair_order": 0.9},
    }
    final = fit(examples)
    final.dev_set = dev_path.name
    final.dev_sha256 = hashlib.sha256(dev_path.read_bytes()).hexdigest()
    final.command = COMMAND
    final.cross_validation = {k: v for k, v in report.items() if k != "guards_on_dev"}
    out.write_text(json.dumps(final.model_dump(), indent=1) + "\n", encoding="utf-8")
    report["written"] = str(out)
    report["final"] = {
        "alpha": final.alpha,
        "coverage_floor": final.coverage_floor,
        "thresholds": final.thresholds,
        "weights": dict(zip(final.features, final.weights, strict=True)),
    }
    return report


def main(argv: list[str] | None = None) -> int:
    from interviewer.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dev", type=Path, help="labelled JSONL: id, question, answer, label, kind")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=CALIBRATION_PATH)
    args = parser.parse_args(argv)
    index = Index(Settings())
    if index.count() == 0:
        print("index is empty: ingesting the corpus first", file=sys.stderr)
        index.sync()
    report = calibrate(args.dev, index, args.folds, args.seed, args.out)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
