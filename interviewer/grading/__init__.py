"""Grading answers against the rubric: the offline engine, its typed Grade, rendering and fitting.

    grade = grade_answer(question, answer, index)   # offline, deterministic, cited
    print(render_markdown(grade))
    report = calibrate("evals/grader_dev.jsonl", index)   # refit calibration.json

Heavy imports (the embedding model, Chroma) happen inside the functions that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from interviewer.grading.grade import Evidence, Grade, GroundingError, check_grounding
from interviewer.grading.render import render_markdown

if TYPE_CHECKING:
    from interviewer.grading.calibration import Calibration
    from interviewer.index import Index

__all__ = [
    "Evidence",
    "Grade",
    "GroundingError",
    "calibrate",
    "check_grounding",
    "grade_answer",
    "render_markdown",
    "warm_up",
]


def grade_answer(
    question: str, answer: str, index: Index, level: str | None = None, calibration: Calibration | None = None
) -> Grade:
    """Grade one answer offline at a level: decision, per-axis scores, STAR, red flags, cited feedback."""
    from interviewer.grading.offline import grade_answer as grade

    return grade(question, answer, index, level, calibration)


def calibrate(dev_path: Path | str, index: Index, out_dir: Path | None = None) -> dict:
    """Fit the offline grader on a labelled JSONL file's train split; return held-out and CV figures."""
    from interviewer.grading.fitting import calibrate as fit

    return fit(dev_path, index, out_dir)


def warm_up(index: Index) -> None:
    """Build every per-process cache (model, key-point embeddings, rubric anchors) before grading."""
    from interviewer.grading.reference import warm_up as warm

    warm(index)
