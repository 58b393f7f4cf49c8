"""The end-of-interview debrief, written in the corpus's calibrated feedback format.

Decision, Scope fit, Summary, Evidence, Strengths, Risks/Concerns, Recommendation, built only from
the per-question grades (their quotes and citations), so every line of the debrief points at
something the candidate said or a passage the grader retrieved. A skipped question counts as
No Hire for that question: no evidence is not good evidence. A question the candidate answered and
then moved on from (or ended the interview in) is graded on what was said, and says so; one whose
grading failed is listed as not graded and left out of the decision rather than guessed.
"""

from __future__ import annotations

import html
import logging
import math
from typing import Any

from interviewer.grading.rubric import DECISIONS, rubric
from interviewer.session import Exchange, SessionState


def overall_decision(indexes: list[int]) -> str:
    """Mean of per-question decision indexes, rounded half down (a tie never rounds up)."""
    if not indexes:
        return DECISIONS[0]
    mean = sum(indexes) / len(indexes)
    return DECISIONS[max(0, min(len(DECISIONS) - 1, math.ceil(mean - 0.5)))]


def compose(state: SessionState) -> dict[str, Any]:
    graded = [e for e in state.exchanges if e.grade is not None]
    skipped = [e for e in state.exchanges if e.skipped and e.grade is None]
    not_graded = [e for e in state.exchanges if e.answers and e.grade is None and not e.skipped]
    unanswered = [e for e in state.exchanges if not e.answers and not e.skipped]
    partial = [e for e in graded if e.unanswered_follow_ups]
    indexes = [e.grade.decision_index for e in graded if e.grade] + [0] * len(skipped)
    decision = overall_decision(indexes)

    per_axis: dict[str, float | None] = {}
    for axis in rubric().axes:
        scores = [a.score for e in graded if e.grade for a in e.grade.axes if a.axis == axis.id and a.score]
        per_axis[axis.name] = round(sum(scores) / len(scores), 2) if scores else None

    evidence, strengths, risks = [], [], []
    for n, e in enumerate(state.exchanges, 1):
        if e.grade is None:
            continue
        for quote in e.grade.quotes[:2]:
            evidence.append(f'Q{n}: "{quote}"')
        strengths += [f"Q{n}: {p.text}" for p in e.grade.strengths[:2]]
        risks += [f"Q{n}: {p.text}" for p in e.grade.risks[:2]]
    weakest = sorted((v, k) for k, v in per_axis.items() if v is not None)
    no_evidence = [k for k, v in per_axis.items() if v is None]
    if no_evidence:
        risks.append("No evidence across the interview on: " + ", ".join(no_evidence))
    if skipped:
        risks.append(f"Skipped {len(skipped)} question(s); each counts as No Hire for that question")
    if not_graded:
        risks.append(
            f"{len(not_graded)} answered question(s) could not be graded and are left out of the decision; "
            "resume the session to grade them"
        )

    from interviewer.storybank import risk_lines

    across = _across_answers(state)
    risks += risk_lines(across)

    lines = [f"{len(graded)} of {len(state.exchanges)} questions answered and graded"]
    if partial:
        lines.append(f"{len(partial)} graded with follow-ups unanswered")
    if state.ended_early:
        lines.append(f"ended early with {len(unanswered)} question(s) not reached")
    if weakest:
        lines.append(f"weakest axis: {weakest[0][1]} ({weakest[0][0]}/5)")
    recommendation = _recommendation(decision, weakest, no_evidence)
    return {
        "decision": decision,
        "scope_fit": f"{state.config.level} ({state.config.track} track)",
        "summary": "; ".join(lines) + ".",
        "evidence": evidence,
        "strengths": strengths,
        "risks": risks,
        "recommendation": recommendation,
        "per_axis": per_axis,
        "per_question": [_per_question(e) for e in state.exchanges],
        "consistency": across,
    }


def _across_answers(state: SessionState) -> dict[str, list[dict[str, Any]]]:
    """One story told for two questions, a number that changed between answers (storybank.py)."""
    from interviewer.storybank import consistency

    try:
        return consistency(state)
    except Exception as exc:  # a check across answers must never cost the debrief itself
        logging.getLogger(__name__).error("consistency check of session %s failed", state.id, exc_info=exc)
        return {"story_reuse": [], "contradictions": []}


def _per_question(e: Exchange) -> dict[str, Any]:
    """`decision` is a decision, or skipped / not graded / not reached; `status` says how it ended."""
    if e.grade is not None:
        status = "moved_on" if e.moved_on else ("ended" if e.unanswered_follow_ups else "graded")
        return {"question": e.question.text, "decision": e.grade.decision, "status": status}
    if e.skipped:
        return {"question": e.question.text, "decision": "skipped", "status": "skipped"}
    if e.answers:
        return {"question": e.question.text, "decision": "not graded", "status": "not_graded"}
    return {"question": e.question.text, "decision": "not reached", "status": "not_reached"}


def _recommendation(decision: str, weakest: list[tuple[float, str]], no_evidence: list[str]) -> str:
    focus = [name for _, name in weakest[:2]] + no_evidence[:2]
    practice = f" Practise answers that show {', '.join(focus)} with numbers and permanent changes." if focus else ""
    if decision in ("Strong Hire", "Hire"):
        return f"At the bar for this level on this sample.{practice}"
    return f"Below the bar on this sample.{practice}"


_STATUS_NOTE = {  # debriefs written before `status` existed have none, and render as before
    "moved_on": " (moved on before the follow-ups; graded on what was said)",
    "ended": " (the interview ended before the follow-ups; graded on what was said)",
    "not_graded": " (answered; grading failed)",
}


def render(debrief: dict[str, Any], for_html: bool = False) -> str:
    """Markdown. The candidate's words and question texts are untrusted: shown literally (Markdown syntax
    escaped) for the terminal, and HTML-escaped as well when `for_html` (the app renders it as HTML)."""
    from interviewer.grading.render import literal

    def safe(text: str) -> str:
        return html.escape(literal(text)) if for_html else literal(text)

    debrief = {
        **debrief,
        "evidence": [safe(e) for e in debrief["evidence"]],
        "strengths": [safe(e) for e in debrief["strengths"]],
        "risks": [safe(e) for e in debrief["risks"]],
        "per_question": [{**q, "question": safe(q["question"])} for q in debrief["per_question"]],
    }
    axes = "\n".join(
        f"| {name} | {'not enough evidence' if v is None else f'{v}/5'} |" for name, v in debrief["per_axis"].items()
    )
    per_q = "\n".join(
        f"{n}. {q['question']} — **{q['decision']}**{_STATUS_NOTE.get(q.get('status', ''), '')}"
        for n, q in enumerate(debrief["per_question"], 1)
    )

    def bullets(items: list[str]) -> str:
        return "\n".join(f"- {i}" for i in items) or "- (none)"

    return (
        f"## Debrief\n\n- **Decision**: {debrief['decision']}\n- **Scope Fit**: {debrief['scope_fit']}\n\n"
        f"**Summary**\n\n{debrief['summary']}\n\n**Per question**\n\n{per_q}\n\n"
        f"| Axis | Average |\n|---|---|\n{axes}\n\n**Evidence**\n\n{bullets(debrief['evidence'])}\n\n"
        f"**Strengths**\n\n{bullets(debrief['strengths'])}\n\n**Risks/Concerns**\n\n{bullets(debrief['risks'])}\n\n"
        f"**Recommendation**\n\n{debrief['recommendation']}\n"
    )
