"""The panel's write-ups in an LLM's words, when one is configured; the offline write-up otherwise.

Only the prose is the model's: each interviewer's Summary and Recommendation, from the prompt files
`bundled/prompts/panel_write_up*.md.j2`. The decision, the confidence, the scope fit, the evidence
(verbatim quotes) and the panel's decision stay the offline engine's, so a model can neither change
a decision nor put words in the candidate's mouth. A reply that is not the JSON asked for, or that
names another decision, keeps the offline prose, with a note saying so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from interviewer.llm import ChatModel, LLMError
from interviewer.prompts import render_prompt

MAX_PROSE_CHARS = 700
# Decision labels other than the write-up's must not appear ("hire" alone is a verb, not a label).
_LABELS = re.compile(r"(?i)\b(strong hire|lean no hire|lean hire|no hire)\b")


def rewrite(debrief: dict[str, Any], model: ChatModel) -> dict[str, Any]:
    """The debrief with each write-up's summary and recommendation written by `model`.

    After a call that fails (the endpoint is down, times out), the other write-ups are not tried:
    a dead endpoint costs the end of the interview one timeout, not one per interviewer."""
    ups: list[dict[str, Any]] = []
    down: str | None = None
    for up in debrief.get("write_ups", []):
        if down is not None:
            ups.append(_offline(up, model, down))
            continue
        try:
            ups.append(_rewrite_one(up, model))
        except LLMError as exc:
            down = str(exc)
            ups.append(_offline(up, model, down))
    return {**debrief, "write_ups": ups}


def _rewrite_one(up: dict[str, Any], model: ChatModel) -> dict[str, Any]:
    """One write-up's prose; raises LLMError when the model cannot be reached."""
    notes = "\n".join(
        [f"Evidence: {e}" for e in up["evidence"]]
        + [f"Strength: {s}" for s in up["strengths"]]
        + [f"Risk: {r}" for r in up["risks"]]
        + [f"Offline summary: {up['summary']}"]
    )
    reply = model.complete(
        [
            ("system", render_prompt("panel_write_up_system.md.j2")),
            (
                "user",
                render_prompt(
                    "panel_write_up.md.j2",
                    interviewer_name=up["name"],
                    role=up["role"],
                    asks=up.get("asks", ""),
                    owns=", ".join(up["owns"]),
                    level=up["scope_fit"].split(" (")[0],
                    decision=up["decision"],
                    confidence=up["confidence"],
                    scope_fit=up["scope_fit"],
                    notes=notes,
                ),
            ),
        ],
        max_tokens=400,
    )
    prose = parse(reply, up["decision"])
    if prose is None:
        return _offline(up, model, "its reply was not the write-up asked for")
    return {**up, **prose, "engine": model.id}


def parse(reply: str, decision: str) -> dict[str, str] | None:
    """{"summary", "recommendation"} from a reply, or None when it is not usable."""
    text = reply.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.S)
    try:
        data = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    out = {}
    for key in ("summary", "recommendation"):
        value = data.get(key)
        if not isinstance(value, str) or not 10 <= len(value.strip()) <= MAX_PROSE_CHARS:
            return None
        if any(m.casefold() != decision.casefold() for m in _LABELS.findall(value)):
            return None  # the decision is the rubric's, never the model's
        out[key] = " ".join(value.split())
    return out


def _offline(up: dict[str, Any], model: ChatModel, why: str) -> dict[str, Any]:
    note = f"{model.id} could not write this write-up ({why}); the offline write-up is used."
    return {**up, "notes": [*up.get("notes", []), note]}
