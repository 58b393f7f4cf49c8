"""Text repair and normalisation shared by the loader, the question bank and the evals.

Real users' Markdown arrives with mojibake (UTF-8 read as Windows-1252, sometimes mixed with
correct text in the same file). ftfy repairs complete sequences; a pre-pass drops the fragments
whose third byte was lost in the bad round trip (cp1252 has no character for 0x81, 0x8D, 0x8F,
0x90 and 0x9D), which ftfy would otherwise leave behind or "repair" into a wrong character.
"""

from __future__ import annotations

import re
import unicodedata

import ftfy
import ftfy.badness

# Characters that a UTF-8 continuation byte (0x80-0xBF) becomes when decoded as Windows-1252.
_CP1252_CONTINUATION = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
# "â" (0xE2, the lead byte of most punctuation/emoji) plus ONE continuation: a truncated sequence.
_TRUNCATED_E2_SEQUENCE = re.compile(f"\u00e2[{_CP1252_CONTINUATION}](?![{_CP1252_CONTINUATION}])")

_CURLY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_WS = re.compile(r"\s+")
_EMPHASIS = re.compile(r"\*\*|__")


def repair_text(text: str) -> str:
    """Repair mojibake, leaving correct text (curly quotes included) untouched."""
    if ftfy.badness.is_bad(text):
        text = _TRUNCATED_E2_SEQUENCE.sub("", text)
    repaired = ftfy.fix_text(text, uncurl_quotes=False, normalization="NFC")
    return repaired.replace("\r\n", "\n").replace("\r", "\n")


def normalize_for_match(text: str) -> str:
    """Loose form for substring matching: repaired, no ** emphasis, straight quotes, one space, lower."""
    text = _EMPHASIS.sub("", repair_text(text)).translate(_CURLY)
    return _WS.sub(" ", text).strip().casefold()


def strip_markdown_emphasis(text: str) -> str:
    return _EMPHASIS.sub("", text).strip()


def slugify(text: str, max_len: int = 60) -> str:
    """Lower-case ASCII slug for stable ids: 'Q1: Describe a time…' -> 'q1-describe-a-time'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "section"


def collapse_whitespace(text: str) -> str:
    return _WS.sub(" ", text).strip()
