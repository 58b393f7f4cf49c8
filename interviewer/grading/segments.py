"""Cutting text into the units the grader measures: answer sentences and model-answer key points.

Answer sentences keep their offsets into the answer, so every quote the grader shows is a verbatim
slice of what the candidate wrote. Key points come from model-answer chunks, which are Markdown:
bullets, numbered steps, bold labels, tables, quotes and "Say this" blocks are reduced to plain
sentences, and lines that only label what follows ("**Week 1–2**", "**Question:** ...") are dropped.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import pysbd

from interviewer.text import collapse_whitespace, repair_text

_WORD = re.compile(r"[A-Za-z0-9\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF\u0900-\u097F']+")
_BLOCK = re.compile(r"[^\n]+")  # a line break always ends a sentence (lists, pasted notes)
_CUT = re.compile(r"(?<=[.!?])\s+")
WINDOW = 1500
_segmenters = threading.local()


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str  # exactly answer[start:end]


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def _segmenter() -> pysbd.Segmenter:
    if not hasattr(_segmenters, "english"):
        _segmenters.english = pysbd.Segmenter(language="en", clean=False)
    return _segmenters.english


def _pysbd_spans(piece: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence pysbd finds in `piece`.

    pysbd's own char_span mode locates every sentence by compiling a regex from its text, a fresh
    pattern per sentence (a third of an offline grade's time); its sentences are verbatim slices of
    the input, so a forward string search finds the same places.
    """
    spans = []
    cursor = 0
    for sentence in _segmenter().processor(piece).process():
        start = piece.find(sentence, cursor)
        if start < 0:  # not verbatim (never seen): pysbd's own matching would skip it too
            continue
        cursor = start + len(sentence)
        spans.append((start, cursor))
    return spans


def sentence_spans(text: str) -> list[Span]:
    """Sentences of `text` as verbatim spans, stripped of surrounding whitespace, none empty.

    pysbd (a maintained rule-based segmenter) finds the boundaries inside each line: it knows
    abbreviations ("e.g.", "Dr."), decimals and amounts ("$9.1M"), ellipses and quoted speech.
    """
    return list(_cached_spans(text))


# One grade asks for the same answer's sentences from several places (form guards, evidence,
# the prefetch of embeddings); pysbd is the slowest step of an offline grade, so each text is
# segmented once. Spans are frozen, so sharing them is safe.
@lru_cache(maxsize=4096)
def _cached_spans(text: str) -> tuple[Span, ...]:
    spans: list[Span] = []
    for block in _BLOCK.finditer(text):
        for start, end in _windows(text, block.start(), block.end()):
            for piece_start, piece_end in _pysbd_spans(text[start:end]):
                _add(spans, text, start + piece_start, start + piece_end)
    return tuple(spans)


def clear_segment_cache() -> None:
    _cached_spans.cache_clear()


def _windows(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A long line cut after sentence-final punctuation into pieces of about WINDOW characters:
    pysbd's cost grows faster than linearly with the length of what it is given."""
    windows = []
    while end - start > WINDOW:
        cut = next((m.end() for m in _CUT.finditer(text, start + WINDOW // 2, min(end, start + WINDOW))), None)
        if cut is None:
            break
        windows.append((start, cut))
        start = cut
    windows.append((start, end))
    return windows


def _add(spans: list[Span], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start and words(text[start:end]):
        spans.append(Span(start, end, text[start:end]))


# --- model answers -> key points ----------------------------------------------------------------

_BOLD = re.compile(r"\*\*|__|`")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]\s+|>\s*|\d+[.)]\s+)")
_BOLD_TITLE = re.compile(r"^\*\*[^*]+\*\*:?$")  # a whole line in bold is a title, not a point
_LABEL_ONLY = re.compile(r"^[^.!?]{0,40}:\s*$")
_QUESTION_LABEL = re.compile(r"^\s*(?:question|answer|say this|key quote)\s*:?\s*", re.IGNORECASE)
_STAR_LABEL = re.compile(r"^(?:situation|task|actions?|results?|context|outcome)\s*:\s*", re.IGNORECASE)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")
MIN_POINT_WORDS = 4


def key_points(markdown: str) -> list[str]:
    """The model answer's key points: its sentences and list items, as plain text, in order."""
    points: list[str] = []
    in_code = False
    for raw in repair_text(markdown).splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            in_code = not in_code  # code and templates in fences are examples, not points
            continue
        if in_code or not line or _TABLE_RULE.match(line):
            continue
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|") if cell.strip()]
            # A row of short cells (a header, a metrics grid) says nothing on its own.
            if not cells or sum(len(words(c)) for c in cells) / len(cells) < 3:
                continue
            line = "; ".join(cells)
        line = _LIST_MARK.sub("", line)
        if re.match(r"^\*\*question:?\*\*", line, re.IGNORECASE) or _BOLD_TITLE.match(line):
            continue  # the question itself, and titles, are not points of the answer
        line = _BOLD.sub("", line).strip()
        line = _QUESTION_LABEL.sub("", line)
        line = _STAR_LABEL.sub("", line)
        line = line.strip().strip('"“”').strip()
        if not line or _LABEL_ONLY.match(line):
            continue
        for span in sentence_spans(line):
            point = collapse_whitespace(span.text).strip('"“” ')
            if len(words(point)) >= MIN_POINT_WORDS:
                points.append(point)
    return list(dict.fromkeys(points))
