"""The typed output of grading, and the rule that keeps it honest.

A Grade carries the answer it grades and the chunks that were retrieved for it, so it can check
itself on construction: every quote must be a verbatim substring of the answer, and every
citation must be the id of a retrieved chunk. A grade that breaks either rule cannot be built,
whichever engine (offline or an LLM) produced it.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field, computed_field, model_validator

from interviewer.grading.rubric import DECISIONS, Decision

# needs_review: set by the LLM engine when its decision lands far above the offline engine's.
FlagName = Literal[
    "possible_injection",
    "off_topic",
    "too_short",
    "keyword_list",
    "non_english",
    "verbatim_copy",
    "far_from_reference",
    "needs_review",
]
FLAG_NAMES: tuple[FlagName, ...] = get_args(FlagName)


class GroundingError(ValueError):
    """A quote that is not in the answer, or a citation of a chunk that was not retrieved."""


class Evidence(BaseModel):
    """What a piece of feedback rests on: the candidate's words and/or a corpus passage."""

    quote: str | None = None  # verbatim substring of the answer
    citation: str | None = None  # id of a retrieved chunk


class Retrieved(BaseModel):
    """A chunk the grader retrieved, and why."""

    id: str
    heading: str
    kind: str
    source: str
    role: Literal["model_answer", "rubric", "rubric_source"]


class AxisGrade(BaseModel):
    axis: str  # rubric axis id
    name: str
    score: int | None = Field(default=None, ge=1, le=5)  # None: not enough evidence to judge
    feedback: str  # what the answer showed on this axis and what was missing, in plain words
    evidence: list[Evidence] = Field(default_factory=list)
    tested: bool = False  # one of the axes this question tests (its profile)
    shown: str = ""  # what the answer showed, quoting the candidate
    missing: str = ""  # what the next level needs that the answer did not show
    capped_by: str | None = None  # a red flag or guard that held the level at 2


class StarCheck(BaseModel):
    element: str  # rubric STAR element id
    name: str
    present: bool
    evidence: list[Evidence] = Field(default_factory=list)


class RedFlagFound(BaseModel):
    flag: str  # rubric red-flag id
    name: str
    evidence: list[Evidence] = Field(default_factory=list)


class Point(BaseModel):
    """A strength or a risk, in a sentence, with what it rests on."""

    text: str
    evidence: list[Evidence] = Field(default_factory=list)


class SentenceJudgement(BaseModel):
    """What one sentence of the answer was judged to show (JSON output; the evidence behind the grade)."""

    text: str  # verbatim part of the answer
    relevance: float  # probability that it is evidence on this question at all
    relevant: bool
    axes: dict[str, float] = Field(default_factory=dict)  # per axis: relevance × probability it evidences the axis
    star: str | None = None  # the STAR element it is, when it is one
    red_flag: str | None = None
    key_point: str | None = None  # the model answer's key point it covers


class KeyPointCheck(BaseModel):
    text: str  # the model answer's key point
    chunk_id: str  # the model-answer chunk it came from
    similarity: float  # best cosine similarity to a sentence of the answer
    covered: bool
    quote: str | None = None  # the answer sentence that covers it, when covered
    # A STAR template's slot ("What broke"): covered when the STAR judgement finds that element.
    star_slot: str | None = None


class Grade(BaseModel):
    question: str
    answer: str
    engine: str
    decision: Decision
    score: float  # overall score on the 0 (No Hire) .. 4 (Strong Hire) scale, after caps
    uncapped_decision: Decision
    caps: list[str] = Field(default_factory=list)  # why the decision was lowered, one line per cap
    summary: str
    axes: list[AxisGrade]
    star: list[StarCheck]
    red_flags: list[RedFlagFound] = Field(default_factory=list)
    strengths: list[Point] = Field(default_factory=list)
    risks: list[Point] = Field(default_factory=list)
    key_points: list[KeyPointCheck] = Field(default_factory=list)
    recommendation: str = ""
    retrieved: list[Retrieved]
    quotes: list[str] = Field(default_factory=list)  # every verbatim quote used, in answer order
    flags: list[FlagName] = Field(default_factory=list)
    signals: dict[str, float] = Field(default_factory=dict)
    model_answer_found_by: str = ""
    level: str = "Senior EM"  # the level the answer was judged at
    level_defaulted: bool = False  # no level was given, so the default was used
    tested_axes: list[str] = Field(default_factory=list)  # the axes the question tests (its profile)
    story_question: bool = False  # the question asks for a story: STAR completeness is part of the bar
    profile_inferred: bool = False  # the question's profile came from retrieval, not its own model answer
    decision_steps: list[str] = Field(default_factory=list)  # the decision rule as applied, in words
    sentences: list[SentenceJudgement] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def citations(self) -> list[str]:
        """Ids of the retrieved chunks that some feedback cites, in first-cited order."""
        seen: dict[str, None] = {}
        for evidence in self.all_evidence():
            if evidence.citation:
                seen.setdefault(evidence.citation, None)
        for point in self.key_points:
            seen.setdefault(point.chunk_id, None)
        return list(seen)

    @property
    def decision_index(self) -> int:
        return DECISIONS.index(self.decision)

    @property
    def covered_points(self) -> list[KeyPointCheck]:
        return [p for p in self.key_points if p.covered]

    @property
    def missed_points(self) -> list[KeyPointCheck]:
        return [p for p in self.key_points if not p.covered]

    def all_evidence(self) -> list[Evidence]:
        found: list[Evidence] = []
        for axis in self.axes:
            found.extend(axis.evidence)
        for check in self.star:
            found.extend(check.evidence)
        for flag in self.red_flags:
            found.extend(flag.evidence)
        for point in [*self.strengths, *self.risks]:
            found.extend(point.evidence)
        return found

    @model_validator(mode="after")
    def _grounded(self) -> Grade:
        check_grounding(self)
        return self


def check_grounding(grade: Grade) -> None:
    """Raise GroundingError unless every quote is in the answer and every citation was retrieved."""
    retrieved = {r.id for r in grade.retrieved}
    quotes = [e.quote for e in grade.all_evidence() if e.quote is not None]
    quotes += grade.quotes + [p.quote for p in grade.key_points if p.quote is not None]
    quotes += [s.text for s in grade.sentences]
    for quote in quotes:
        if not quote or quote not in grade.answer:
            raise GroundingError(f"quote is not a verbatim part of the answer: {quote!r}")
    cited = [e.citation for e in grade.all_evidence() if e.citation is not None]
    cited += [p.chunk_id for p in grade.key_points]
    for cid in cited:
        if cid not in retrieved:
            raise GroundingError(f"citation is not a retrieved chunk: {cid!r}")
