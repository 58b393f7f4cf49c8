"""The offline grader's fitted parameters, and where they are read from.

Two files beside this module, both written by `interviewer eval calibrate` (fitting.py) from the dev
set's train split and recording the dev set's SHA-256 and the command that wrote them:
sentence_models.json (the per-sentence classifiers) and calibration.json (the STAR thresholds, the
axis ladder, the decision rule's thresholds, and the figures measured when they were fitted).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from interviewer.grading.axes import AxisModel
from interviewer.grading.decision import DecisionRule
from interviewer.grading.features import SentenceModels
from interviewer.profiles import TestedAxesModel
from interviewer.resources import package_path

CALIBRATION_PATH = package_path("grading", "calibration.json")
SENTENCE_MODELS_PATH = package_path("grading", "sentence_models.json")


class Calibration(BaseModel):
    tested_axes: TestedAxesModel
    axis_model: AxisModel
    star_thresholds: dict[str, float]
    rule: DecisionRule
    dev_set: str = ""
    dev_sha256: str = ""
    trained_on: int = 0
    command: str = ""
    report: dict[str, Any] = Field(default_factory=dict)


def _missing(path: Path) -> FileNotFoundError:
    return FileNotFoundError(f"{path} is missing: run `interviewer eval calibrate evals/grader_dev.jsonl` to fit it")


@cache
def _calibration(path: str) -> Calibration:
    return Calibration.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


@cache
def _models(path: str) -> SentenceModels:
    return SentenceModels.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def load_calibration(path: Path = CALIBRATION_PATH) -> Calibration:
    if not path.exists():
        raise _missing(path)
    return _calibration(str(path))


def load_sentence_models(path: Path = SENTENCE_MODELS_PATH) -> SentenceModels:
    if not path.exists():
        raise _missing(path)
    return _models(str(path))
