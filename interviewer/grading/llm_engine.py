"""The LLM grading engine: any OpenAI-compatible model, held to the same evidence rules as offline.

The model gets the rubric with level anchors, the retrieved passages as numbered references, and the
answer spotlighted as untrusted data (random delimiter, datamarking, instructions repeated after
it). It returns JSON with feedback before each axis score; that JSON is validated (retried once
with the validation error, then the offline grade is used, and the grade says so). Citations that
are not retrieved passages and quotes that are not verbatim in the answer are dropped and counted.
The decision is not the model's: it comes from the model's axis scores through the same fitted
rule and caps as the offline engine, and it is flagged for review when it lands two or more levels
above the offline engine's decision.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from interviewer.grading.grade import AxisGrade, Evidence, Grade, Point, RedFlagFound, StarCheck
from interviewer.grading.offline import build_grade
from interviewer.grading.reference import background, reference_for
from interviewer.grading.rubric import DECISIONS, rubric
from interviewer.grading.rule import Calibration, decide, features, load_calibration
from interviewer.grading.signals import Measurement, measure
from interviewer.index import Hit, Index
from interviewer.llm import ChatModel, EmptyReply, LLMError
from interviewer.prompts import render_prompt

MAX_REFERENCE_CHARS = 1500
REVIEW_GAP = 2


class _Item(BaseModel):
    text: str = Field(min_length=1, max_length=600)
    quotes: list[str] = Field(default_factory=list, max_length=6)
    citations: list[int] = Field(default_factory=list, max_length=6)


class _Axis(BaseModel):
    axis: str
    feedback: str = Field(min_length=1, max_length=1200)
    score: int | None = Field(ge=1, le=5)
    quotes: list[str] = Field(default_factory=list, max_length=6)
    citations: list[int] = Field(default_factory=list, max_length=6)


class _Flag(BaseModel):
    flag: str
    quote: str | None = None


class LLMAssessment(BaseModel):
    """The JSON the model must return. Anything else is invalid and retried."""

    axes: list[_Axis]
    star: dict[str, bool]
    red_flags: list[_Flag] = Field(default_factory=list)
    strengths: list[_Item] = Field(default_factory=list, max_length=8)
    risks: list[_Item] = Field(default_factory=list, max_length=8)
    summary: str = Field(min_length=1, max_length=1200)
    recommendation: str = Field(default="", max_length=600)

    @model_validator(mode="after")
    def _complete(self) -> LLMAssessment:
        r = rubric()
        ids = sorted(a.axis for a in self.axes)
        if ids != sorted(a.id for a in r.axes):
            raise ValueError(f"axes must be exactly {[a.id for a in r.axes]}, got {ids}")
        missing = {e.id for e in r.star} - set(self.star)
        if missing:
            raise ValueError(f"star is missing {sorted(missing)}")
        known = {f.id for f in r.red_flags}
        unknown = [f.flag for f in self.red_flags if f.flag not in known]
        if unknown:
            raise ValueError(f"unknown red flags {unknown}; use {sorted(known)}")
        return self

    @field_validator("star", mode="before")
    @classmethod
    def _bools(cls, value: object) -> object:
        if isinstance(value, dict) and not all(isinstance(v, bool) for v in value.values()):
            raise ValueError("star values must be true or false")
        return value


@dataclass
class LLMGradeResult:
    grade: Grade
    notes: list[str] = field(default_factory=list)
    attempts: int = 0
    fell_back: bool = False
    invalid_replies: int = 0
    dropped_citations: int = 0
    dropped_quotes: int = 0


def parse_reply(reply: str) -> LLMAssessment:
    """The JSON object in a reply (code fences and stray prose around it are tolerated)."""
    match = re.search(r"\{.*\}", reply, re.DOTALL)
    if not match:
        raise ValueError("no JSON object in the reply")
    return LLMAssessment.model_validate(json.loads(match.group(0)))


def build_messages(question: str, answer: str, references: list[Hit]) -> list[tuple[str, str]]:
    r = rubric()
    refs = [{"heading": h.heading, "text": h.text[:MAX_REFERENCE_CHARS]} for h in references]
    user = render_prompt(
        "grade.md.j2",
        decisions=r.decisions,
        axes=r.axes,
        star=r.star,
        red_flags=r.red_flags,
        references=refs,
        question=question,
        answer=answer,
    )
    return [("system", render_prompt("grade_system.md.j2")), ("user", user)]


def grade_with_llm(question: str, answer: str, index: Index, model: ChatModel, max_attempts: int = 2) -> LLMGradeResult:
    calibration = load_calibration()
    reference = reference_for(question, index)
    m = measure(answer, reference, background(index))
    offline = build_grade(question, answer, reference, m, calibration, index)
    references = [*reference.model_chunks, *reference.rubric_chunks]
    messages = build_messages(question, answer, references)
    result = LLMGradeResult(grade=offline)
    assessment: LLMAssessment | None = None
    problem = ""
    for attempt in range(1, max_attempts + 1):
        result.attempts = attempt
        try:
            reply = model.complete(messages)
        except EmptyReply as exc:  # nothing to validate: ask again, like an invalid reply
            result.invalid_replies += 1
            problem = str(exc)
            continue
        except LLMError as exc:
            problem = str(exc)
            break  # the client already retried transport errors; do not hammer a failing endpoint
        try:
            assessment = parse_reply(reply)
            break
        except (ValueError, ValidationError) as exc:
            result.invalid_replies += 1
            problem = f"invalid grade JSON: {str(exc)[:300]}"
            messages = [
                *messages,
                ("assistant", reply[:4000]),
                ("user", f"That reply was not valid ({problem}). Reply again with only the JSON object."),
            ]
    if assessment is None:
        result.fell_back = True
        result.notes.append(f"{model.id} could not grade this answer ({problem}); graded by the offline engine")
        return result
    result.grade = _to_grade(assessment, question, answer, references, offline, m, calibration, model.id, result)
    return result


def _to_grade(
    a: LLMAssessment,
    question: str,
    answer: str,
    references: list[Hit],
    offline: Grade,
    m: Measurement,
    calibration: Calibration,
    engine: str,
    result: LLMGradeResult,
) -> Grade:
    r = rubric()
    ids = [h.id for h in references]

    def cite(numbers: list[int]) -> list[str]:
        valid = [ids[n - 1] for n in numbers if 1 <= n <= len(ids)]
        result.dropped_citations += len(numbers) - len(valid)
        return valid

    def verbatim(quotes: list[str]) -> list[str]:
        valid = [q for q in quotes if q and q in answer]
        result.dropped_quotes += len(quotes) - len(valid)
        return valid

    def evidence(quotes: list[str], citations: list[int]) -> list[Evidence]:
        return [Evidence(quote=q) for q in verbatim(quotes)] + [Evidence(citation=c) for c in cite(citations)]

    by_axis = {x.axis: x for x in a.axes}
    axes = [
        AxisGrade(
            axis=axis.id,
            name=axis.name,
            score=by_axis[axis.id].score,
            feedback=by_axis[axis.id].feedback,
            evidence=evidence(by_axis[axis.id].quotes, by_axis[axis.id].citations),
        )
        for axis in r.axes
    ]
    star = [StarCheck(element=e.id, name=e.name, present=bool(a.star.get(e.id))) for e in r.star]
    names = {f.id: f.name for f in r.red_flags}
    flags_found = [
        RedFlagFound(flag=f.flag, name=names[f.flag], evidence=[Evidence(quote=q) for q in verbatim([f.quote or ""])])
        for f in a.red_flags
    ]
    scores = {x.axis: x.score for x in axes}
    decision, score, uncapped = decide(calibration.score(features(m, scores)), m.flags, calibration.thresholds)
    flags = list(offline.flags)
    gap = DECISIONS.index(decision) - DECISIONS.index(offline.decision)
    if gap >= REVIEW_GAP:
        flags.append("needs_review")
        result.notes.append(
            f"{engine} decided {decision}, {gap} levels above the offline engine "
            f"({offline.decision}): flagged for review"
        )
    if result.dropped_citations or result.dropped_quotes:
        result.notes.append(
            f"dropped {result.dropped_citations} citation(s) not among the retrieved passages and "
            f"{result.dropped_quotes} quote(s) not found verbatim in the answer"
        )
    quotes = sorted({e.quote for ax in axes for e in ax.evidence if e.quote}, key=answer.find)
    return Grade(
        question=question,
        answer=answer,
        engine=engine,
        decision=decision,
        score=score,
        uncapped_decision=uncapped,
        caps=list(offline.caps),
        summary=a.summary,
        axes=axes,
        star=star,
        red_flags=flags_found,
        strengths=[Point(text=s.text, evidence=evidence(s.quotes, s.citations)) for s in a.strengths],
        risks=[Point(text=s.text, evidence=evidence(s.quotes, s.citations)) for s in a.risks],
        key_points=offline.key_points,
        recommendation=a.recommendation,
        retrieved=offline.retrieved,
        quotes=quotes,
        flags=flags,  # type: ignore[arg-type]
        signals={
            **offline.signals,
            "llm_dropped_citations": float(result.dropped_citations),
            "llm_dropped_quotes": float(result.dropped_quotes),
            "llm_attempts": float(result.attempts),
        },
        model_answer_found_by=offline.model_answer_found_by,
    )
