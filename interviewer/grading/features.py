"""What the offline grader measures on one answer sentence, given the question's profile.

Three groups of numbers, the same at fitting time and at grading time (one function computes them):

- **pair features**: how close the sentence is to *this* question (its text, its key points, its
  probing note) and how much closer than to every other question in the bank (`topic_margin`,
  `topic_z`). A strong sentence from an answer to another question is close to that question, not
  to this one; a platitude is close to nothing in particular.
- **surface features**: numbers, money and time spans, outcome and lasting-change wording, first
  person, hypotheticals, hedges, rubric terms, length. They are inputs to fitted classifiers,
  never rules on their own.
- the sentence's **embedding** (MiniLM, 384 numbers), which carries what the sentence is about.

`LinearModel` is the fitted logistic regression these feed (its parameters live in
grading/sentence_models.json, written by fitting.py); applying it needs only numpy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from interviewer.grading.rubric import all_terms_matcher, axis_matcher, rubric
from interviewer.grading.segments import words

_NUMBER = r"(?<![\w.])\d+(?:[.,:]\d+)*(?:\s?(?:%|percent\b|k\b|m\b|bn\b|x\b|×))?"
_MONEY = r"[$£€]\s?\d[\d,.]*\s?(?:k|m|bn|million|billion)?"
_SPAN_WORDS = (
    "a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|sixty|ninety"
    "|few|several|couple of"
)
_TIME_SPAN = rf"\b(?:\d+|{_SPAN_WORDS})[\s-]+(?:minutes?|hours?|days?|weeks?|months?|quarters?|years?|sprints?)\b"
SPECIFIC = re.compile(f"{_MONEY}|{_NUMBER}|{_TIME_SPAN}", re.IGNORECASE)
MONEY = re.compile(_MONEY, re.IGNORECASE)
OUTCOME = re.compile(
    r"\b(?:reduc|cut|drop|fell|lower|decreas|increas|improv|grew|grow|sav|eliminat|halv|doubl|shrank|shrunk|"
    r"went from|down from|up from|down to|up to|from \S+ to|recover|avoid|zero|stopp|no longer|fewer|faster)\w*",
    re.IGNORECASE,
)
PERMANENT = re.compile(
    r"\b(?:permanent\w*|we now|now we|now every|now all|is now|are now|became (?:the|our|a) \w+|"
    r"since then|from then on|going forward|ever since|standard for|part of our)\b",
    re.IGNORECASE,
)
HYPOTHETICAL = re.compile(r"\b(?:i'd|i would|we'd|we would|i'll|i will|would|could|should)\b", re.IGNORECASE)
HEDGE = re.compile(
    r"\b(?:basically|honestly|i think|i guess|maybe|kind of|sort of|pretty much|usually|generally|try to|"
    r"hopefully|probably|a lot|stuff|things like|at the end of the day)\b",
    re.IGNORECASE,
)
# "I/we" followed by a past-tense verb: someone telling what they did (a STAR action), as a classifier input.
FIRST_PERSON_PAST = re.compile(
    r"\b(?:i|we)\s+(?:then\s+|also\s+|personally\s+)?(?:\w+ed|built|led|ran|set|made|wrote|took|cut|put|got|went|"
    r"began|chose|drove|found|held|kept|sent|spent|told|gave|brought|shipped|split|rolled|sat|met|did|had|won|lost)\b",
    re.IGNORECASE,
)
_I = re.compile(r"\b(?:i|i'd|i've|i'm|i'll|me|my)\b", re.IGNORECASE)
_WE = re.compile(r"\b(?:we|we'd|we've|we're|we'll|us|our)\b", re.IGNORECASE)

PAIR_FEATURES: tuple[str, ...] = (
    "sim_question",
    "sim_point_max",
    "sim_point_top2",
    "sim_probing",
    "topic_margin",
    "topic_z",
)
SURFACE_FEATURES: tuple[str, ...] = (
    "log_words",
    "specific",
    "money",
    "outcome",
    "specific_outcome",
    "permanent",
    "first_i",
    "first_we",
    "hypothetical",
    "hedge",
    "rubric_terms",
    "position",
)
AXIS_IDS = ("scale", "reliability", "cost", "ownership", "evolution")
AXIS_TERM_FEATURES: tuple[str, ...] = tuple(f"terms_{a}" for a in AXIS_IDS)
STAR_IDS = ("situation", "task", "action", "result", "permanent_change")
STAR_CUE_FEATURES: tuple[str, ...] = (*(f"cues_{e}" for e in STAR_IDS), "first_person_past")


def surface(text: str, position: float) -> dict[str, float]:
    """Surface facts of one sentence; `position` is its place in the answer, 0 (first) to 1 (last)."""
    n = len(words(text))
    specific = bool(SPECIFIC.search(text))
    outcome = bool(OUTCOME.search(text))
    return {
        "log_words": float(np.log1p(n)),
        "specific": float(specific),
        "money": float(bool(MONEY.search(text))),
        "outcome": float(outcome),
        "specific_outcome": float(specific and outcome),
        "permanent": float(bool(PERMANENT.search(text))),
        "first_i": float(bool(_I.search(text))),
        "first_we": float(bool(_WE.search(text))),
        "hypothetical": float(bool(HYPOTHETICAL.search(text))),
        "hedge": float(bool(HEDGE.search(text))),
        "rubric_terms": float(np.log1p(len(all_terms_matcher().distinct(text)))),
        "position": position,
    }


def star_cues(text: str) -> dict[str, float]:
    """The rubric's STAR cue phrases (rubric.yaml, written from the corpus's STAR worksheet) per element."""
    from interviewer.grading.rubric import star_matcher

    cues = {f"cues_{e}": float(np.log1p(len(star_matcher(e).find(text)))) for e in STAR_IDS}
    cues["first_person_past"] = float(bool(FIRST_PERSON_PAST.search(text)))
    return cues


def axis_terms(text: str) -> dict[str, float]:
    return {f"terms_{a.id}": float(np.log1p(len(axis_matcher(a.id).distinct(text)))) for a in rubric().axes}


def surface_matrix(texts: list[str]) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Each sentence's surface facts as a row (SURFACE_FEATURES order), and as the dicts behind them."""
    n = len(texts)
    dicts = [surface(t, i / max(1, n - 1)) for i, t in enumerate(texts)]
    return _rows(dicts, SURFACE_FEATURES), dicts


def star_cue_matrix(texts: list[str]) -> np.ndarray:
    return _rows([star_cues(t) for t in texts], STAR_CUE_FEATURES)


def axis_term_matrix(texts: list[str]) -> np.ndarray:
    return _rows([axis_terms(t) for t in texts], AXIS_TERM_FEATURES)


def _rows(dicts: list[dict[str, float]], names: tuple[str, ...]) -> np.ndarray:
    # Each dict is computed once per sentence, then read column by column (a dict per column would
    # rerun every matcher once for every feature).
    return np.array([[d[f] for f in names] for d in dicts], dtype=np.float32).reshape(len(dicts), len(names))


@dataclass(frozen=True)
class Topic:
    """What a sentence is compared with: this question and every other question in the bank.

    `other_questions` and `other_points` hold the other bank questions and their key points (the
    points of question j are rows `other_offsets[j]:other_offsets[j+1]`); questions that ask the same
    thing as this one are left out of them, so a sentence is not penalised for fitting a twin.
    """

    question: np.ndarray
    points: np.ndarray
    probing: np.ndarray | None
    other_questions: np.ndarray
    other_points: np.ndarray
    other_offsets: np.ndarray


def pair_features(vectors: np.ndarray, topic: Topic) -> np.ndarray:
    """One row of PAIR_FEATURES per sentence vector."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, len(PAIR_FEATURES)), dtype=np.float32)
    sim_q = vectors @ topic.question
    if len(topic.points):
        point_sims = vectors @ topic.points.T
        top = np.sort(point_sims, axis=1)
        sim_p = top[:, -1]
        sim_p2 = top[:, -2:].mean(axis=1)
    else:
        sim_p = sim_p2 = sim_q
    sim_probe = vectors @ topic.probing if topic.probing is not None else sim_q
    own = np.maximum(sim_q, sim_p)
    others = _per_question_best(vectors, topic)
    if others.shape[1]:
        margin = own - others.max(axis=1)
        z = (own - others.mean(axis=1)) / (others.std(axis=1) + 1e-6)
    else:
        margin = np.zeros(n)
        z = np.zeros(n)
    return np.column_stack([sim_q, sim_p, sim_p2, sim_probe, margin, z]).astype(np.float32)


def _per_question_best(vectors: np.ndarray, topic: Topic) -> np.ndarray:
    """(sentences × other questions): the closer of each other question and its best key point."""
    best = vectors @ topic.other_questions.T
    offsets = np.asarray(topic.other_offsets, dtype=int)
    if len(topic.other_points):
        sims = vectors @ topic.other_points.T
        has_points = offsets[1:] > offsets[:-1]
        # The maximum over each question's slice of key points, all questions at once.
        starts = offsets[:-1][has_points]
        best[:, has_points] = np.maximum(best[:, has_points], np.maximum.reduceat(sims, starts, axis=1))
    return best


class LinearModel(BaseModel):
    """A fitted logistic regression: standardised features in, class probabilities out."""

    features: list[str]
    classes: list[str]
    means: list[float]
    scales: list[float]
    coef: list[list[float]]  # one row per class (one row in all for a binary model)
    intercept: list[float]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(rows × classes) probabilities; a binary model gives (rows × 2), [P(no), P(yes)]."""
        z = (x - np.asarray(self.means)) / np.asarray(self.scales)
        logits = z @ np.asarray(self.coef).T + np.asarray(self.intercept)
        if logits.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.column_stack([1 - p, p])
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


class SentenceModels(BaseModel):
    """The fitted per-sentence classifiers (fitting.py writes them; the offline engine applies them)."""

    substance: LinearModel  # does the sentence say something (rather than filler or platitude)?
    topic: LinearModel  # is it about this question rather than another one (with its answer's other sentences)?
    topic_floor: float  # on-topic probability at and above which a substantive sentence counts in full
    # Question support: a sentence's closeness to this question's own text and key points (the larger
    # of the two cosines). Below `support_low` it is evidence on no axis, at `support_high` and above it
    # counts in full, linear between: the 5th and 25th percentiles of labelled evidence sentences on the
    # train split. The classifiers above learn from real answers only, so a sentence unlike any of them
    # (office chores with numbers, say) gets whatever probability its grammar suggests; this keeps
    # evidence tied to the question it is evidence for. 0/0: no gate (models fitted before it existed).
    support_low: float = 0.0
    support_high: float = 0.0
    axes: dict[str, LinearModel]  # per axis: is a relevant sentence evidence on it?
    star: dict[str, LinearModel]  # per STAR element: is the sentence that element?
    dev_set: str = ""
    dev_sha256: str = ""
    trained_on: int = 0
    command: str = ""
