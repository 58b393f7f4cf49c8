"""The deterministic decision rule: signals -> axis scores -> overall score -> decision -> caps.

Axis scores (1–5, or None for "not enough evidence") follow a fixed, documented ladder on the
axis's evidence; they are not fitted, because the dev set labels decisions, not axes. The overall
score is a linear combination of standardised signals (axis scores among them) whose weights, and
the four thresholds that cut it into the five decisions, are fitted on the labelled dev set by
fitting.py and stored in calibration.json. The score is on the label scale: 0 = No Hire ...
4 = Strong Hire.

Caps, applied after the thresholds, can only lower a decision:
- possible_injection: No Hire. Text that tries to steer the grader is misconduct, whatever else the
  answer says (the dev set labels it so: "misaligned behaviour"). A ceiling would not be enough: the
  attack text is cut out before measuring, and cutting a weak answer's worst sentences along with it
  could lift it towards the ceiling. The axes are still measured, for the feedback.
- keyword_list, off_topic, too_short: at most Lean No Hire. Each means the answer offers no
  assessable evidence on the question asked, and the rubric's Lean No Hire, "below bar on one
  critical axis", is the most such an answer can earn until a follow-up gets a real answer.
- non_english: Lean No Hire, not assessed. The panel runs in English; the grader cannot read the
  answer, so its signals mean nothing and the decision is "below bar, ask again in English" rather
  than a judgement of content it could not read.
- verbatim_copy: at most Lean Hire. A recited model answer shows the candidate knows the script,
  not that they did it ("capped at Lean Hire pending probing").
- far_from_reference: at most Lean Hire. The answer's sentences are, on average, further from the
  reference answer's key points than a fitted floor (soft coverage); such an answer may be a good
  answer to a neighbouring question, which embeddings alone cannot tell from this one. The floor is
  fitted with the thresholds (0 switches it off).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from interviewer.grading.rubric import DECISIONS, Decision
from interviewer.grading.signals import AxisEvidence, Measurement
from interviewer.resources import package_path

CALIBRATION_PATH = package_path("grading", "calibration.json")

LEAN_NO_HIRE = DECISIONS.index("Lean No Hire")
LEAN_HIRE = DECISIONS.index("Lean Hire")
NO_HIRE = DECISIONS.index("No Hire")
CAPS: dict[str, int] = {
    "possible_injection": NO_HIRE,
    "keyword_list": LEAN_NO_HIRE,
    "off_topic": LEAN_NO_HIRE,
    "too_short": LEAN_NO_HIRE,
    "non_english": LEAN_NO_HIRE,
    "verbatim_copy": LEAN_HIRE,
    "far_from_reference": LEAN_HIRE,
}
CAP_REASONS: dict[str, str] = {
    "possible_injection": "text addressed to the grader was removed; trying to steer the grade is misconduct: No Hire",
    "keyword_list": "a list of rubric terms rather than an account of what was done: capped at Lean No Hire",
    "off_topic": "the answer is not about the question asked: capped at Lean No Hire",
    "too_short": "too short to show evidence on any axis: capped at Lean No Hire",
    "non_english": "not in English, the panel's language, so not assessed: Lean No Hire",
    "verbatim_copy": "recited from the prep material rather than told from experience: capped at Lean Hire",
    "far_from_reference": (
        "says little of what the reference answer covers (possibly an answer to a neighbouring question): "
        "capped at Lean Hire until a follow-up shows more"
    ),
}
# Flags that make the grade "not assessed": the decision is the cap itself, not a content judgement.
NOT_ASSESSED = frozenset({"non_english"})

# Red flags lower the axis they are about (rubric.yaml: tool-first is level 1 of Scale, "Scale is
# answered with a tool"; the others name their axis).
RED_FLAG_AXIS = {
    "tool_first": "scale",
    "no_cost_awareness": "cost",
    "vague_ownership": "ownership",
    "hero_narrative": "reliability",
    "no_evolution_path": "evolution",
}

# The signals the overall score combines: every content signal measured (guard-only measurements
# such as fragment share or verbatim share are left to the guards).
FEATURES: tuple[str, ...] = (
    "log_substantive_words",
    "coverage",
    "soft_coverage",
    "relevance_question",
    "relevance_model",
    "topicality",
    "log_specific_items",
    "specific_sentence_share",
    "log_quantified_outcomes",
    "permanent_change",
    "log_rubric_terms",
    "star_elements",
    "i_share",
    "first_person_rate",
    "log_decision_rights",
    "hypothetical_share",
    "hedges_per_100_words",
    "red_flags",
    "axes_with_evidence",
    "axis_score_mean",
)


# The direction each feature may move the score: more of it is better (+1) or worse (-1), as the
# rubric reads. The fit may not reverse a direction (a weight is 0 rather than the wrong sign): with
# correlated features an unconstrained fit learns that, say, being less relevant to the question
# scores higher once length is accounted for, and padding an answer with filler exploits exactly that.
DIRECTIONS: dict[str, int] = {
    "log_substantive_words": 1,
    "coverage": 1,
    "soft_coverage": 1,
    "relevance_question": 1,
    "relevance_model": 1,
    "topicality": 1,
    "log_specific_items": 1,
    "specific_sentence_share": 1,
    "log_quantified_outcomes": 1,
    "permanent_change": 1,
    "log_rubric_terms": 1,
    "star_elements": 1,
    "i_share": 1,  # says what they did themselves (Ownership)
    "first_person_rate": 1,  # tells what happened to them, not what one should do
    "log_decision_rights": 1,
    "hypothetical_share": -1,  # "I would..." instead of "I did..."
    "hedges_per_100_words": -1,
    "red_flags": -1,
    "axes_with_evidence": 1,
    "axis_score_mean": 1,
}


def axis_score(evidence: AxisEvidence, red_flags: set[str], keyword_list: bool) -> int | None:
    """The axis ladder: evidence, then breadth, specifics, outcomes, then what changed for good."""
    if not evidence.sentences:
        return None
    score = 1
    if len(evidence.sentences) >= 2 or len(evidence.terms) >= 2:
        score += 1  # more than a passing mention
    if evidence.specific:
        score += 1  # numbers, money or time spans where the axis is discussed
    if evidence.outcome:
        score += 1  # a measured result on this axis
    if evidence.permanent or (len(evidence.sentences) >= 3 and len(evidence.terms) >= 4):
        score += 1  # made it stick, or covered the axis in depth
    if len(evidence.sentences) < 2:
        score = min(score, 3)  # one sentence cannot show level-4 judgement
    if any(RED_FLAG_AXIS.get(flag) == evidence.axis for flag in red_flags) or keyword_list:
        score = min(score, 2)
    return score


def axis_scores(measurement: Measurement) -> dict[str, int | None]:
    if NOT_ASSESSED & set(measurement.flags):
        return dict.fromkeys(measurement.axes)
    flags = set(measurement.red_flags)
    keyword_list = "keyword_list" in measurement.flags
    return {axis: axis_score(ev, flags, keyword_list) for axis, ev in measurement.axes.items()}


def features(measurement: Measurement, scores: dict[str, int | None]) -> dict[str, float]:
    s = measurement.signals
    known = [v for v in scores.values() if v is not None]
    return {
        "log_substantive_words": float(np.log1p(s["substantive_words"])),
        "coverage": s["coverage"],
        "soft_coverage": s["soft_coverage"],
        "relevance_question": s["relevance_question"],
        "relevance_model": s["relevance_model"],
        "topicality": s["topicality"],
        "log_specific_items": float(np.log1p(s["specific_items"])),
        "specific_sentence_share": s["specific_sentence_share"],
        "log_quantified_outcomes": float(np.log1p(s["quantified_outcomes"])),
        "permanent_change": s["permanent_change"],
        "log_rubric_terms": float(np.log1p(s["rubric_terms"])),
        "star_elements": s["star_elements"],
        "i_share": s["i_share"],
        "first_person_rate": s["first_person_rate"],
        "log_decision_rights": float(np.log1p(s["decision_rights"])),
        "hypothetical_share": s["hypothetical_share"],
        "hedges_per_100_words": s["hedges_per_100_words"],
        "red_flags": s["red_flags"],
        "axes_with_evidence": s["axes_with_evidence"],
        # Axes without evidence count as 0: saying nothing on an axis is weaker than saying little.
        "axis_score_mean": float(sum(known)) / len(scores) if scores else 0.0,
    }


class Calibration(BaseModel):
    """Fitted parameters of the overall score and the decision thresholds (written by fitting.py)."""

    features: list[str]
    means: list[float]
    scales: list[float]
    weights: list[float]
    intercept: float
    thresholds: list[float] = Field(min_length=4, max_length=4)  # No Hire | LNH | LH | Hire | SH
    coverage_floor: float = 0.0  # soft coverage below this: far_from_reference
    alpha: float = 1.0
    trained_on: int = 0
    dev_set: str = ""
    dev_sha256: str = ""
    command: str = ""
    cross_validation: dict = Field(default_factory=dict)

    def score(self, values: dict[str, float]) -> float:
        x = np.array([values[f] for f in self.features], dtype=float)
        z = (x - np.array(self.means)) / np.array(self.scales)
        return float(z @ np.array(self.weights) + self.intercept)


@cache
def _load(path: str) -> Calibration:
    return Calibration.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def load_calibration(path: Path = CALIBRATION_PATH) -> Calibration:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run `python -m interviewer.grading.fitting evals/grader_dev.jsonl` to fit it"
        )
    return _load(str(path))


def reference_flags(values: dict[str, float], calibration: Calibration) -> list[str]:
    """Flags that depend on fitted parameters (the guards' flags do not)."""
    return ["far_from_reference"] if values["soft_coverage"] < calibration.coverage_floor else []


def threshold_index(score: float, thresholds: list[float]) -> int:
    return int(sum(1 for t in thresholds if score >= t))


def apply_caps(score: float, flags: Sequence[str], thresholds: list[float]) -> tuple[int, float, int]:
    """(decision index, score after caps, decision index before caps).

    A capped score is pulled down to just under the next decision's threshold, so ranking answers by
    score agrees with ranking them by decision; a not-assessed answer sits inside its decision's band.
    """
    uncapped = threshold_index(score, thresholds)
    cap = min((CAPS[f] for f in flags if f in CAPS), default=len(DECISIONS) - 1)
    capped_score = score
    if cap < len(DECISIONS) - 1:
        capped_score = min(score, thresholds[cap] - 1e-6)
    if NOT_ASSESSED & set(flags):
        low = thresholds[cap - 1] if cap > 0 else capped_score
        capped_score = max(capped_score, low)
        return cap, capped_score, uncapped
    return min(uncapped, cap), capped_score, uncapped


def decide(score: float, flags: Sequence[str], thresholds: list[float]) -> tuple[Decision, float, Decision]:
    index, capped_score, uncapped = apply_caps(score, flags, thresholds)
    return DECISIONS[index], capped_score, DECISIONS[uncapped]
