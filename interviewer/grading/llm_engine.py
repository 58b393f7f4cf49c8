"""The LLM grading engine: any OpenAI-compatible model, judging the same structure as the offline engine.

The model gets the rubric with its level anchors, the question's profile (the axes it tests, whether
it asks for a story, its key points, numbered), the model-answer passages as numbered references, and
the answer spotlighted as untrusted data (random delimiter, datamarking, instructions repeated after
it). It returns JSON: per axis a score with feedback and quotes, STAR per element with a quote, red
flags with quotes, and the key points the answer covers. That JSON is validated (retried once with the
validation error, then the offline grade is used, and the grade says so); quotes that are not verbatim
in the answer and citations that are not among the passages are dropped and counted.

The decision is not the model's: its axis scores, STAR and red flags go through the same decision rule,
at the same level, as the offline engine's (decision.py), so a capable model moves the decision exactly
as far as its judgement does. The guards (injection, not English, keyword lists, recital) are the
offline engine's and cap the decision the same way. A decision two or more levels away from the
offline engine's is flagged for review.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from interviewer.grading.calibration import load_calibration, load_sentence_models
from interviewer.grading.evidence import AnswerEvidence, judge
from interviewer.grading.grade import Grade
from interviewer.grading.offline import ENGINE, Assessment, assess, build_grade
from interviewer.grading.reference import corpus_shingles
from interviewer.grading.rubric import DECISIONS, rubric
from interviewer.index import Hit, Index
from interviewer.llm import ChatModel, EmptyReply, LLMError
from interviewer.profiles import Profiled, profile_question, profiles_for
from interviewer.prompts import render_prompt

MAX_REFERENCE_CHARS = 1500
REVIEW_GAP = 2


class _Axis(BaseModel):
    axis: str
    feedback: str = Field(min_length=1, max_length=1200)
    score: int | None = Field(ge=1, le=5)
    quotes: list[str] = Field(default_factory=list, max_length=6)
    citations: list[int] = Field(default_factory=list, max_length=6)


class _Star(BaseModel):
    present: bool
    quote: str | None = None


class _Flag(BaseModel):
    flag: str
    quote: str | None = None


class LLMAssessment(BaseModel):
    """The JSON the model must return. Anything else is invalid and retried."""

    axes: list[_Axis]
    star: dict[str, _Star]
    red_flags: list[_Flag] = Field(default_factory=list)
    key_points: list[int] = Field(default_factory=list, max_length=60)  # numbers of the key points covered
    summary: str = Field(default="", max_length=1200)

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
    def _star_shape(cls, value: object) -> object:
        # {"result": true} is accepted as {"result": {"present": true}}; anything but a bool is refused.
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if isinstance(v, bool):
                    out[k] = {"present": v}
                elif isinstance(v, dict) and isinstance(v.get("present"), bool):
                    out[k] = v
                else:
                    raise ValueError("each star element must be true/false or {present: true/false, quote}")
            return out
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


def build_messages(
    question: str, answer: str, profiled: Profiled, references: list[Hit], level: str | None
) -> list[tuple[str, str]]:
    r = rubric()
    profile = profiled.profile
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
        tested_axes=profile.tested_axes,
        story=profile.story,
        key_points=[p.text for p in profile.key_points],
        level=level or "Senior EM",
    )
    return [("system", render_prompt("grade_system.md.j2")), ("user", user)]


def grade_with_llm(
    question: str, answer: str, index: Index, model: ChatModel, level: str | None = None, max_attempts: int = 2
) -> LLMGradeResult:
    calibration = load_calibration()
    state = index.count()
    store = profiles_for(index)
    profiled = profile_question(question, index, store)
    evidence = judge(answer, profiled, store, corpus_shingles(index, state), load_sentence_models())
    offline_assessment = assess(evidence, calibration)
    offline = build_grade(
        question, answer, profiled, evidence, offline_assessment, calibration, index, level, state, ENGINE
    )
    chunks = index.get_chunks(profiled.profile.model_chunk_ids) if profiled.profile.model_chunk_ids else {}
    references = [chunks[c] for c in profiled.profile.model_chunk_ids if c in chunks]
    messages = build_messages(question, answer, profiled, references, level)
    result = LLMGradeResult(grade=offline)
    reply_assessment: LLMAssessment | None = None
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
            reply_assessment = parse_reply(reply)
            break
        except (ValueError, ValidationError) as exc:
            result.invalid_replies += 1
            problem = f"invalid grade JSON: {str(exc)[:300]}"
            messages = [
                *messages,
                ("assistant", reply[:4000]),
                ("user", f"That reply was not valid ({problem}). Reply again with only the JSON object."),
            ]
    if reply_assessment is None:
        result.fell_back = True
        result.notes.append(f"{model.id} could not grade this answer ({problem}); graded by the offline engine")
        return result
    assessment = to_assessment(reply_assessment, evidence, len(profiled.profile.key_points), len(references), result)
    grade = build_grade(question, answer, profiled, evidence, assessment, calibration, index, level, state, model.id)
    feedback = {x.axis: x.feedback for x in reply_assessment.axes}
    grade.axes = [a.model_copy(update={"feedback": feedback.get(a.axis) or a.feedback}) for a in grade.axes]
    if reply_assessment.summary:
        grade.summary = f"{grade.summary} {model.id}: {reply_assessment.summary}"
    gap = abs(DECISIONS.index(grade.decision) - DECISIONS.index(offline.decision))
    if gap >= REVIEW_GAP:
        grade.flags = [*grade.flags, "needs_review"]
        result.notes.append(
            f"{model.id} judged {grade.decision}, {gap} levels from the offline engine's {offline.decision}: "
            "flagged for review"
        )
    if result.dropped_citations or result.dropped_quotes:
        result.notes.append(
            f"dropped {result.dropped_citations} citation(s) not among the retrieved passages and "
            f"{result.dropped_quotes} quote(s) not found verbatim in the answer"
        )
    grade.signals = {
        **grade.signals,
        "llm_dropped_citations": float(result.dropped_citations),
        "llm_dropped_quotes": float(result.dropped_quotes),
        "llm_attempts": float(result.attempts),
    }
    result.grade = Grade.model_validate(grade.model_dump())
    return result


def to_assessment(
    a: LLMAssessment, evidence: AnswerEvidence, points: int, passages: int, result: LLMGradeResult
) -> Assessment:
    """The model's judgement in the offline engine's structure: its quotes located in the answer's
    sentences (the evidence shown), its scores, STAR and flags as the rule's inputs."""

    def sentences_with(quotes: list[str | None]) -> list[int]:
        found: list[int] = []
        for q in quotes:
            if not q:
                continue
            if q not in evidence.answer:
                result.dropped_quotes += 1
                continue
            found += [i for i, s in enumerate(evidence.sentences) if q in s.text or s.text in q]
        return list(dict.fromkeys(found))

    by_axis = {x.axis: x for x in a.axes}
    for x in a.axes:
        result.dropped_citations += sum(1 for n in x.citations if not 1 <= n <= passages)
    covered = {n - 1 for n in a.key_points if 1 <= n <= points}
    result.dropped_citations += sum(1 for n in a.key_points if not 1 <= n <= points)
    return Assessment(
        scores={axis: x.score for axis, x in by_axis.items()},
        axis_sentences={axis: sentences_with(list(x.quotes)) for axis, x in by_axis.items()},
        capped_by=dict.fromkeys(by_axis),
        star={e: sentences_with([x.quote]) if x.present else [] for e, x in a.star.items()},
        red_flags={f.flag: sentences_with([f.quote]) for f in a.red_flags},
        raw=None,
        star_present={e for e, x in a.star.items() if x.present},
        covered_points=covered,
    )
