"""Optional LLM rerank of hybrid search's top RERANK_DEPTH passages (prompt: bundled/prompts/rerank.md.j2).

The LLM sees the query (spotlighted: it is data) and the numbered passages and replies
{"ranking": [numbers]}. The reply is used only when it is a JSON object whose ranking lists valid,
distinct passage numbers; the ranked passages come first in the LLM's order and every passage it
left out follows in the fused order, so a rerank can reorder the list but never lose a passage. Any
other reply, an error or a timeout leaves the fused order as it was (`reranked=False` in the log).
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from interviewer.prompts import render_prompt

if TYPE_CHECKING:
    from interviewer.index import Hit
    from interviewer.llm import ChatModel

RERANK_DEPTH = 20
PASSAGE_CHARS = 400  # enough of each passage to judge it; 20 of them stay well inside a context window
MAX_TOKENS = 200
log = logging.getLogger(__name__)
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_ranking(reply: str, n: int) -> list[int] | None:
    """0-based passage indices in the LLM's order, or None when the reply is not a valid ranking."""
    match = _OBJECT.search(reply or "")
    if not match:
        return None
    try:
        data: Any = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    ranking = data.get("ranking") if isinstance(data, dict) else None
    if not isinstance(ranking, list) or not ranking:
        return None
    if not all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= n for x in ranking):
        return None
    if len(set(ranking)) != len(ranking):
        return None
    return [x - 1 for x in ranking]


def rerank(query: str, hits: list[Hit], model: ChatModel | None) -> tuple[list[Hit], bool]:
    """(hits in the LLM's order, True) or (hits unchanged, False) when the reply cannot be used."""
    from interviewer.llm import LLMError

    if model is None or len(hits) < 2:
        return hits, False
    passages = [{"heading": h.heading, "text": h.text[:PASSAGE_CHARS]} for h in hits]
    prompt = render_prompt("rerank.md.j2", query=query, passages=passages)
    try:
        reply = model.complete([("user", prompt)], max_tokens=MAX_TOKENS)
    except LLMError as exc:
        log.warning("rerank failed, keeping the fused order: %s", exc)
        return hits, False
    order = parse_ranking(reply, len(hits))
    if order is None:
        log.warning("rerank reply was not a valid ranking, keeping the fused order")
        return hits, False
    chosen = set(order)
    return [hits[i] for i in order] + [h for i, h in enumerate(hits) if i not in chosen], True
