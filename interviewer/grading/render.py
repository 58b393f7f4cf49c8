"""A Grade in words a candidate reads: Markdown in the corpus's feedback format, and the terminal view.

Decision first, then Summary, Evidence, Strengths, Risks/Concerns and Recommendation as the calibrated
examples in manager-feedback-examples.md write them; then each axis in plain words (what the answer
showed, quoting the candidate, and what the next level needs), the STAR checklist, and the model
answer's points the answer missed. Sources are named by document and heading and numbered in
first-use order; chunk ids appear only in the JSON.

The Markdown is not escaped for HTML: the app escapes candidate text when it builds HTML, and the
terminal renders the Markdown with rich (`print_markdown`), so neither shows entities such as
&quot; or backslash escapes.
"""

from __future__ import annotations

import re

from interviewer.grading.grade import Evidence, Grade

MAX_QUOTE_CHARS = 220
MAX_MISSED = 5
# Control characters other than tab and newline never reach a terminal (an answer could carry escapes).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Markdown that would change how untrusted text is shown (emphasis, links, headings, tables, code).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>#|!])")


def clean(text: str) -> str:
    return _CONTROL.sub("", " ".join(text.split()))


def literal(text: str) -> str:
    """Untrusted text as literal Markdown: cleaned, and Markdown syntax escaped so it shows as typed."""
    return _MARKDOWN.sub(r"\\\1", clean(text))


class _Refs:
    def __init__(self, grade: Grade):
        self.by_id = {r.id: r for r in grade.retrieved}
        self.order: list[str] = []

    def mark(self, chunk_id: str | None) -> str:
        if not chunk_id:
            return ""
        if chunk_id not in self.order:
            self.order.append(chunk_id)
        return f" [{self.order.index(chunk_id) + 1}]"

    def name(self, chunk_id: str) -> str:
        hit = self.by_id.get(chunk_id)
        if hit is None:
            return chunk_id
        heading = " › ".join(part.strip() for part in hit.heading.split(">")[-2:])
        return f"{hit.source} › {heading}" if heading else hit.source


def _quote(text: str) -> str:
    text = clean(text)
    if len(text) > MAX_QUOTE_CHARS:
        text = text[: MAX_QUOTE_CHARS - 1] + "…"
    return f"“{literal(text)}”"


def _evidence(evidence: list[Evidence], refs: _Refs) -> str:
    quotes = [_quote(e.quote) for e in evidence if e.quote]
    marks = "".join(refs.mark(e.citation) for e in evidence if e.citation)
    if quotes:
        return ": " + "; ".join(quotes) + marks
    return marks


def render_markdown(grade: Grade) -> str:
    refs = _Refs(grade)
    level = f"{grade.level} (default level: none given)" if grade.level_defaulted else grade.level
    out = [f"- **Decision**: {grade.decision} — at {level}, {grade.engine} grader"]
    out.append(f"- **Question**: {literal(grade.question)}")
    tested = [a.name for a in grade.axes if a.tested]
    if tested:
        story = "; asks for a story (STAR)" if grade.story_question else ""
        out.append(f"- **Tests**: {', '.join(tested)}{story}")
    if grade.flags:
        out.append(f"- **Flags**: {', '.join(f.replace('_', ' ') for f in grade.flags)}")
    out += ["", "**Summary**", "", literal(grade.summary), ""]

    out += ["**Evidence**", ""]
    lines = [
        f"- {a.name} {a.score}/5{_evidence([e for e in a.evidence if e.quote][:1], refs)}"
        for a in grade.axes
        if a.score is not None and any(e.quote for e in a.evidence)
    ]
    claims = [p for p in grade.covered_points if p.star_slot is None]  # a template's slot shows under STAR
    lines += [f"- Covers: {literal(p.text)}{refs.mark(p.chunk_id)}" for p in claims[:3]]
    out += lines or ["- Nothing in the answer is evidence on this question."]
    out.append("")

    out += ["**Strengths**", ""]
    out += [f"- {literal(p.text)}{_evidence(p.evidence, refs)}" for p in grade.strengths] or ["- None yet."]
    out.append("")
    out += ["**Risks/Concerns**", ""]
    out += [f"- {literal(p.text)}{_evidence(p.evidence, refs)}" for p in grade.risks] or ["- None found."]
    out.append("")
    out += ["**Recommendation**", "", literal(grade.recommendation or grade.decision), ""]

    out += ["**Axis by axis**", ""]
    silent = [a.name for a in grade.axes if a.score is None and not a.tested]
    for a in sorted((a for a in grade.axes if a.tested or a.score is not None), key=lambda a: not a.tested):
        head = f"- **{a.name}**{' (tested)' if a.tested else ''}: "
        head += f"{a.score}/5" if a.score is not None else "not enough evidence"
        cite = refs.mark(next((e.citation for e in a.evidence if e.citation), None))
        parts = []
        if a.shown:
            parts.append(f"shown: {literal(a.shown)}")
        if a.capped_by:
            parts.append(f"held at 2 by {a.capped_by.replace('_', ' ')}")
        if a.missing:
            parts.append(f"{'for the next level' if a.score is not None else 'what would count'}: {literal(a.missing)}")
        out.append(head + (" — " + "; ".join(parts) if parts else "") + cite)
    if silent:
        out.append(f"- Not discussed (and not what this question tests): {', '.join(silent)}")
    out.append("")

    out += ["**STAR**" + (" (this question asks for a story)" if grade.story_question else ""), ""]
    for check in grade.star:
        quote = next((e.quote for e in check.evidence if e.quote), None)
        mark = "✓" if check.present else "✗"
        out.append(f"- {mark} {check.name}" + (f": {_quote(quote)}" if quote else ""))
    out.append("")

    if grade.red_flags:
        out += ["**Red flags**", ""]
        out += [f"- {flag.name}{_evidence(flag.evidence, refs)}" for flag in grade.red_flags]
        out.append("")

    missed = grade.missed_points
    if grade.key_points:
        out += [f"**Missed from the model answer** ({len(missed)} of {len(grade.key_points)} points)", ""]
        out += [f"- {literal(p.text)}{refs.mark(p.chunk_id)}" for p in missed[:MAX_MISSED]]
        if len(missed) > MAX_MISSED:
            out.append(f"- … and {len(missed) - MAX_MISSED} more")
        out.append("")

    if refs.order:
        out += ["**Sources**", ""]
        out += [f"{n}. {literal(refs.name(cid))}" for n, cid in enumerate(refs.order, 1)]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def print_markdown(markdown: str, console: object | None = None) -> None:
    """Markdown rendered for a terminal (or plain text when output is not one), via rich."""
    from rich.console import Console
    from rich.markdown import Markdown

    target = console if isinstance(console, Console) else Console()
    target.print(Markdown(markdown))
