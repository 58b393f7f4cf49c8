"""A Grade as Markdown, in the corpus's own feedback format (manager-feedback-examples.md).

Decision first, then Summary, Evidence, Strengths, Risks/Concerns and Recommendation as bold
section labels, as the calibrated examples write them; then the per-axis table, the STAR
checklist and the model answer's missed key points. Citations are numbered [1], [2] in first-use
order and listed at the end with their chunk id and heading.
"""

from __future__ import annotations

from interviewer.grading.grade import Evidence, Grade

MAX_QUOTE_CHARS = 220
MAX_MISSED = 8


class _Refs:
    def __init__(self, grade: Grade):
        self.grade = grade
        self.order: list[str] = []

    def mark(self, chunk_id: str | None) -> str:
        if not chunk_id:
            return ""
        if chunk_id not in self.order:
            self.order.append(chunk_id)
        return f" [{self.order.index(chunk_id) + 1}]"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1] + '…'}”"


def _evidence(evidence: list[Evidence], refs: _Refs) -> str:
    parts = []
    for e in evidence:
        piece = _quote(e.quote) if e.quote else ""
        piece += refs.mark(e.citation)
        if piece.strip():
            parts.append(piece.strip())
    if not parts:
        return ""
    if all(part.startswith("[") for part in parts):
        return " " + " ".join(parts)  # citations only
    return ": " + "; ".join(parts)


def render_markdown(grade: Grade) -> str:
    refs = _Refs(grade)
    out: list[str] = []
    score = f"score {grade.score:.2f} / 4"
    out.append(f"- **Decision**: {grade.decision} ({score}; {grade.engine} grader)")
    if grade.flags:
        out.append(f"- **Flags**: {', '.join(grade.flags)}")
    out.append(f"- **Question**: {grade.question}")
    out += ["", "**Summary**", "", grade.summary, ""]

    out += ["**Evidence**", ""]
    evidence_lines = []
    for axis in grade.axes:
        if axis.score is not None:
            quotes = [e for e in axis.evidence if e.quote][:1]
            evidence_lines.append(f"- {axis.name} (level {axis.score}){_evidence(quotes, refs)}")
    for point in grade.covered_points[:3]:
        evidence_lines.append(
            f"- Covers: {point.text}{refs.mark(point.chunk_id)}" + (f" — {_quote(point.quote)}" if point.quote else "")
        )
    out += evidence_lines or ["- No evidence on any rubric axis."]
    out.append("")

    out += ["**Strengths**", ""]
    out += [f"- {p.text}{_evidence(p.evidence, refs)}" for p in grade.strengths] or ["- None found in this answer."]
    out.append("")
    out += ["**Risks/Concerns**", ""]
    out += [f"- {p.text}{_evidence(p.evidence, refs)}" for p in grade.risks] or ["- None found in this answer."]
    out.append("")
    out += ["**Recommendation**", "", grade.recommendation or grade.decision, ""]

    out += ["**Per-axis scores**", "", "| Axis | Score | Feedback |", "|---|---|---|"]
    for axis in grade.axes:
        cite = "".join(refs.mark(e.citation) for e in axis.evidence[:1])
        shown = str(axis.score) if axis.score is not None else "not enough evidence"
        out.append(f"| {axis.name} | {shown} | {_cell(axis.feedback)}{cite} |")
    out.append("")

    out += ["**STAR checklist**", ""]
    for check in grade.star:
        box = "x" if check.present else " "
        quote = next((e.quote for e in check.evidence if e.quote), None)
        out.append(f"- [{box}] {check.name}" + (f" — {_quote(quote)}" if quote else ""))
    out.append("")

    if grade.red_flags:
        out += ["**Red flags**", ""]
        out += [f"- {flag.name}{_evidence(flag.evidence, refs)}" for flag in grade.red_flags]
        out.append("")

    missed = grade.missed_points
    if grade.key_points:
        out += [f"**Missed key points** ({len(missed)} of {len(grade.key_points)})", ""]
        out += [f"- {p.text}{refs.mark(p.chunk_id)}" for p in missed[:MAX_MISSED]]
        if len(missed) > MAX_MISSED:
            out.append(f"- … and {len(missed) - MAX_MISSED} more")
        out.append("")

    by_id = {r.id: r for r in grade.retrieved}
    if refs.order:
        out += ["**Sources**", ""]
        for n, cid in enumerate(refs.order, 1):
            heading = by_id[cid].heading if cid in by_id else ""
            out.append(f"[{n}] `{cid}` — {heading}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
