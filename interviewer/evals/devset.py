"""The labelled grader dev set (v2): one typed record per answer, and the checks every line must pass.

The format and the labelling rules are in evals/LABELING.md. `python -m interviewer.evals.devset FILE...`
checks files and prints one problem per line (exit 1 when there is any), plus the length/label
Spearman among normal answers, which the dev set is written to keep low.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from interviewer.grading.rubric import DECISIONS, Decision

AXES = ("scale", "reliability", "cost", "ownership", "evolution")
STAR = ("situation", "task", "action", "result", "permanent_change")
RED_FLAGS = ("tool_first", "no_cost_awareness", "vague_ownership", "hero_narrative", "no_evolution_path")
LEVELS = ("EM", "Senior EM", "Director", "Associate Director")
KINDS = ("normal", "injection", "keyword_stuffing", "off_topic", "too_short", "non_english", "verbatim_copy")

AxisId = Literal["scale", "reliability", "cost", "ownership", "evolution"]
StarId = Literal["situation", "task", "action", "result", "permanent_change"]
RedFlagId = Literal["tool_first", "no_cost_awareness", "vague_ownership", "hero_narrative", "no_evolution_path"]


class LabelledSentence(BaseModel):
    text: str = Field(min_length=1)
    relevant: bool
    axes: list[AxisId] = Field(default_factory=list)
    star: StarId | None = None
    red_flag: RedFlagId | None = None
    para_break_before: bool = False


class DevRecord(BaseModel):
    id: str = Field(min_length=1)
    split: Literal["train", "heldout"]
    question: str = Field(min_length=1)
    level: Literal["EM", "Senior EM", "Director", "Associate Director"]
    kind: Literal["normal", "injection", "keyword_stuffing", "off_topic", "too_short", "non_english", "verbatim_copy"]
    label: Decision
    tested_axes: list[AxisId] = Field(min_length=1, max_length=3)
    story_question: bool
    axes: dict[AxisId, int | None]
    star: dict[StarId, bool]
    red_flags: list[RedFlagId] = Field(default_factory=list)
    why: str = Field(min_length=1)
    sentences: list[LabelledSentence] = Field(min_length=1)
    answer: str = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> DevRecord:
        if set(self.axes) != set(AXES):
            raise ValueError(f"axes must give all five axes, got {sorted(self.axes)}")
        for axis, score in self.axes.items():
            if score is not None and not 1 <= score <= 5:
                raise ValueError(f"axis {axis} score {score} is not 1-5 or null")
        if set(self.star) != set(STAR):
            raise ValueError(f"star must give all five elements, got {sorted(self.star)}")
        joined = ""
        for i, s in enumerate(self.sentences):
            if i:
                joined += "\n\n" if s.para_break_before else " "
            joined += s.text
        if joined != self.answer:
            raise ValueError("answer is not the sentences joined with single spaces (or \\n\\n at para_break_before)")
        for s in self.sentences:
            if not s.relevant and s.axes:
                raise ValueError(f"an irrelevant sentence has axes: {s.text[:60]!r}")
        if self.kind == "normal":
            _check_invariants(self)
        return self


def _check_invariants(r: DevRecord) -> None:
    tested = [r.axes[a] for a in r.tested_axes]
    decision = DECISIONS.index(r.label)
    if decision >= DECISIONS.index("Hire") and any(s is None or s <= 2 for s in tested):
        shown = dict(zip(r.tested_axes, tested, strict=True))
        raise ValueError(f"{r.label} while a tested axis is null or <= 2: {shown}")
    all_strong = all(s is not None and s >= 4 for s in tested)
    if decision <= DECISIONS.index("Lean No Hire") and all_strong and not r.red_flags:
        raise ValueError(f"{r.label} while every tested axis is >= 4 and no red flag is raised")


def load(path: Path) -> tuple[list[DevRecord], list[str]]:
    records: list[DevRecord] = []
    problems: list[str] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(DevRecord.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            problems.append(f"{path}:{lineno}: {exc}")
    return records, problems


def main(argv: list[str] | None = None) -> int:
    from scipy.stats import spearmanr

    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    records: list[DevRecord] = []
    problems: list[str] = []
    for path in paths:
        got, bad = load(path)
        records += got
        problems += bad
    seen: dict[str, str] = {}
    split_of: dict[str, str] = {}
    for r in records:
        if r.id in seen:
            problems.append(f"duplicate id {r.id}")
        seen[r.id] = r.question
        if split_of.setdefault(r.question, r.split) != r.split:
            problems.append(f"question in both splits: {r.question[:70]!r}")
    for p in problems:
        print(p)
    normal = [r for r in records if r.kind == "normal"]
    for split in ("train", "heldout", None):
        rows = [r for r in normal if split is None or r.split == split]
        if len(rows) > 2:
            rho = spearmanr([len(r.answer.split()) for r in rows], [DECISIONS.index(r.label) for r in rows]).statistic
            print(f"{split or 'all'}: {len(rows)} normal answers, Spearman(word count, label) = {rho:.3f}")
    print(f"{len(records)} records, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
