"""Axis scores, 1–5 or "not enough evidence", from the sentences that evidence each axis.

Per axis, the answer's evidence is summarised in a few numbers, each read off the sentences that are
relevant to the question and on that axis (`SentenceEvidence.on(axis)` = relevance × axis
probability): how strong the best one and the second-best one are, how many there are (at most
four count), whether the evidence holds numbers, a measured outcome or a lasting change, and how much
of the model answer the answer covers. Length as such is not among them.

The axis is "not enough evidence" when no sentence evidences it at least `null_below`; otherwise a
linear score of those numbers (one set of weights for every axis, an offset per axis) is cut into
levels 1–5 by four thresholds. Everything is fitted on the per-axis labels of the dev set's train
split (fitting.py). Two rules from the rubric then cap a level: a red flag caps the axis it names at
2 ("Scale is answered with a tool" is level 1 of Scale), and a pasted keyword list caps every axis at 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from interviewer.grading.evidence import AXES, AnswerEvidence

AXIS_FEATURES: tuple[str, ...] = (
    "top1",
    "top2",
    "strong",
    "specific",
    "outcome",
    "permanent",
    "coverage",
)
STRONG = 0.5  # a sentence this strongly on the axis counts towards "strong"
MAX_STRONG = 4

# The axis each red flag is about (rubric.yaml: tool-first is level 1 of Scale; the others name theirs).
RED_FLAG_AXIS = {
    "tool_first": "scale",
    "no_cost_awareness": "cost",
    "vague_ownership": "ownership",
    "hero_narrative": "reliability",
    "no_evolution_path": "evolution",
}
CAPPED_LEVEL = 2


def axis_features(evidence: AnswerEvidence, axis: str) -> dict[str, float]:
    on = sorted((s.on(axis) for s in evidence.sentences), reverse=True)
    top1 = on[0] if on else 0.0
    top2 = on[1] if len(on) > 1 else 0.0
    strong = min(MAX_STRONG, sum(1 for v in on if v >= STRONG))
    points = evidence.key_points
    return {
        "top1": top1,
        "top2": top2,
        "strong": float(strong),
        "specific": max((s.on(axis) for s in evidence.sentences if s.specific), default=0.0),
        "outcome": max((s.on(axis) for s in evidence.sentences if s.outcome), default=0.0),
        "permanent": max((s.on(axis) for s in evidence.sentences if s.permanent), default=0.0),
        "coverage": sum(1 for k in points if k.sentence is not None) / len(points) if points else 0.0,
    }


class AxisModel(BaseModel):
    """Fitted parameters of the axis ladder (written by fitting.py into calibration.json)."""

    features: list[str] = Field(default_factory=lambda: list(AXIS_FEATURES))
    null_below: float  # best sentence's strength on the axis below this: not enough evidence
    means: list[float]
    scales: list[float]
    weights: list[float]
    offsets: dict[str, float]  # per axis
    thresholds: list[float] = Field(min_length=4, max_length=4)  # 1|2, 2|3, 3|4, 4|5

    def raw(self, values: dict[str, float], axis: str) -> float:
        x = np.array([values[f] for f in self.features])
        z = (x - np.array(self.means)) / np.array(self.scales)
        return float(z @ np.array(self.weights) + self.offsets.get(axis, 0.0))

    def level(self, raw: float) -> int:
        return 1 + int(sum(1 for t in self.thresholds if raw >= t))

    def continuous(self, raw: float) -> float:
        """The raw score on the 1–5 scale, linear between the thresholds (to order answers within a level)."""
        cuts = self.thresholds
        knots = [cuts[0] - (cuts[1] - cuts[0]), *cuts, cuts[-1] + (cuts[-1] - cuts[-2])]
        return float(np.interp(raw, knots, [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]))


@dataclass(frozen=True)
class AxisJudgement:
    axis: str
    score: int | None  # None: not enough evidence
    raw: float  # the continuous score before it was cut into levels (for ordering answers)
    sentences: list[int]  # the evidence, strongest first
    capped_by: str | None = None  # a red flag or the keyword guard


def judge_axes(evidence: AnswerEvidence, model: AxisModel) -> dict[str, AxisJudgement]:
    not_assessed = "non_english" in evidence.flags
    keyword_list = "keyword_list" in evidence.flags
    flagged_axes = {RED_FLAG_AXIS[f]: f for f in evidence.red_flags if f in RED_FLAG_AXIS}
    out: dict[str, AxisJudgement] = {}
    for axis in AXES:
        values = axis_features(evidence, axis)
        order = sorted(
            (i for i, s in enumerate(evidence.sentences) if s.on(axis) >= model.null_below),
            key=lambda i: -evidence.sentences[i].on(axis),
        )
        if not_assessed or values["top1"] < model.null_below:
            out[axis] = AxisJudgement(axis, None, 0.0, [])
            continue
        raw = model.raw(values, axis)
        level = model.level(raw)
        capped_by = None
        if axis in flagged_axes and level > CAPPED_LEVEL:
            level, capped_by = CAPPED_LEVEL, flagged_axes[axis]
        elif keyword_list and level > CAPPED_LEVEL:
            level, capped_by = CAPPED_LEVEL, "keyword_list"
        out[axis] = AxisJudgement(axis, level, raw, order, capped_by)
    return out
