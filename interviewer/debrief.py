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
from collections.abc import Callable
from typing import Any

from interviewer.grading.decision import GAP_LEVEL
from interviewer.grading.grade import AxisGrade
from interviewer.grading.rubric import DECISIONS, rubric
from interviewer.panel import PanelInterviewer, panel
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
    if state.ended_early and unanswered:  # /end in the last question is not an early end
        lines.append(f"ended early with {len(unanswered)} question(s) not reached")
    if weakest:
        lines.append(f"weakest axis: {weakest[0][1]} ({weakest[0][0]}/5)")
    recommendation = _recommendation(decision, weakest, no_evidence)
    ups = write_ups(state)
    verdict = panel_decision(decision, ups)
    if verdict["blocked_by"]:
        block = verdict["blocked_by"]
        lines.append(f"blocked by the bar raiser on {block['name']} (Q{block['question']})")
        recommendation = f"No hire: the bar raiser blocked on {block['name']}. {recommendation}"
    return {
        "decision": verdict["decision"],
        "panel": verdict,
        "write_ups": ups,
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


def askers(state: SessionState) -> list[str]:
    """Who asked each question; a log from before the panel gets the rotation it would have had."""
    rotation = panel().rotation(len(state.exchanges), state.config.seed)
    return [e.asker or rotation[n] for n, e in enumerate(state.exchanges)]


def write_ups(state: SessionState) -> list[dict[str, Any]]:
    """Each interviewer's write-up in the corpus's feedback format, from the questions they asked
    and the axes they own (scored on every graded question, whoever asked it)."""
    who = askers(state)
    return [
        _write_up(state, person, [n for n, a in enumerate(who) if a == person.id]) for person in panel().interviewers
    ]


def _write_up(state: SessionState, person: PanelInterviewer, asked: list[int]) -> dict[str, Any]:
    level = state.config.level
    exchanges = state.exchanges
    # The questions this interviewer followed up on without asking them: they heard those answers,
    # so they judge them with their own questions (a two-question interview leaves one of three
    # interviewers with no question of their own, only follow-ups).
    probed = sorted(
        {t.question for t in state.transcript if t.kind == "follow_up" and t.speaker == person.id} - set(asked)
    )
    heard = sorted({*asked, *probed})
    graded = [n for n in heard if exchanges[n].grade is not None]
    skipped = [n for n in heard if exchanges[n].skipped and exchanges[n].grade is None]
    owned: dict[str, list[tuple[int, AxisGrade]]] = {axis: [] for axis in person.owns}
    for n, e in enumerate(exchanges):
        for a in e.grade.axes if e.grade else []:
            if a.axis in owned:
                owned[a.axis].append((n, a))
    names = {axis: rubric().axis(axis).name for axis in person.owns}
    means = {
        axis: round(sum(scores) / len(scores), 2) if (scores := [a.score for _, a in rows if a.score]) else None
        for axis, rows in owned.items()
    }
    # A gap is the rubric's: an axis a question tests, left unevidenced or at 2 or less.
    gaps = [axis for axis, rows in owned.items() if any(_is_gap(a) for _, a in rows)]
    indexes = [g.decision_index for n in graded if (g := exchanges[n].grade) is not None] + [0] * len(skipped)
    if indexes:
        decision = overall_decision(indexes)
        confidence = "High" if len(indexes) >= 2 else "Medium"
    else:  # asked nothing answered: judges on the panel's grades and its own axes
        everyone = [e.grade.decision_index for e in exchanges if e.grade is not None]
        everyone += [0] * sum(e.skipped for e in exchanges)
        decision, confidence = overall_decision(everyone), "Low"
    caps: list[str] = []
    lean_no = DECISIONS.index("Lean No Hire")
    if gaps and DECISIONS.index(decision) > lean_no:  # "Below bar on one critical axis" (Quick Rubric)
        decision = DECISIONS[lean_no]
        caps.append(f"Held at Lean No Hire by a gap on {', '.join(names[g] for g in gaps)}, which {person.name} owns.")
    block = _block(state, person)
    if block is not None:
        decision, confidence = "No Hire", "High"
        caps.append(f"Blocks the hire: {block['name']} in Q{block['question']}.")

    evidence: list[str] = []
    strengths: list[str] = []
    risks: list[str] = []
    quoted: set[str] = set()  # one quote backs one line, even when it evidences several axes
    for axis, rows in owned.items():
        for n, a in rows:
            for shown in a.evidence[:1]:
                if shown.quote and shown.quote not in quoted:
                    quoted.add(shown.quote)
                    evidence.append(f'Q{n + 1} ({names[axis]}): "{shown.quote}"')
        best = max(rows, key=lambda r: r[1].score or 0, default=None)
        # A gap is named by a question that tests the axis, not one that never asked about it.
        gap_rows = [r for r in rows if _is_gap(r[1])]
        worst = min(gap_rows or rows, key=lambda r: r[1].score or 0, default=None)
        mean = means[axis]
        if mean is not None and mean >= 4 and best is not None and axis not in gaps:
            strengths.append(f"{names[axis]} ({mean}/5): {best[1].shown or best[1].feedback}")
        if axis in gaps or mean is None:
            risks.append(_axis_risk(worst))
    for n in graded:
        grade = exchanges[n].grade
        assert grade is not None
        if not any(line.startswith(f"Q{n + 1} ") for line in evidence):
            evidence += [f'Q{n + 1}: "{q}"' for q in grade.quotes[:1] if q not in quoted]
        strengths += [f"Q{n + 1}: {p.text}" for p in grade.strengths[:1]]
        gap_axes = [a for a in grade.axes if _is_gap(a)]
        # An axis gap is reported once, as an axis line (below, or above for the axes owned): the
        # grade's own risk on the same axis would say it twice.
        risks += [f"Q{n + 1}: {p.text}" for p in grade.risks if not any(p.text.startswith(a.name) for a in gap_axes)][
            :1
        ]
        risks += [_axis_risk((n, a)) for a in gap_axes if a.axis not in person.owns]  # gaps someone else owns
    if skipped:
        risks.append(f"Skipped {', '.join(f'Q{n + 1}' for n in skipped)}: no evidence is not good evidence")
    if block is not None:
        risks.insert(
            0, f'{block["name"]} (Q{block["question"]}): "{block["quote"]}"' if block["quote"] else block["name"]
        )

    scored = []
    for axis, mean in means.items():
        unevidenced = [f"Q{n + 1}" for n, a in owned[axis] if a.tested and a.score is None]
        text = f"{names[axis]} {'no evidence' if mean is None else f'{mean}/5'}"
        scored.append(text + (f" (no evidence in {', '.join(unevidenced)})" if unevidenced and mean else ""))
    asked_text, probed_text = _with_decisions(exchanges, asked), _with_decisions(exchanges, probed)
    if asked_text and probed_text:
        summary = f"Asked {asked_text} and followed up on {probed_text}."
    elif probed_text:
        summary = f"Asked no question of their own; followed up on {probed_text}."
    else:
        summary = f"Asked {asked_text or 'no question'}."
    summary += f" On the axes {person.name} owns: {'; '.join(scored)}."
    if not indexes:
        summary += " Nothing they asked was answered, so the decision reads the rest of the panel's grades."
    if caps:
        summary += " " + " ".join(caps)
    # What to work on: the owned gaps, else the gaps of the questions this interviewer asked, else
    # owned axes never evidenced, else the weakest owned axis.
    asked_grades = [g for n in graded if (g := exchanges[n].grade) is not None]
    asked_gaps = {a.axis for g in asked_grades for a in g.axes if _is_gap(a)}
    unevidenced = [names[a] for a in person.owns if means[a] is None and a not in gaps]
    focus_names = [names[a] for a in gaps] or [rubric().axis(a).name for a in sorted(asked_gaps)] or unevidenced
    if not focus_names:
        focus_names = [
            names[a] for a in sorted((a for a in means if means[a] is not None), key=lambda a: means[a] or 0)[:1]
        ]
    focus = " and ".join(n.lower() for n in focus_names) or "the gaps above"
    template = person.recommendations.get("blocked" if block and "blocked" in person.recommendations else decision)
    recommendation = (template or "").format(level=level, focus=focus, block=block["name"] if block else "")
    return {
        "interviewer": person.id,
        "name": person.name,
        "role": person.role,
        "owns": [names[a] for a in person.owns],
        "asked": [n + 1 for n in asked],
        "followed_up": [n + 1 for n in probed],
        "decision": decision,
        "confidence": confidence,
        "scope_fit": _scope_fit(level, decision, [names[g] for g in gaps]),
        "summary": summary,
        "evidence": evidence[:5],
        "strengths": strengths[:4],
        "risks": risks[:5],
        "recommendation": recommendation,
        "blocks": block,
        "asks": person.asks,
        "engine": "offline",  # panel_writer.rewrite puts the model's id here when it wrote the prose
        "notes": [],
    }


def _is_gap(a: AxisGrade) -> bool:
    """The rubric's gap: an axis the question tests, left unevidenced or at GAP_LEVEL or below."""
    return a.tested and (a.score or 0) <= GAP_LEVEL


def _axis_risk(row: tuple[int, AxisGrade] | None) -> str:
    """ "Evolution (no evidence in Q2): not yet shown: a phased plan …": `missing` is what the next
    level asks for, so it is introduced as not shown rather than read as something the answer did."""
    if row is None:
        return "no evidence across the interview"
    n, a = row
    state = "no evidence" if a.score is None else f"{a.score}/5"
    missing = a.missing.rstrip(".")
    shown = f"not yet shown: {missing[:1].lower() + missing[1:]}" if missing else a.feedback
    return f"{a.name} ({state} in Q{n + 1}): {shown}"


def _with_decisions(exchanges: list[Exchange], questions: list[int]) -> str:
    """ "Q1 (Hire), Q3 (skipped)": questions by number, each with how it ended."""
    return ", ".join(f"Q{n + 1} ({_decision_of(exchanges[n])})" for n in questions)


def _decision_of(e: Exchange) -> str:
    return e.grade.decision if e.grade else ("skipped" if e.skipped else "not graded" if e.answers else "not reached")


def _scope_fit(level: str, decision: str, gaps: list[str]) -> str:
    """As the corpus writes it: "Director (not met)", "EM (below bar on reliability)"."""
    if decision in ("Strong Hire", "Hire"):
        return f"{level} (met)"
    if decision == "Lean Hire":
        return f"{level} (near bar)"
    if decision == "Lean No Hire":
        return f"{level} (below bar on {', '.join(g.lower() for g in gaps)})" if gaps else f"{level} (below bar)"
    return f"{level} (not met)"


def _block(state: SessionState, person: PanelInterviewer) -> dict[str, Any] | None:
    """The first red flag this interviewer blocks on (ownership and culture, for the bar raiser)."""
    for n, e in enumerate(state.exchanges):
        for flag in e.grade.red_flags if e.grade else []:
            if flag.flag in person.blocks_on:
                quote = next((ev.quote for ev in flag.evidence if ev.quote), "")
                return {
                    "interviewer": person.id,
                    "flag": flag.flag,
                    "name": flag.name,
                    "question": n + 1,
                    "quote": quote,
                }
    return None


def panel_decision(decision: str, ups: list[dict[str, Any]]) -> dict[str, Any]:
    """The panel decides as the interview's grades do, unless an interviewer blocks (the bar raiser
    on an ownership or culture red flag, as in the corpus's Example 9): then it is No Hire."""
    blocked = next((u["blocks"] for u in ups if u["blocks"]), None)
    return {
        "decision": "No Hire" if blocked else decision,
        "blocked_by": blocked,
        "votes": [{"interviewer": u["interviewer"], "name": u["name"], "decision": u["decision"]} for u in ups],
    }


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
    if decision == "Lean Hire":  # "Near bar; specific risks mitigable" (Quick Rubric), not below it
        return f"Near the bar on this sample: the risks above decide it.{practice}"
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
        f"**Recommendation**\n\n{debrief['recommendation']}\n" + _render_panel(debrief, safe, bullets)
    )


def _render_panel(debrief: dict[str, Any], safe: Callable[[str], str], bullets: Callable[[list[str]], str]) -> str:
    """The panel's decision and each interviewer's write-up (absent from debriefs before the panel)."""
    if not debrief.get("write_ups"):
        return ""
    verdict = debrief["panel"]
    block = verdict.get("blocked_by")
    basis = (
        f" (blocked by the bar raiser: {safe(block['name'])} in Q{block['question']})"
        if block
        else " (every question's grade, by the rubric's decision rule)"
    )
    votes = "\n".join(f"| {safe(v['name'])} | {v['decision']} |" for v in verdict["votes"])
    out = [
        f"\n## Panel\n\n- **Panel decision**: {verdict['decision']}{basis}\n\n"
        f"| Interviewer | Write-up decision |\n|---|---|\n{votes}\n"
    ]
    for u in debrief["write_ups"]:
        asked = ", ".join(f"Q{n}" for n in u["asked"]) or "no question"
        if u.get("followed_up"):  # write-ups logged before follow-ups were attributed have none
            asked += "; followed up on " + ", ".join(f"Q{n}" for n in u["followed_up"])
        out.append(
            f"\n### {safe(u['name'])} · {safe(u['role'])} (owns {', '.join(u['owns'])}; asked {asked})\n\n"
            f"- **Decision**: {u['decision']} ({u['confidence']} confidence)\n"
            f"- **Scope Fit**: {safe(u['scope_fit'])}\n\n"
            f"**Summary**\n\n{safe(u['summary'])}\n\n**Evidence**\n\n{bullets([safe(e) for e in u['evidence']])}\n\n"
            f"**Strengths**\n\n{bullets([safe(e) for e in u['strengths']])}\n\n"
            f"**Risks/Concerns**\n\n{bullets([safe(e) for e in u['risks']])}\n\n"
            f"**Recommendation**\n\n{safe(u['recommendation'])}\n"
            + "".join(f"\n_Note: {safe(n)}_\n" for n in u.get("notes", []))
        )
    return "".join(out)
