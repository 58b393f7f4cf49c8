"""Grade the corpus's own model answers as if a candidate had given them, and list the weak ones.

A user who adds their own documents wants to know which reference answers the grader would not
even rate Hire before trusting feedback measured against them. Each question of the bank that has a
model answer is graded with that answer (its chunks' texts, in document order, joined) as the
candidate's answer to its own question.

One cap is set aside: the grader's recitation guard (verbatim_copy) fires on every model answer,
since the answer is in the corpus it is compared against. That cap is about candidates reciting the
prep material, not about the quality of the reference, so the verdict uses the decision before that
cap. Every other cap (too short, off topic, keyword list, injection) caps at Lean No Hire and is a
real weakness of a reference, so an answer with any of them never reaches Hire here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from interviewer.evals.grading import Grader, Job, grade_many
from interviewer.grading.decision import CAP_REASONS, CAPS
from interviewer.grading.rubric import DECISIONS

if TYPE_CHECKING:
    from interviewer.index import Index
    from interviewer.questions import Question
    from interviewer.settings import Settings

BAR = DECISIONS.index("Hire")
SELF_CAP = "verbatim_copy"


def reference_questions(
    settings: Settings, index: Index, track: str | None = None, limit: int | None = None
) -> tuple[list[tuple[Question, str]], list[str]]:
    """(question, model answer text) for every bank question with a model answer in the index."""
    from interviewer.corpus import question_bank

    questions, problems = question_bank(settings, track)
    pairs: list[tuple[Question, str]] = []
    for question in questions:
        if not question.answer_chunk_ids:
            continue
        chunks = index.get_chunks(question.answer_chunk_ids)
        missing = [cid for cid in question.answer_chunk_ids if cid not in chunks]
        if missing:
            problems.append(f"{question.id}: model answer chunks not in the index ({len(missing)}); run ingest")
            continue
        pairs.append((question, "\n\n".join(chunks[cid].text for cid in question.answer_chunk_ids)))
    return (pairs[:limit] if limit is not None else pairs), problems


def reference_decision(decision: str, uncapped: str, flags: list[str]) -> str:
    """The decision with the recitation cap set aside (every other cap kept)."""
    other_caps = [f for f in flags if f in CAPS and f != SELF_CAP]
    return decision if other_caps or SELF_CAP not in flags else uncapped


def check_corpus(
    pairs: list[tuple[Question, str]],
    grader: Grader,
    engine: str,
    *,
    concurrency: int = 1,
    on_graded: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Grade each model answer against its own question; list those that would not reach Hire."""
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    # A model answer has no candidate level: it is graded at the grader's default level.
    jobs: list[Job] = [(q.text, answer, None) for q, answer in pairs]
    for j, outcome, error in grade_many(jobs, grader, concurrency):
        question, answer = pairs[j]
        if outcome is None:
            errors.append({"question_id": question.id, "error": error or ""})
        else:
            grade = outcome.grade
            decision = reference_decision(grade.decision, grade.uncapped_decision, list(grade.flags))
            missing_axes = [a.name for a in grade.axes if a.score is None]
            rows.append(
                {
                    "question_id": question.id,
                    "question": question.text,
                    "source": question.source,
                    "section": question.section,
                    "track": question.track,
                    "words": len(answer.split()),
                    "decision": decision,
                    "grader_decision": grade.decision,
                    "score": grade.score,
                    "flags": [f for f in grade.flags if f != SELF_CAP],
                    "caps": [c for c in grade.caps if c != CAP_REASONS[SELF_CAP]],
                    "axes_without_evidence": missing_axes,
                    "reaches_hire": DECISIONS.index(decision) >= BAR,  # type: ignore[arg-type]
                }
            )
        if on_graded:
            on_graded()
    order = {q.id: n for n, (q, _) in enumerate(pairs)}
    rows.sort(key=lambda r: order[r["question_id"]])
    weak = sorted((r for r in rows if not r["reaches_hire"]), key=lambda r: (r["score"], order[r["question_id"]]))
    return {
        "engine": engine,
        "questions": len(pairs),
        "graded": len(rows),
        "reach_hire": sum(1 for r in rows if r["reaches_hire"]),
        "weak": weak,
        "decisions": {d: Counter(r["decision"] for r in rows).get(d, 0) for d in DECISIONS},
        "note": "the recitation cap (verbatim_copy) is set aside: a model answer is always in the corpus",
        "errors": errors,
        "all": rows,
    }
