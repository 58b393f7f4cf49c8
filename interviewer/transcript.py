"""Transcript export: the whole interview as Markdown (to read) and JSON (to keep or process).

Both carry the questions, answers and follow-ups in order, each question's grade with its quotes and
citations, and the debrief. JSON is the session state itself, so it loses nothing.
"""

from __future__ import annotations

import json

from interviewer.debrief import render as render_debrief
from interviewer.grading.render import render_markdown
from interviewer.panel import panel
from interviewer.session import SessionState


def to_json(state: SessionState) -> str:
    return json.dumps(state.model_dump(mode="json"), ensure_ascii=False, indent=1)


def to_markdown(state: SessionState) -> str:
    c = state.config
    out = [
        f"# Mock interview {state.id}",
        "",
        f"Track: {c.track} · Level: {c.level} · Questions: {c.questions} · Follow-ups: {c.follow_ups} · "
        f"Backend: {c.backend} · Seed: {c.seed}",
        "",
    ]
    for n, ex in enumerate(state.exchanges):
        out.append(f"## Question {n + 1}: {ex.question.text}")
        out.append(f"_Source: {ex.question.source} — {ex.question.section}_\n")
        for turn in state.transcript:
            if turn.question != n:
                continue
            person = panel().get(turn.speaker)
            who = (
                "Candidate"
                if turn.role != "interviewer"
                else f"{person.name} ({person.role})"
                if person
                else "Interviewer"
            )
            label = f" ({turn.kind.replace('_', '-')})" if turn.kind not in ("question", "answer") else ""
            body = turn.text.replace("\n", "\n> ")
            out.append(f"**{who}{label}:**\n\n> {body}\n")
        for note in ex.notes:
            out.append(f"_Note: {note}_\n")
        if ex.grade is not None:
            out.append("### Feedback\n")
            out.append(render_markdown(ex.grade))
        elif ex.skipped:
            out.append("_Skipped._\n")
        elif ex.answers:
            out.append("_Answered, not graded yet: grading failed; resuming the session grades it._\n")
        else:
            out.append("_Not reached._\n")
    if state.debrief:
        out.append(render_debrief(state.debrief))
    return "\n".join(out)
