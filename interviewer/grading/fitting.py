"""Fitting the offline grader on the dev set's train split, reproducibly, and measuring every layer.

    interviewer eval calibrate evals/grader_dev.jsonl

Only records with `"split": "train"` are fitted on; the held-out split is graded by the final models
and reported, never used to choose anything. The layers are fitted in the order data flows through
them, each on the *cross-validated* outputs of the one before (folds group answers by question), so
no layer learns to trust outputs that are better than the ones it will see on a new question:

1. **sentence classifiers** (logistic regressions over the MiniLM embedding and the features of
   features.py): relevance to the question (trained on the labelled sentences, plus every relevant
   sentence paired with a different question as a negative, so that "relevant" means relevant to
   *this* question, and answers with a run of another question's relevant sentences spliced in, whose
   borrowed sentences are negatives, so that a sentence about another question is not evidence because
   the rest of the answer is on topic), the axes a relevant sentence evidences, and its STAR element;
2. **STAR thresholds**: an element is present when a sentence's probability reaches the element's
   threshold;
3. **the axis ladder** (axes.py): the "not enough evidence" cut, a ridge regression with weights held
   non-negative (more evidence never scores lower) and four thresholds maximising weighted kappa;
4. **the decision rule's thresholds** (decision.py), per level group, maximising quadratic weighted
   kappa of the decisions, with the level bars held in order (EM ≤ Senior EM ≤ Director);
5. **the tested-axes rule** (profiles.py), on the labelled tested axes of the train questions.

The sentence classifiers are written to sentence_models.json and everything else to
calibration.json, each with the dev set's SHA-256 and the command. The report holds the held-out
figures for every layer, the same figures cross-validated on the train split, and a length-only
baseline measured the same way.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import cohen_kappa_score

from interviewer.evals.devset import DevRecord
from interviewer.evals.devset import load as load_devset
from interviewer.grading.axes import AXIS_FEATURES, AxisModel, axis_features, judge_axes
from interviewer.grading.decision import DecisionRule, decide
from interviewer.grading.evidence import (
    AXES,
    STAR_ELEMENTS,
    AnswerEvidence,
    Judged,
    Prepared,
    assemble,
    embedded_texts,
    featurise,
    measure_answer,
    measured_sentences,
    support_of,
    visible,
)
from interviewer.grading.features import LinearModel, SentenceModels
from interviewer.grading.rubric import DECISIONS
from interviewer.index import Index
from interviewer.profiles import (
    TESTED_FEATURES,
    Profiled,
    ProfileStore,
    TestedAxesModel,
    profile_question,
    profiles_for,
    retest,
)

COMMAND = "interviewer eval calibrate evals/grader_dev.jsonl"
FOLDS = 5
SEED = 0
C_GRID = (0.03, 0.1, 0.3, 1.0)
CROSS_PAIRS_MAX_SIMILARITY = 0.5  # a "different question" for negative pairs is at most this close
LEVEL_ORDER = ("EM", "Senior EM", "Director")


# --- the examples ------------------------------------------------------------------------------------


@dataclass
class Example:
    record: DevRecord
    profiled: Profiled
    prepared: Prepared
    relevant: np.ndarray  # per measured sentence: labelled relevant
    axes: np.ndarray  # (sentences × 5): labelled axes
    star: list[str]  # per measured sentence: its STAR element or "none"
    cross: list[Prepared] = field(default_factory=list)  # its sentences against other questions
    # The answer with a few relevant sentences of another question's answer spliced in, under this
    # question, and per measured sentence whether it is borrowed (None: matches neither, not used).
    mixed: list[tuple[Prepared, list[bool | None]]] = field(default_factory=list)

    @property
    def question(self) -> str:
        return self.record.question

    @property
    def label(self) -> int:
        return DECISIONS.index(self.record.label)


def _label_offsets(record: DevRecord) -> list[tuple[int, int]]:
    offsets, at = [], 0
    for i, s in enumerate(record.sentences):
        if i:
            at += 2 if s.para_break_before else 1
        offsets.append((at, at + len(s.text)))
        at += len(s.text)
    return offsets


def _sentence_labels(record: DevRecord, prepared: Prepared) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each measured sentence takes the labels of the labelled sentence it overlaps most."""
    offsets = _label_offsets(record)
    relevant, axes, star = [], [], []
    for span in prepared.measured.sentences:
        overlaps = [max(0, min(span.end, b) - max(span.start, a)) for a, b in offsets]
        s = record.sentences[int(np.argmax(overlaps))]
        relevant.append(s.relevant)
        axes.append([a in s.axes for a in AXES])
        star.append(str(s.star or "none"))
    return np.array(relevant, bool), np.array(axes, bool).reshape(-1, len(AXES)), star


def build_examples(records: list[DevRecord], index: Index, store: ProfileStore, seed: int = SEED) -> list[Example]:
    from interviewer.grading.evidence import topic_for
    from interviewer.grading.reference import encode, prefetch

    prefetch([text for r in records for text in embedded_texts(r.answer)])
    profiled = {q: profile_question(q, index, store) for q in sorted({r.question for r in records})}
    examples = []
    for r in records:
        p = profiled[r.question]
        injection, measured = measure_answer(r.answer)
        texts = [visible(s.text) for s in measured.sentences]
        vectors = encode(texts)
        prepared = featurise(r.answer, injection, measured, texts, vectors, topic_for(p, store))
        relevant, axes, star = _sentence_labels(r, prepared)
        examples.append(Example(r, p, prepared, relevant, axes, star))
    # Negative pairs: each answer's sentences against a question about something else.
    questions = sorted(profiled)
    rng = random.Random(seed)
    for e in examples:
        if e.record.kind != "normal" or not e.relevant.any():
            continue
        others = [
            q
            for q in questions
            if q != e.question
            and float(profiled[q].question_vector @ e.profiled.question_vector) < CROSS_PAIRS_MAX_SIMILARITY
        ]
        if not others:
            continue
        other = profiled[rng.choice(others)]
        pr = e.prepared
        e.cross.append(featurise(pr.answer, pr.injection, pr.measured, pr.texts, pr.vectors, topic_for(other, store)))
    _add_mixed(examples, store, rng)
    return examples


MIXED_SENTENCES = (2, 5)  # how many sentences of another answer a mixed example borrows


def _add_mixed(examples: list[Example], store: ProfileStore, rng: random.Random) -> None:
    """Negatives shaped like borrowed evidence: an answer with a run of relevant sentences from an answer
    to another question (any question that is not a twin of this one) spliced in at a random sentence
    break. Its own relevant sentences stay positives, with the answer-level features of the mixture; the
    borrowed ones are negatives. Without these, every off-topic negative is a whole answer about
    something else, and a sentence about another question is taken as evidence as long as the rest of
    the answer is on topic."""
    from interviewer.grading import guards
    from interviewer.grading.evidence import TWIN_QUESTION, topic_for
    from interviewer.grading.reference import encode

    donors = [e for e in examples if e.record.kind == "normal" and e.relevant.sum() >= MIXED_SENTENCES[0]]
    for e in examples:
        if e.record.kind != "normal" or not e.relevant.any():
            continue
        q = e.profiled.question_vector
        choices = [d for d in donors if float(d.profiled.question_vector @ q) < TWIN_QUESTION]
        if not choices:
            continue
        donor = rng.choice(choices)
        relevant = [t for t, r in zip(donor.prepared.texts, donor.relevant, strict=True) if r]
        count = min(len(relevant), rng.randint(*MIXED_SENTENCES))
        start = rng.randrange(len(relevant) - count + 1)
        borrowed = relevant[start : start + count]
        own = e.prepared.texts
        cut = rng.randint(0, len(own))
        # One sentence per line: a line break always ends a sentence, so the spans are exactly these.
        answer = "\n".join([*own[:cut], *borrowed, *own[cut:]])
        injection = guards.find_injection(answer)
        measured = measured_sentences(injection)
        texts = [visible(s.text) for s in measured.sentences]
        own_set, borrowed_set = set(own), set(borrowed) - set(own)
        labels = [True if t in borrowed_set else False if t in own_set else None for t in texts]
        prepared = featurise(answer, injection, measured, texts, encode(texts), topic_for(e.profiled, store))
        e.mixed.append((prepared, labels))


# --- sentence classifiers ------------------------------------------------------------------------------


def _fit_lr(x: np.ndarray, y: np.ndarray, c: float, classes: list[str], features: list[str]) -> LinearModel:
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales < 1e-6] = 1.0
    z = (x - means) / scales
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(z, y)
    return LinearModel(
        features=features,
        classes=classes,
        means=[round(float(v), 6) for v in means],
        scales=[round(float(v), 6) for v in scales],
        coef=[[round(float(v), 6) for v in row] for row in model.coef_],
        intercept=[round(float(v), 6) for v in model.intercept_],
    )


def _substance_data(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """The labelled sentences, and as negatives one block of generated content-free sentences per
    answer that has relevant sentences (filler.py: the padding the dev set's own fluff does not show)."""
    from interviewer.grading.evidence import substance_rows
    from interviewer.grading.features import surface_matrix
    from interviewer.grading.filler import filler_blocks
    from interviewer.grading.reference import encode

    xs, ys = [], []
    for e in examples:
        if len(e.relevant):
            xs.append(e.prepared.substance_x)
            ys.append(e.relevant.astype(int))
    answers = sum(1 for e in examples if e.relevant.any())
    for block in filler_blocks(random.Random(f"{SEED}:filler:{answers}"), answers):
        xs.append(substance_rows(encode(block), surface_matrix(block)[0]))
        ys.append(np.zeros(len(block), int))
    return np.vstack(xs), np.concatenate(ys)


def _topic_data(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """Relevant sentences against their own question (on topic) and, with the whole answer, against a
    question about something else (off topic); and in a mixed answer, its own relevant sentences (on
    topic) beside the sentences borrowed from another question's answer (off topic)."""
    from interviewer.grading.evidence import topic_rows

    xs, ys = [], []
    for e in examples:
        rows = np.flatnonzero(e.relevant)
        if not len(rows):
            continue
        xs.append(topic_rows(e.prepared.pair_x, e.relevant)[rows])
        ys.append(np.ones(len(rows), int))
        for c in e.cross:
            xs.append(topic_rows(c.pair_x, e.relevant)[rows])
            ys.append(np.zeros(len(rows), int))
        own_relevant = {t for t, r in zip(e.prepared.texts, e.relevant, strict=True) if r}
        for mixed, borrowed in e.mixed:
            # Substantive in the mixture: the own relevant sentences and the borrowed (all relevant).
            substantive = np.array(
                [b is True or (b is False and t in own_relevant) for t, b in zip(mixed.texts, borrowed, strict=True)]
            )
            keep = np.flatnonzero(substantive)
            if len(keep):
                xs.append(topic_rows(mixed.pair_x, substantive)[keep])
                ys.append(np.array([0 if borrowed[i] else 1 for i in keep], int))
    return np.vstack(xs), np.concatenate(ys)


def _axis_data(examples: list[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, groups = [], [], []
    for e in examples:
        rows = np.flatnonzero(e.relevant)
        if len(rows):
            xs.append(e.prepared.axis_x[rows])
            ys.append(e.axes[rows])
            groups += [e.question] * len(rows)
    return np.vstack(xs), np.vstack(ys), np.array(groups)


def _star_data(examples: list[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, groups = [], [], []
    for e in examples:
        if len(e.star):
            xs.append(e.prepared.star_x)
            ys += e.star
            groups += [e.question] * len(e.star)
    return np.vstack(xs), np.array(ys), np.array(groups)


TOPIC_FALSE_VETO = 0.03  # the topic floor lets at most this share of on-topic sentences lose evidence
# Question support (features.SentenceModels): the percentiles of labelled evidence sentences' support at
# which a sentence starts to count and counts in full. Chosen before measuring, not searched.
SUPPORT_QUANTILES = (0.05, 0.25)


def fit_sentence_models(examples: list[Example], c: dict[str, float] | None = None) -> SentenceModels:
    c = c or {"substance": 0.01, "topic": 1.0, "axes": 0.03, "star": 0.01}
    x, y = _substance_data(examples)
    substance = _fit_lr(x, y, c["substance"], ["no", "yes"], ["surface features", "embedding"])
    tx, ty = _topic_data(examples)
    topic = _fit_lr(tx, ty, c["topic"], ["no", "yes"], ["pair features", "answer mean", "answer best three"])
    own = topic.probabilities(tx[ty == 1])[:, 1]
    floor = float(np.quantile(own, TOPIC_FALSE_VETO)) if len(own) else 0.5
    ax, ay, _ = _axis_data(examples)
    axes = {
        a: _fit_lr(ax, ay[:, k].astype(int), c["axes"], ["no", "yes"], ["axis terms", "surface", "embedding"])
        for k, a in enumerate(AXES)
    }
    evidence_support = np.concatenate(
        [support_of(e.prepared.pair_x)[e.relevant] for e in examples if e.relevant.any()] or [np.zeros(0)]
    )
    low, high = map(float, np.quantile(evidence_support, SUPPORT_QUANTILES)) if len(evidence_support) else (0.0, 0.0)
    sx, sy, _ = _star_data(examples)
    star = {
        e: _fit_lr(sx, (sy == e).astype(int), c["star"], ["no", "yes"], ["STAR cues", "surface features", "embedding"])
        for e in STAR_ELEMENTS
    }
    return SentenceModels(
        substance=substance,
        topic=topic,
        topic_floor=round(max(floor, 1e-3), 6),
        support_low=round(low, 6),
        support_high=round(high, 6),
        axes=axes,
        star=star,
    )


def classify_example(prepared: Prepared, models: SentenceModels) -> Judged:
    from interviewer.grading.evidence import classify

    return classify(prepared, models)


def group_folds(questions: Sequence[str], folds: int = FOLDS, seed: int = SEED) -> list[int]:
    """Fold per item: whole questions to a fold, seeded, balancing the number of items."""
    names = sorted(set(questions))
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    size = {q: list(questions).count(q) for q in names}
    order.sort(key=lambda q: -size[q])
    load = [0] * folds
    fold_of: dict[str, int] = {}
    for q in order:
        k = int(np.argmin(load))
        fold_of[q] = k
        load[k] += size[q]
    return [fold_of[q] for q in questions]


def out_of_fold_evidence(
    examples: list[Example], c: dict[str, float] | None = None, folds: int = FOLDS, seed: int = SEED
) -> list[AnswerEvidence]:
    """Each example's evidence as judged by sentence models fitted without its question."""
    fold = group_folds([e.question for e in examples], folds, seed)
    evidence: list[AnswerEvidence | None] = [None] * len(examples)
    for k in range(folds):
        train = [e for e, f in zip(examples, fold, strict=True) if f != k]
        models = fit_sentence_models(train, c)
        for i, e in enumerate(examples):
            if fold[i] == k:
                evidence[i] = assemble(e.prepared, classify_example(e.prepared, models), e.profiled, _shingles())
    return [ev for ev in evidence if ev is not None]


_corpus_shingles: frozenset[tuple[str, ...]] = frozenset()


def _shingles() -> frozenset[tuple[str, ...]]:
    return _corpus_shingles


# --- STAR thresholds -----------------------------------------------------------------------------------


def star_present(evidence: AnswerEvidence, thresholds: dict[str, float]) -> set[str]:
    return {e for e in STAR_ELEMENTS if evidence.star_sentences(e, thresholds.get(e, 0.5))}


def fit_star_thresholds(examples: list[Example], evidence: list[AnswerEvidence]) -> dict[str, float]:
    grid = np.round(np.arange(0.1, 0.95, 0.05), 2)
    out = {}
    for element in STAR_ELEMENTS:
        best, best_acc = 0.5, -1.0
        for t in grid:
            acc = np.mean(
                [
                    bool(ev.star_sentences(element, t)) == e.record.star[element]  # type: ignore[index]
                    for e, ev in zip(examples, evidence, strict=True)
                ]
            )
            if acc > best_acc + 1e-12:
                best, best_acc = float(t), float(acc)
        out[element] = best
    return out


# --- the tested axes ----------------------------------------------------------------------------------


def tested_labels(records: list[DevRecord]) -> dict[str, set[str]]:
    """Per question, the axes at least half of its labelled answers call tested."""
    counts: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for r in records:
        totals[r.question] = totals.get(r.question, 0) + 1
        for a in r.tested_axes:
            counts.setdefault(r.question, {}).setdefault(a, 0)
            counts[r.question][a] += 1
    return {q: {a for a, n in counts.get(q, {}).items() if n >= totals[q] / 2} for q in totals}


def fit_tested_axes(records: list[DevRecord], store: ProfileStore, c: float = 1.0) -> TestedAxesModel:
    labels = tested_labels(records)
    xs, ys = [], []
    for question, tested in sorted(labels.items()):
        found = store.find(question)
        if found is None:
            continue
        features = store.profiles[found].axis_features
        for k, axis in enumerate(AXES):
            xs.append(features[axis] + [1.0 if j == k else 0.0 for j in range(len(AXES))])
            ys.append(int(axis in tested))
    x = np.array(xs)
    n = len(TESTED_FEATURES)
    means = x[:, :n].mean(axis=0)
    scales = x[:, :n].std(axis=0)
    scales[scales < 1e-6] = 1.0
    z = np.hstack([(x[:, :n] - means) / scales, x[:, n:]])
    lr = LogisticRegression(C=c, max_iter=3000).fit(z, np.array(ys))
    return TestedAxesModel(
        means=[round(float(v), 6) for v in means],
        scales=[round(float(v), 6) for v in scales],
        weights=[round(float(v), 6) for v in lr.coef_[0][:n]],
        axis_offsets={a: round(float(lr.coef_[0][n + k]), 6) for k, a in enumerate(AXES)},
        intercept=round(float(lr.intercept_[0]), 6),
    )


# --- the axis ladder ----------------------------------------------------------------------------------


def _qwk(y: Sequence[int] | np.ndarray, pred: Sequence[int] | np.ndarray, labels: list[int]) -> float:
    y, pred = [int(v) for v in y], [int(v) for v in pred]
    if len(set(y) | set(pred)) < 2:
        return 0.0
    return float(cohen_kappa_score(y, pred, weights="quadratic", labels=labels))


def _fit_cuts(raw: np.ndarray, y: np.ndarray, start: list[float], levels: list[int]) -> list[float]:
    """Ordered cut points maximising weighted kappa of the levels they give (coordinate ascent)."""
    cuts = list(start)
    values = np.unique(raw)
    mids = (values[:-1] + values[1:]) / 2 if len(values) > 1 else values

    def levels_of(c: list[float]) -> np.ndarray:
        return levels[0] + np.sum(raw[:, None] >= np.array(c)[None, :], axis=1)

    best = _qwk(y, levels_of(cuts), levels)
    for _ in range(20):
        changed = False
        for k in range(len(cuts)):
            low = cuts[k - 1] if k else -np.inf
            high = cuts[k + 1] if k + 1 < len(cuts) else np.inf
            for v in mids[(mids > low) & (mids < high)]:
                trial = [*cuts[:k], float(v), *cuts[k + 1 :]]
                kappa = _qwk(y, levels_of(trial), levels)
                if kappa > best + 1e-12:
                    best, cuts, changed = kappa, trial, True
        if not changed:
            break
    return [round(c, 6) for c in cuts]


def _axis_rows(
    examples: list[Example], evidence: list[AnswerEvidence]
) -> list[tuple[str, dict[str, float], int | None]]:
    rows = []
    for e, ev in zip(examples, evidence, strict=True):
        if e.record.kind == "non_english":
            continue
        for axis in AXES:
            rows.append((axis, axis_features(ev, axis), e.record.axes[axis]))  # type: ignore[index]
    return rows


def fit_axis_model(examples: list[Example], evidence: list[AnswerEvidence]) -> AxisModel:
    rows = _axis_rows(examples, evidence)
    top1 = np.array([f["top1"] for _, f, _ in rows])
    present = np.array([lab is not None for _, _, lab in rows])
    grid = np.round(np.arange(0.05, 0.95, 0.025), 3)
    null_below = float(max(grid, key=lambda t: (np.mean((top1 >= t) == present), -abs(t - 0.5))))
    scored = [(a, f, lab) for a, f, lab in rows if lab is not None and f["top1"] >= null_below]
    x = np.array([[f[k] for k in AXIS_FEATURES] for _, f, _ in scored])
    y = np.array([lab for _, _, lab in scored], dtype=float)
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales < 1e-6] = 1.0
    z = (x - means) / scales
    ridge = Ridge(alpha=1.0, positive=True).fit(z, y)
    pred = z @ ridge.coef_ + ridge.intercept_
    offsets = {
        a: round(
            float(
                ridge.intercept_
                + np.mean([yy - p for (aa, _, _), yy, p in zip(scored, y, pred, strict=True) if aa == a] or [0])
            ),
            6,
        )
        for a in AXES
    }
    raw = np.array([z[i] @ ridge.coef_ + offsets[scored[i][0]] for i in range(len(scored))])
    cuts = _fit_cuts(raw, y.astype(int), [1.5, 2.5, 3.5, 4.5], [1, 2, 3, 4, 5])
    return AxisModel(
        null_below=null_below,
        means=[round(float(v), 6) for v in means],
        scales=[round(float(v), 6) for v in scales],
        weights=[round(float(v), 6) for v in ridge.coef_],
        offsets=offsets,
        thresholds=cuts,
    )


# --- the decision rule ---------------------------------------------------------------------------------


@dataclass
class Judgement:
    """What the decision rule reads for one answer: from the grader, or from the labels (oracle)."""

    scores: dict[str, int | None]
    star: set[str]
    red_flags: list[str]
    flags: list[str]
    raw: dict[str, float] | None = None


def judgement_of(ev: AnswerEvidence, axis_model: AxisModel, star_thresholds: dict[str, float]) -> Judgement:
    axes = judge_axes(ev, axis_model)
    return Judgement(
        scores={a: j.score for a, j in axes.items()},
        star=star_present(ev, star_thresholds),
        red_flags=sorted(ev.red_flags),
        flags=list(ev.flags),
        raw={a: axis_model.continuous(j.raw) if j.score is not None else 0.0 for a, j in axes.items()},
    )


def oracle_judgement(record: DevRecord, flags: list[str]) -> Judgement:
    """The labels themselves, as a perfect judge of axes, STAR and red flags would report them."""
    return Judgement(
        scores={str(a): v for a, v in record.axes.items()},
        star={str(e) for e, v in record.star.items() if v},
        red_flags=[str(f) for f in record.red_flags],
        flags=flags,
    )


def decisions_for(
    examples: list[Example], judgements: list[Judgement], rule: DecisionRule, tested: Callable[[Example], list[str]]
) -> tuple[np.ndarray, np.ndarray]:
    decisions, scores = [], []
    for e, j in zip(examples, judgements, strict=True):
        v = decide(
            j.scores,
            tested(e),
            rule,
            level=e.record.level,
            story=e.profiled.profile.story,
            star=j.star,
            red_flags=j.red_flags,
            flags=j.flags,
            raw=j.raw,
        )
        decisions.append(v.index)
        scores.append(v.score)
    return np.array(decisions), np.array(scores)


def profile_tested(e: Example) -> list[str]:
    return e.profiled.profile.tested_axes


def fit_decision_rule(
    examples: list[Example], judgements: list[Judgement], tested: Callable[[Example], list[str]] = profile_tested
) -> DecisionRule:
    y = np.array([e.label for e in examples])
    grid = [round(v, 2) for v in np.arange(1.0, 5.01, 0.25)]
    rule = DecisionRule(
        one_gap_no_hire_below=1.5,
        hire_at={g: 3.5 for g in LEVEL_ORDER},
        strong_at={g: 4.5 for g in LEVEL_ORDER},
    )

    def kappa(r: DecisionRule) -> float:
        return _qwk(y, decisions_for(examples, judgements, r, tested)[0], list(range(len(DECISIONS))))

    def ordered(r: DecisionRule) -> bool:
        hire = [r.hire_at[g] for g in LEVEL_ORDER]
        strong = [r.strong_at[g] for g in LEVEL_ORDER]
        return (
            hire == sorted(hire) and strong == sorted(strong) and all(s >= h for s, h in zip(strong, hire, strict=True))
        )

    best = kappa(rule)
    for _ in range(10):
        changed = False
        for name in (
            ["one_gap_no_hire_below"] + [f"hire_at.{g}" for g in LEVEL_ORDER] + [f"strong_at.{g}" for g in LEVEL_ORDER]
        ):
            for value in [round(v, 2) for v in np.arange(0.0, 3.01, 0.25)] if name == "one_gap_no_hire_below" else grid:
                trial = rule.model_copy(deep=True)
                if "." in name:
                    field_name, group = name.split(".")
                    getattr(trial, field_name)[group] = value
                else:
                    setattr(trial, name, value)
                if not ordered(trial):
                    continue
                k = kappa(trial)
                if k > best + 1e-12:
                    best, rule, changed = k, trial, True
        if not changed:
            break
    return rule


# --- measuring ---------------------------------------------------------------------------------------


def pair_order(examples: list[Example], scores: np.ndarray) -> tuple[float, int]:
    """Share of same-question pairs with different labels that the scores order like the labels."""
    by_question: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        by_question.setdefault(e.question, []).append(i)
    agree, pairs = 0.0, 0
    for members in by_question.values():
        for i, j in combinations(members, 2):
            if examples[i].label == examples[j].label:
                continue
            pairs += 1
            hi, lo = (i, j) if examples[i].label > examples[j].label else (j, i)
            agree += 1.0 if scores[hi] > scores[lo] else 0.5 if scores[hi] == scores[lo] else 0.0
    return (agree / pairs if pairs else 0.0), pairs


def decision_metrics(examples: list[Example], decisions: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    y = np.array([e.label for e in examples])
    order, pairs = pair_order(examples, scores)
    return {
        "answers": len(examples),
        "qwk": round(_qwk(y, decisions, list(range(len(DECISIONS)))), 4),
        "exact": round(float(np.mean(decisions == y)), 4),
        "within_one": round(float(np.mean(np.abs(decisions - y) <= 1)), 4),
        "pair_order": round(order, 4),
        "pairs": pairs,
    }


def axis_metrics(examples: list[Example], judgements: list[Judgement]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for axis in AXES:
        gold, pred = [], []
        null_agree = []
        for e, j in zip(examples, judgements, strict=True):
            if e.record.kind == "non_english":
                continue
            g, p = e.record.axes[axis], j.scores[axis]  # type: ignore[index]
            null_agree.append((g is None) == (p is None))
            if g is not None and p is not None:
                gold.append(g)
                pred.append(p)
        out[axis] = {
            "weighted_kappa": round(_qwk(gold, pred, [1, 2, 3, 4, 5]), 4),
            "both_scored": len(gold),
            "null_agreement": round(float(np.mean(null_agree)), 4) if null_agree else 0.0,
            "within_one": round(float(np.mean(np.abs(np.array(gold) - np.array(pred)) <= 1)), 4) if gold else 0.0,
        }
    return out


def star_metrics(examples: list[Example], judgements: list[Judgement]) -> dict[str, float]:
    normal = [(e, j) for e, j in zip(examples, judgements, strict=True) if e.record.kind == "normal"]
    return {
        element: round(float(np.mean([e.record.star[element] == (element in j.star) for e, j in normal])), 4)  # type: ignore[index]
        for element in STAR_ELEMENTS
    }


def sentence_metrics(examples: list[Example], evidence: list[AnswerEvidence]) -> dict[str, float]:
    rel_gold = np.concatenate([e.relevant for e in examples if len(e.relevant)])
    rel_pred = np.concatenate([[s.relevant for s in ev.sentences] for ev in evidence if ev.sentences])
    return {"relevance_accuracy": round(float(np.mean(rel_gold == rel_pred)), 4), "sentences": len(rel_gold)}


def coherence_violations(examples: list[Example], judgements: list[Judgement], decisions: np.ndarray) -> dict[str, Any]:
    """Grades whose parts contradict each other: Hire or better while a tested axis is a gap, or Lean No
    Hire or worse while every tested axis is 4+ and nothing (red flag or guard) explains it."""
    bad = 0
    for e, j, d in zip(examples, judgements, decisions, strict=True):
        tested = [j.scores[a] for a in e.profiled.profile.tested_axes]
        if (d >= DECISIONS.index("Hire") and any(v is None or v <= 2 for v in tested)) or (
            d <= DECISIONS.index("Lean No Hire")
            and all(v is not None and v >= 4 for v in tested)
            and not j.red_flags
            and not j.flags
        ):
            bad += 1
    return {"violations": bad, "rate": round(bad / max(1, len(examples)), 4)}


def length_baseline(train: list[Example], test: list[Example]) -> dict[str, Any]:
    """Decisions from the answer's log word count alone: cut points fitted on `train`, applied to `test`."""

    def length(e: Example) -> float:
        return float(np.log1p(len(e.record.answer.split())))

    raw = np.array([length(e) for e in train])
    y = np.array([e.label for e in train])
    quantiles = list(np.quantile(raw, [0.2, 0.4, 0.6, 0.8]))
    cuts = _fit_cuts(raw, y, quantiles, [0, 1, 2, 3, 4])
    test_raw = np.array([length(e) for e in test])
    decisions = np.sum(test_raw[:, None] >= np.array(cuts)[None, :], axis=1)
    return decision_metrics(test, decisions, test_raw)


def _cv_length_baseline(train: list[Example]) -> dict[str, Any]:
    fold = group_folds([e.question for e in train])
    decisions = np.zeros(len(train), int)
    raw = np.array([float(np.log1p(len(e.record.answer.split()))) for e in train])
    for k in range(FOLDS):
        inner = [e for e, f in zip(train, fold, strict=True) if f != k]
        y = np.array([e.label for e in inner])
        r = np.array([float(np.log1p(len(e.record.answer.split()))) for e in inner])
        cuts = _fit_cuts(r, y, list(np.quantile(r, [0.2, 0.4, 0.6, 0.8])), [0, 1, 2, 3, 4])
        for i, f in enumerate(fold):
            if f == k:
                decisions[i] = int(np.sum(raw[i] >= np.array(cuts)))
    return decision_metrics(train, decisions, raw)


def tested_axes_agreement(examples: list[Example]) -> dict[str, float]:
    by_question: dict[str, tuple[set[str], set[str]]] = {}
    for e in examples:
        by_question.setdefault(e.question, (set(e.profiled.profile.tested_axes), set(e.record.tested_axes)))
    jaccard = [len(p & g) / len(p | g) for p, g in by_question.values()]
    return {"questions": len(by_question), "mean_jaccard": round(float(np.mean(jaccard)), 4) if jaccard else 0.0}


# --- the whole fit -------------------------------------------------------------------------------------


@dataclass
class Fitted:
    models: SentenceModels
    axis_model: AxisModel
    star_thresholds: dict[str, float]
    rule: DecisionRule


def fit_all(examples: list[Example], c: dict[str, float] | None = None) -> tuple[Fitted, list[AnswerEvidence]]:
    """Every layer on `examples`; returns the fitted grader and the out-of-fold evidence it was fitted on."""
    evidence = out_of_fold_evidence(examples, c)
    star_thresholds = fit_star_thresholds(examples, evidence)
    axis_model = fit_axis_model(examples, evidence)
    judgements = [judgement_of(ev, axis_model, star_thresholds) for ev in evidence]
    rule = fit_decision_rule(examples, judgements)
    return Fitted(fit_sentence_models(examples, c), axis_model, star_thresholds, rule), evidence


def grade_examples(examples: list[Example], fitted: Fitted) -> tuple[list[AnswerEvidence], list[Judgement]]:
    evidence = [
        assemble(e.prepared, classify_example(e.prepared, fitted.models), e.profiled, _shingles()) for e in examples
    ]
    return evidence, [judgement_of(ev, fitted.axis_model, fitted.star_thresholds) for ev in evidence]


def layer_report(
    examples: list[Example], evidence: list[AnswerEvidence], judgements: list[Judgement], rule: DecisionRule
) -> dict[str, Any]:
    decisions, scores = decisions_for(examples, judgements, rule, profile_tested)
    normal = [i for i, e in enumerate(examples) if e.record.kind == "normal"]
    oracle = [oracle_judgement(e.record, list(ev.flags)) for e, ev in zip(examples, evidence, strict=True)]
    o_dec, o_scores = decisions_for(examples, oracle, rule, profile_tested)
    return {
        "decision": decision_metrics(examples, decisions, scores),
        "decision_normal": decision_metrics([examples[i] for i in normal], decisions[normal], scores[normal]),
        "axes": axis_metrics(examples, judgements),
        "star": star_metrics(examples, judgements),
        "sentences": sentence_metrics(examples, evidence),
        "coherence": coherence_violations(examples, judgements, decisions),
        "oracle_axes_through_rule": decision_metrics(examples, o_dec, o_scores),
        "tested_axes": tested_axes_agreement(examples),
    }


def calibrate(dev_path: Path | str, index: Index, out_dir: Path | None = None) -> dict[str, Any]:
    """Fit on the train split, write the parameters, return the held-out and cross-validated figures."""
    global _corpus_shingles
    from interviewer.grading.reference import corpus_shingles

    dev_path = Path(dev_path)
    records, problems = load_devset(dev_path)
    if problems:
        raise ValueError("the dev set has problems:\n" + "\n".join(problems[:20]))
    store = profiles_for(index)
    _corpus_shingles = corpus_shingles(index)
    train_records = [r for r in records if r.split == "train"]
    heldout_records = [r for r in records if r.split == "heldout"]
    # Tested axes first: every later layer reads the profiles' tested axes.
    tested_model = fit_tested_axes(train_records, store)
    retest(store, tested_model)
    train = build_examples(train_records, index, store)
    heldout = build_examples(heldout_records, index, store)

    # Cross-validated figures on the train split: every layer refitted without the fold's questions.
    fold = group_folds([e.question for e in train])
    cv_evidence: list[AnswerEvidence | None] = [None] * len(train)
    cv_judgements: list[Judgement | None] = [None] * len(train)
    cv_rule: list[DecisionRule | None] = [None] * len(train)
    for k in range(FOLDS):
        inner = [e for e, f in zip(train, fold, strict=True) if f != k]
        outer = [i for i, f in enumerate(fold) if f == k]
        fitted_k, _ = fit_all(inner)
        ev_k, j_k = grade_examples([train[i] for i in outer], fitted_k)
        for i, ev, j in zip(outer, ev_k, j_k, strict=True):
            cv_evidence[i], cv_judgements[i], cv_rule[i] = ev, j, fitted_k.rule
    cv_decisions, cv_scores = [], []
    for e, judged, r in zip(train, cv_judgements, cv_rule, strict=True):
        assert judged is not None and r is not None
        d, s = decisions_for([e], [judged], r, profile_tested)
        cv_decisions.append(int(d[0]))
        cv_scores.append(float(s[0]))
    cv = {
        "decision": decision_metrics(train, np.array(cv_decisions), np.array(cv_scores)),
        "axes": axis_metrics(train, cv_judgements),  # type: ignore[arg-type]
        "star": star_metrics(train, cv_judgements),  # type: ignore[arg-type]
        "sentences": sentence_metrics(train, cv_evidence),  # type: ignore[arg-type]
    }

    fitted, _ = fit_all(train)
    held_evidence, held_judgements = grade_examples(heldout, fitted)
    report: dict[str, Any] = {"dev_set": str(dev_path), "train_answers": len(train), "heldout_answers": len(heldout)}
    if heldout:
        report["heldout"] = layer_report(heldout, held_evidence, held_judgements, fitted.rule)
        report["heldout_length_only_baseline"] = length_baseline(train, heldout)
    report |= {
        "train_cross_validated": cv,
        "train_cross_validated_length_only_baseline": _cv_length_baseline(train),
        "train_in_sample": layer_report(train, *grade_examples(train, fitted), fitted.rule),
    }
    digest = hashlib.sha256(dev_path.read_bytes()).hexdigest()
    fitted.models.dev_set, fitted.models.dev_sha256, fitted.models.command = dev_path.name, digest, COMMAND
    fitted.models.trained_on = len(train)
    from interviewer.grading.calibration import CALIBRATION_PATH, SENTENCE_MODELS_PATH, Calibration

    out_dir = out_dir or CALIBRATION_PATH.parent
    calibration = Calibration(
        tested_axes=tested_model,
        axis_model=fitted.axis_model,
        star_thresholds=fitted.star_thresholds,
        rule=fitted.rule,
        dev_set=dev_path.name,
        dev_sha256=digest,
        trained_on=len(train),
        command=COMMAND,
        report={k: v for k, v in report.items() if k != "train_in_sample"},
    )
    (out_dir / SENTENCE_MODELS_PATH.name).write_text(fitted.models.model_dump_json() + "\n", encoding="utf-8")
    (out_dir / CALIBRATION_PATH.name).write_text(calibration.model_dump_json(indent=1) + "\n", encoding="utf-8")
    report["written"] = [str(out_dir / SENTENCE_MODELS_PATH.name), str(out_dir / CALIBRATION_PATH.name)]
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    from interviewer.settings import Settings

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("dev", type=Path)
    args = parser.parse_args(argv)
    index = Index(Settings())
    if index.count() == 0:
        print("index is empty: ingesting the corpus first", file=sys.stderr)
        index.sync()
    print(json.dumps(calibrate(args.dev, index), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
