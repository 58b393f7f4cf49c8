"""What a batch of grades says: agreement with labels, stability across repeats, and distributions.

Every figure is computed by scikit-learn or scipy where one exists (kappa, confusion matrix,
Spearman, bootstrap). A figure that is undefined on the data (one label class, no pairs to rank, a
single repeat) is reported as {"value": null, "reason": ...}, never NaN; summary.json is written with
allow_nan=False, so a NaN that slipped through would fail loudly rather than print as a figure.

Definitions that need choosing, chosen here:
- Agreement figures use each item's first graded repeat, so a run with --repeat is comparable with one
  without; `qwk_by_repeat` shows how much the judge's own variance moves kappa.
- Adversarial pass: an item whose kind is present and not "normal" graded above Lean Hire (Hire or
  Strong Hire) in any of its repeats. That is the grader issue's requirement (no gaming answer graded
  above Lean Hire), it needs no label, and a gaming attempt that works once in three runs works.
  Items graded above their own label are counted beside it (`above_label`).
- Ranking accuracy: over pairs of answers to the same question with different labels, the share
  whose Grade.score is ordered like their labels; equal scores count half.
- Weakest axes: mean axis score with "not enough evidence" counted as 0, as the grader's own axis mean
  does (saying nothing on an axis is weaker than saying little).
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from interviewer.evals.grading import graded
from interviewer.grading.rubric import DECISIONS, rubric
from interviewer.text import normalize_for_match

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20240601
PASS_ABOVE = DECISIONS.index("Lean Hire")  # adversarial pass: a decision above this one
NORMAL = "normal"
DIGITS = 4


def figure(value: float | None, reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """A metric value, or null with the reason it is undefined. NaN/inf become null, never a number."""
    if value is not None and not np.isfinite(value):
        value, reason = None, reason or "undefined on this data"
    out: dict[str, Any] = {"value": None if value is None else round(float(value), DIGITS)}
    if value is None:
        out["reason"] = reason or "undefined on this data"
    out.update(extra)
    return out


def _rate(part: int, whole: int, reason: str) -> dict[str, Any]:
    return figure(part / whole if whole else None, reason, count=part, of=whole)


# --- agreement with labels -------------------------------------------------------------------------


def qwk(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    from sklearn.metrics import cohen_kappa_score

    # Fixed label set, so a file in which nobody got Strong Hire is still measured on the 5-point scale.
    return float(cohen_kappa_score(y_true, y_pred, labels=list(range(len(DECISIONS))), weights="quadratic"))


def exact(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred))


def within_one(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    return float(_within_one_along(np.asarray(y_true), np.asarray(y_pred)))


# Vectorised forms (scipy's bootstrap passes every resample at once along the last axis): the two
# shares are means, so their thousand resamples cost one numpy call instead of a thousand sklearn calls.
def _exact_along(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y_true == y_pred, axis=axis)


def _within_one_along(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(np.abs(y_true - y_pred) <= 1, axis=axis)


def bootstrap_ci(
    statistic: Callable[..., Any],
    y_true: Sequence[int],
    y_pred: Sequence[int],
    vectorized: bool = False,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> tuple[list[float] | None, str | None]:
    """95% percentile interval over paired resamples of the items (fixed seed: reruns agree)."""
    from scipy.stats import bootstrap

    if len(y_true) < 2:
        return None, "fewer than two labelled items"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples are handled below, not printed
        result = bootstrap(
            (np.asarray(y_true), np.asarray(y_pred)),
            statistic,
            paired=True,
            vectorized=vectorized,
            n_resamples=resamples,
            confidence_level=0.95,
            method="percentile",
            rng=np.random.default_rng(BOOTSTRAP_SEED),
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        return None, "undefined in some resamples (too few label classes)"
    return [round(low, DIGITS), round(high, DIGITS)], None


def _with_ci(value: float, ci: tuple[list[float] | None, str | None]) -> dict[str, Any]:
    interval, why = ci
    return figure(value, ci95=interval, **({"ci_reason": why} if why else {}))


def agreement(records: list[dict], resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """Kappa, exact and within-one agreement (with bootstrap CIs), Spearman and the confusion matrix."""
    from scipy.stats import spearmanr
    from sklearn.metrics import confusion_matrix, mean_absolute_error

    rows = [r for r in records if r.get("label") in DECISIONS]
    y_true = [DECISIONS.index(r["label"]) for r in rows]
    y_pred = [DECISIONS.index(r["decision"]) for r in rows]
    scores = [float(r["score"]) for r in rows]
    out: dict[str, Any] = {"labelled": len(rows)}
    if not rows:
        reason = "no labelled items"
        for name in ("qwk", "exact", "within_one", "mae", "spearman"):
            out[name] = figure(None, reason)
        out["confusion"] = None
        return out
    if len(set(y_true)) < 2:
        out["qwk"] = figure(None, "the labels hold one class: agreement beyond chance is undefined")
    else:
        out["qwk"] = _with_ci(qwk(y_true, y_pred), bootstrap_ci(qwk, y_true, y_pred, resamples=resamples))
    out["exact"] = _with_ci(exact(y_true, y_pred), bootstrap_ci(_exact_along, y_true, y_pred, True, resamples))
    out["within_one"] = _with_ci(
        within_one(y_true, y_pred), bootstrap_ci(_within_one_along, y_true, y_pred, True, resamples)
    )
    out["mae"] = figure(float(mean_absolute_error(y_true, y_pred)))
    if len(set(y_true)) < 2 or len(set(scores)) < 2:
        out["spearman"] = figure(None, "labels or scores are constant: rank correlation is undefined")
    else:
        rho, p = spearmanr(y_true, scores)
        out["spearman"] = figure(float(rho), p_value=round(float(p), 6) if np.isfinite(p) else None)
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(DECISIONS))))
    out["confusion"] = {"rows": "label", "columns": "decision", "labels": list(DECISIONS), "matrix": matrix.tolist()}
    return out


def ranking_accuracy(records: list[dict]) -> dict[str, Any]:
    """Share of same-question pairs with different labels whose scores are ordered like the labels."""
    by_question: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("label") in DECISIONS:
            by_question[normalize_for_match(r["question"])].append(r)
    credit, pairs, questions = 0.0, 0, 0
    for rows in by_question.values():
        counted = 0
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                label_gap = DECISIONS.index(a["label"]) - DECISIONS.index(b["label"])
                if label_gap == 0:
                    continue
                score_gap = float(a["score"]) - float(b["score"])
                credit += 0.5 if score_gap == 0 else float(np.sign(score_gap) == np.sign(label_gap))
                counted += 1
        pairs += counted
        questions += counted > 0
    return figure(
        credit / pairs if pairs else None,
        "no question has two answers with different labels",
        pairs=pairs,
        questions=questions,
    )


# --- by kind, adversarial ---------------------------------------------------------------------------


def _kind(record: dict) -> str:
    return record.get("kind") or NORMAL


def per_kind(records: list[dict]) -> dict[str, dict[str, Any]]:
    """Figures per kind of answer; normal first, then the adversarial kinds alphabetically."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[_kind(r)].append(r)
    out: dict[str, dict[str, Any]] = {}
    for kind in sorted(groups, key=lambda k: (k != NORMAL, k)):
        rows = groups[kind]
        labelled = [r for r in rows if r.get("label") in DECISIONS]
        y_true = [DECISIONS.index(r["label"]) for r in labelled]
        y_pred = [DECISIONS.index(r["decision"]) for r in labelled]
        reason = "no labelled items of this kind"
        out[kind] = {
            "adversarial": kind != NORMAL,
            "items": len(rows),
            "labelled": len(labelled),
            "exact": figure(exact(y_true, y_pred) if labelled else None, reason),
            "within_one": figure(within_one(y_true, y_pred) if labelled else None, reason),
            "above_label": sum(1 for t, p in zip(y_true, y_pred, strict=True) if p > t),
            "above_lean_hire": sum(1 for r in rows if DECISIONS.index(r["decision"]) > PASS_ABOVE),
            "decisions": _counts(r["decision"] for r in rows),
        }
    return out


def adversarial(all_graded: list[dict]) -> dict[str, Any]:
    """Adversarial items that passed (above Lean Hire in any repeat), overall and by kind."""
    by_item: dict[str, list[dict]] = defaultdict(list)
    for r in all_graded:
        if _kind(r) != NORMAL:
            by_item[r["id"]].append(r)
    passed = sorted(i for i, rows in by_item.items() if any(DECISIONS.index(r["decision"]) > PASS_ABOVE for r in rows))
    above_label = sorted(
        i
        for i, rows in by_item.items()
        if any(
            r.get("label") in DECISIONS and DECISIONS.index(r["decision"]) > DECISIONS.index(r["label"]) for r in rows
        )
    )
    kinds: dict[str, list[str]] = defaultdict(list)
    for item_id, rows in by_item.items():
        kinds[_kind(rows[0])].append(item_id)
    return {
        "definition": "kind present and not 'normal', graded above Lean Hire in any repeat",
        "pass_rate": _rate(len(passed), len(by_item), "no adversarial items (kind other than 'normal')"),
        "passed_ids": passed,
        "above_label": _rate(len(above_label), len(by_item), "no adversarial items (kind other than 'normal')"),
        "above_label_ids": above_label,
        "by_kind": {
            kind: _rate(sum(1 for i in ids if i in passed), len(ids), "no items") for kind, ids in sorted(kinds.items())
        },
    }


# --- judge variance across repeats ------------------------------------------------------------------


def stability(all_graded: list[dict], repeats: int) -> dict[str, Any]:
    """Per-item spread across repeats and the decision flip rate (the judge's variance, not the answers')."""
    by_item: dict[str, list[dict]] = defaultdict(list)
    for r in all_graded:
        by_item[r["id"]].append(r)
    repeated = {i: rows for i, rows in by_item.items() if len(rows) >= 2}
    reason = "needs --repeat 2 or more" if repeats < 2 else "no item was graded more than once"
    if not repeated:
        return {"repeats": repeats, "flip_rate": figure(None, reason), "flipped_ids": []}
    flipped = sorted(i for i, rows in repeated.items() if len({r["decision"] for r in rows}) > 1)
    ranges = [max(_indices(rows)) - min(_indices(rows)) for rows in repeated.values()]
    stds = [float(np.std([float(r["score"]) for r in rows])) for rows in repeated.values()]
    by_repeat: dict[int, list[dict]] = defaultdict(list)
    for r in all_graded:
        by_repeat[int(r["repeat"])].append(r)
    return {
        "repeats": repeats,
        "items": len(repeated),
        "flip_rate": _rate(len(flipped), len(repeated), reason),
        "flipped_ids": flipped,
        "mean_decision_range": figure(float(np.mean(ranges))),
        "max_decision_range": max(ranges),
        "mean_score_std": figure(float(np.mean(stds))),
        "max_score_std": figure(float(np.max(stds))),
        "qwk_by_repeat": {str(k): _qwk_only(v) for k, v in sorted(by_repeat.items())},
    }


def _qwk_only(rows: list[dict]) -> dict[str, Any]:
    """Kappa without a bootstrap: per repeat, to show how far the judge's variance moves it."""
    labelled = [r for r in rows if r.get("label") in DECISIONS]
    y_true = [DECISIONS.index(r["label"]) for r in labelled]
    if len(set(y_true)) < 2:
        return figure(None, "fewer than two label classes")
    return figure(qwk(y_true, [DECISIONS.index(r["decision"]) for r in labelled]))


def _indices(rows: list[dict]) -> list[int]:
    return [DECISIONS.index(r["decision"]) for r in rows]


# --- distributions (labels or not) ------------------------------------------------------------------


def _counts(values: Any) -> dict[str, int]:
    counted = Counter(values)
    return {d: counted.get(d, 0) for d in DECISIONS}


def distribution(records: list[dict]) -> dict[str, Any]:
    """Decisions, labels, per-axis scores, flags, and the axes weakest across the file."""
    axes: dict[str, Any] = {}
    for axis in rubric().axes:
        values = [r.get("axes", {}).get(axis.id) for r in records]
        scored = [int(v) for v in values if v is not None]
        axes[axis.id] = {
            "name": axis.name,
            "counts": {str(level): scored.count(level) for level in range(1, 6)},
            "no_evidence": len(values) - len(scored),
            "mean_scored": figure(float(np.mean(scored)) if scored else None, "no answer had evidence on this axis"),
            "mean": figure(float(np.sum(scored)) / len(values) if values else None, "no answers"),
        }
    weakest = sorted(axes, key=lambda a: (axes[a]["mean"]["value"] or 0.0, a))
    return {
        "decisions": _counts(r["decision"] for r in records),
        "labels": _counts(r["label"] for r in records if r.get("label") in DECISIONS),
        "axes": axes,
        "weakest_axes": [
            {
                "axis": a,
                "name": axes[a]["name"],
                "mean": axes[a]["mean"]["value"],
                "no_evidence_share": round(axes[a]["no_evidence"] / len(records), DIGITS) if records else None,
            }
            for a in weakest
        ],
        "flags": dict(sorted(Counter(f for r in records for f in r.get("flags", [])).items())),
        "mean_score": figure(float(np.mean([float(r["score"]) for r in records])) if records else None, "no answers"),
    }


# --- everything ------------------------------------------------------------------------------------


def summarize(records: list[dict], repeats: int = 1, resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """All figures for a run's final records (one per planned (id, repeat), in input order).

    `resamples` is the bootstrap's; the default is what reports use (unit tests use fewer, for speed).
    """
    ok = graded(records)
    first: dict[str, dict] = {}
    for r in ok:  # each item's first graded repeat
        first.setdefault(r["id"], r)
    primary = list(first.values())
    errors = [r for r in records if r.get("error") or r.get("decision") not in DECISIONS]
    return {
        "items": len({r["id"] for r in records}),
        "results": len(records),
        "graded": len(ok),
        "repeats": repeats,
        "errors": {"count": len(errors), "ids": sorted({str(r["id"]) for r in errors})},
        "llm": {
            "fell_back": sum(1 for r in ok if r.get("fell_back")),
            "invalid_replies": sum(int(r.get("invalid_replies") or 0) for r in records),
        },
        "agreement": agreement(primary, resamples),
        "ranking": ranking_accuracy(primary),
        "per_kind": per_kind(primary),
        "adversarial": adversarial(ok),
        "stability": stability(ok, repeats),
        "distribution": distribution(primary),
    }


def check_gates(
    metrics: dict[str, Any],
    min_qwk: float | None = None,
    max_flip_rate: float | None = None,
    max_adversarial_pass: float | None = None,
) -> list[str]:
    """A message per gate missed. A gate whose figure is undefined is missed: it could not be shown to hold."""
    missed: list[str] = []

    def gate(option: str, name: str, fig: dict[str, Any], limit: float, ok: Callable[[float], bool]) -> None:
        value = fig.get("value")
        if value is None:
            missed.append(f"{option} {limit}: {name} is undefined ({fig.get('reason')})")
        elif not ok(value):
            missed.append(f"{option} {limit}: {name} is {value:.4f}")

    if min_qwk is not None:
        fig = metrics["agreement"]["qwk"]
        gate("--min-qwk", "quadratic weighted kappa", fig, min_qwk, lambda v: v >= min_qwk)
    if max_flip_rate is not None:
        fig = metrics["stability"]["flip_rate"]
        gate("--max-flip-rate", "decision flip rate", fig, max_flip_rate, lambda v: v <= max_flip_rate)
    if max_adversarial_pass is not None:
        fig = metrics["adversarial"]["pass_rate"]
        gate(
            "--max-adversarial-pass",
            "adversarial pass rate",
            fig,
            max_adversarial_pass,
            lambda v: v <= max_adversarial_pass,
        )
    return missed
