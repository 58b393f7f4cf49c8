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

The layers under the decision, measured where the lines carry the dev set's v2 labels:
- Per axis: quadratic weighted kappa over the answers both labelled with a score and graded with one
  (1-5), and null agreement over the answers with an axis label: labelled null ("no evidence") exactly
  when graded None. Every kind of answer counts, as for the decision figures.
- STAR: per-element accuracy (labelled present == graded present) over normal answers; an adversarial
  answer is not a story told to the panel.
- Red flags: precision and recall per flag and pooled over (answer, flag) pairs, normal answers too.
- Coherence needs no label: a grade is incoherent when it is Hire or better while a tested axis of the
  grade is None or 2 or less, or Lean No Hire or worse while every tested axis is 4 or more and the
  grade has no red flag and no guard flag (a guard that caps the decision, decision.CAP_REASONS).
- Length-only baseline: the decision from the answer's log word count alone, cut into the five
  decisions by four thresholds fitted (maximising kappa, as the grader's own thresholds are) on the
  train split of the same file when it has one, graded or not; otherwise by the quantiles that give
  the graded answers' own label distribution. Reported beside kappa, within-one and ranking, so a
  figure can be read against what length alone gets.
- Targets (the grader issue's, on the held-out split) are in TARGETS and shown beside each figure.
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from interviewer.evals.grading import graded
from interviewer.grading.decision import CAP_REASONS, DEFAULT_LEVEL
from interviewer.grading.rubric import DECISIONS, rubric
from interviewer.text import normalize_for_match

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20240601
PASS_ABOVE = DECISIONS.index("Lean Hire")  # adversarial pass: a decision above this one
NORMAL = "normal"
DIGITS = 4
AXIS_LEVELS = [1, 2, 3, 4, 5]
GUARD_FLAGS = frozenset(CAP_REASONS)  # the guard flags that cap a decision, so explain a low one
GAP_LEVEL, STRONG_LEVEL = 2, 4  # coherence: a tested axis at or below GAP_LEVEL is below bar
# The grader issue's targets, on the held-out split: (figure, bound, direction).
TARGETS: dict[str, tuple[float, str]] = {
    "qwk": (0.90, ">="),
    "within_one": (0.97, ">="),
    "ranking": (0.93, ">="),
    "axis_kappa": (0.80, ">="),
    "star_accuracy": (0.90, ">="),
    "coherence_rate": (0.02, "<="),
}


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


# --- the layers under the decision (v2 labels) -----------------------------------------------------


def _labels(record: dict, name: str) -> Any:
    return (record.get("labels") or {}).get(name)


def _kappa_1to5(gold: list[int], pred: list[int]) -> dict[str, Any]:
    from sklearn.metrics import cohen_kappa_score

    if len(gold) < 2:
        return figure(None, "fewer than two answers both labelled and graded with a score", of=len(gold))
    if len(set(gold) | set(pred)) < 2:
        return figure(None, "every labelled and graded score is the same: kappa is undefined", of=len(gold))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(cohen_kappa_score(gold, pred, labels=AXIS_LEVELS, weights="quadratic"))
    return figure(value, of=len(gold))


def axis_agreement(records: list[dict]) -> dict[str, Any]:
    """Per axis: weighted kappa over answers scored by both, null agreement, and the null confusion."""
    out: dict[str, Any] = {}
    for axis in rubric().axes:
        rows = [r for r in records if isinstance(_labels(r, "axes"), dict) and axis.id in _labels(r, "axes")]
        gold_all = [_labels(r, "axes")[axis.id] for r in rows]
        pred_all = [(r.get("axes") or {}).get(axis.id) for r in rows]
        both = [(int(g), int(p)) for g, p in zip(gold_all, pred_all, strict=True) if g is not None and p is not None]
        gold, pred = [g for g, _ in both], [p for _, p in both]
        agree = sum((g is None) == (p is None) for g, p in zip(gold_all, pred_all, strict=True))
        out[axis.id] = {
            "name": axis.name,
            "labelled": len(rows),
            "weighted_kappa": _kappa_1to5(gold, pred),
            "exact": figure(
                float(np.mean(np.array(gold) == np.array(pred))) if both else None, "no pairs", of=len(both)
            ),
            "within_one": figure(
                float(np.mean(np.abs(np.array(gold) - np.array(pred)) <= 1)) if both else None, "no pairs", of=len(both)
            ),
            "null_agreement": _rate(agree, len(rows), "no answer carries a label for this axis"),
            "labelled_null_graded_none": sum(g is None and p is None for g, p in zip(gold_all, pred_all, strict=True)),
            "labelled_null_graded_score": sum(
                g is None and p is not None for g, p in zip(gold_all, pred_all, strict=True)
            ),
            "labelled_score_graded_none": sum(
                g is not None and p is None for g, p in zip(gold_all, pred_all, strict=True)
            ),
        }
    return out


def star_accuracy(records: list[dict]) -> dict[str, Any]:
    """Per STAR element, over normal answers with STAR labels: the share graded as labelled."""
    rows = [r for r in records if _kind(r) == NORMAL and isinstance(_labels(r, "star"), dict)]
    out: dict[str, Any] = {"answers": len(rows), "elements": {}}
    for element in rubric().star:
        labelled = [r for r in rows if element.id in _labels(r, "star")]
        pairs = [(bool(_labels(r, "star")[element.id]), bool((r.get("star") or {}).get(element.id))) for r in labelled]
        right = sum(g == p for g, p in pairs)
        out["elements"][element.id] = {
            "name": element.name,
            "accuracy": _rate(right, len(pairs), "no normal answer carries a STAR label"),
            "labelled_present": sum(g for g, _ in pairs),
            "graded_present": sum(p for _, p in pairs),
        }
    return out


def red_flag_agreement(records: list[dict]) -> dict[str, Any]:
    """Precision and recall of the grade's red flags against the labels, per flag and pooled (normal answers)."""
    rows = [r for r in records if _kind(r) == NORMAL and isinstance(_labels(r, "red_flags"), list)]

    def pr(tp: int, fp: int, fn: int) -> dict[str, Any]:
        return {
            "precision": _rate(tp, tp + fp, "never graded"),
            "recall": _rate(tp, tp + fn, "never labelled"),
            "labelled": tp + fn,
            "graded": tp + fp,
        }

    by_flag: dict[str, Any] = {}
    totals = [0, 0, 0]
    for flag in rubric().red_flags:
        tp = fp = fn = 0
        for r in rows:
            gold, got = flag.id in _labels(r, "red_flags"), flag.id in (r.get("red_flags") or [])
            tp, fp, fn = tp + (gold and got), fp + (got and not gold), fn + (gold and not got)
        by_flag[flag.id] = {"name": flag.name, **pr(tp, fp, fn)}
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
    return {"answers": len(rows), "pooled": pr(*totals), "flags": by_flag}


def coherence(records: list[dict]) -> dict[str, Any]:
    """Grades whose decision contradicts their own tested axes (see the module docstring); no label needed."""
    checked = [r for r in records if r.get("tested_axes")]
    hire_with_gap, low_without_reason = [], []
    for r in checked:
        decision = DECISIONS.index(r["decision"])
        tested = [(r.get("axes") or {}).get(a) for a in r["tested_axes"]]
        if decision >= DECISIONS.index("Hire") and any(v is None or v <= GAP_LEVEL for v in tested):
            hire_with_gap.append(str(r["id"]))
        explained = bool(r.get("red_flags")) or bool(GUARD_FLAGS & set(r.get("flags") or []))
        strong = all(v is not None and v >= STRONG_LEVEL for v in tested)
        if decision <= DECISIONS.index("Lean No Hire") and strong and not explained:
            low_without_reason.append(str(r["id"]))
    bad = sorted(set(hire_with_gap) | set(low_without_reason))
    return {
        "definition": (
            "Hire or better while a tested axis is None or <= 2, or Lean No Hire or worse while every tested "
            "axis is >= 4 with no red flag and no guard flag"
        ),
        "violations": _rate(len(bad), len(checked), "no grade names its tested axes"),
        "hire_with_gap": sorted(hire_with_gap),
        "low_without_reason": sorted(low_without_reason),
    }


def tested_axes_agreement(records: list[dict]) -> dict[str, Any]:
    """Per question, the Jaccard overlap of the grade's tested axes with the labelled ones; the mean."""
    by_question: dict[str, tuple[set[str], set[str]]] = {}
    for r in records:
        labelled = _labels(r, "tested_axes")
        if isinstance(labelled, list) and r.get("tested_axes"):
            by_question.setdefault(normalize_for_match(r["question"]), (set(r["tested_axes"]), set(labelled)))
    jaccard = [len(p & g) / len(p | g) for p, g in by_question.values() if p | g]
    exact_sets = sum(p == g for p, g in by_question.values())
    return {
        "questions": len(by_question),
        "mean_jaccard": figure(float(np.mean(jaccard)) if jaccard else None, "no question with tested-axes labels"),
        "same_set": _rate(exact_sets, len(by_question), "no question with tested-axes labels"),
    }


def log_length(answer: str) -> float:
    return float(np.log1p(len(answer.split())))


def fit_cuts(raw: np.ndarray, y: np.ndarray, start: list[float]) -> list[float]:
    """Four ordered cut points maximising the decisions' weighted kappa (coordinate ascent over midpoints)."""
    cuts = list(start)
    values = np.unique(raw)
    mids = (values[:-1] + values[1:]) / 2 if len(values) > 1 else values

    def kappa(c: list[float]) -> float:
        value = qwk(list(y), list(np.sum(raw[:, None] >= np.array(c)[None, :], axis=1)))
        return value if np.isfinite(value) else -1.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best = kappa(cuts)
        for _ in range(20):
            changed = False
            for k in range(len(cuts)):
                low = cuts[k - 1] if k else -np.inf
                high = cuts[k + 1] if k + 1 < len(cuts) else np.inf
                for v in mids[(mids > low) & (mids < high)]:
                    trial = [*cuts[:k], float(v), *cuts[k + 1 :]]
                    got = kappa(trial)
                    if got > best + 1e-12:
                        best, cuts, changed = got, trial, True
            if not changed:
                break
    return [round(float(c), 6) for c in cuts]


def length_baseline(
    records: list[dict], train: list[tuple[int, str]] | None = None, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, Any]:
    """The decision figures of a grader that reads only the answer's length (see the module docstring)."""
    rows = [r for r in records if r.get("label") in DECISIONS]
    if len(rows) < 2:
        return {"method": None, "reason": "fewer than two labelled answers"}
    x = np.array([log_length(r["answer"]) for r in rows])
    train = [(w, label) for w, label in (train or []) if label in DECISIONS]
    if len({label for _, label in train}) >= 2:
        tx = np.log1p(np.array([w for w, _ in train], dtype=float))
        ty = np.array([DECISIONS.index(label) for _, label in train])  # type: ignore[arg-type]
        cuts = fit_cuts(tx, ty, [float(q) for q in np.quantile(tx, [0.2, 0.4, 0.6, 0.8])])
        method = f"log word count, cut points fitted on the file's train split ({len(train)} labelled answers)"
    else:
        y = np.array([DECISIONS.index(r["label"]) for r in rows])
        shares = np.cumsum(np.bincount(y, minlength=len(DECISIONS)))[:-1] / len(y)
        cuts = [round(float(q), 6) for q in np.quantile(x, shares)]
        method = "log word count, cut at the quantiles that give the labels' own distribution (no train split)"
    pseudo = [
        {**r, "decision": DECISIONS[int(np.sum(v >= np.array(cuts)))], "score": v} for r, v in zip(rows, x, strict=True)
    ]
    a = agreement(pseudo, resamples)
    return {
        "method": method,
        "cuts_log1p_words": cuts,
        "labelled": a["labelled"],
        "qwk": a["qwk"],
        "exact": a["exact"],
        "within_one": a["within_one"],
        "spearman": a["spearman"],
        "ranking": ranking_accuracy(pseudo),
    }


def levels(records: list[dict]) -> dict[str, Any]:
    """How many answers were graded at each level, and how many at the default because none was given."""
    return {
        "default": DEFAULT_LEVEL,
        "defaulted": sum(1 for r in records if r.get("level_defaulted")),
        "counts": dict(sorted(Counter(str(r.get("level") or DEFAULT_LEVEL) for r in records).items())),
    }


def targets() -> dict[str, Any]:
    return {name: {"bound": bound, "direction": direction} for name, (bound, direction) in TARGETS.items()}


def meets(name: str, fig: dict[str, Any] | None) -> bool | None:
    """Whether a figure meets its target; None when the figure is undefined."""
    if not fig or fig.get("value") is None:
        return None
    bound, direction = TARGETS[name]
    return bool(fig["value"] >= bound) if direction == ">=" else bool(fig["value"] <= bound)


# --- everything ------------------------------------------------------------------------------------


def summarize(
    records: list[dict],
    repeats: int = 1,
    resamples: int = BOOTSTRAP_RESAMPLES,
    train_lengths: list[tuple[int, str]] | None = None,
) -> dict[str, Any]:
    """All figures for a run's final records (one per planned (id, repeat), in input order).

    `resamples` is the bootstrap's; the default is what reports use (unit tests use fewer, for speed).
    `train_lengths` are the (word count, label) pairs of the file's train split, which the length-only
    baseline is fitted on (RunResult.train_lengths).
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
        "levels": levels(primary),
        "layers": {
            "axes": axis_agreement(primary),
            "star": star_accuracy(primary),
            "red_flags": red_flag_agreement(primary),
            "coherence": coherence(primary),
            "tested_axes": tested_axes_agreement(primary),
        },
        "length_baseline": length_baseline(primary, train_lengths, resamples),
        "targets": targets(),
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
