"""The domain glossary (bundled/glossary.yaml): the corpus's terms beside the plain words candidates use.

Retrieval uses it in both directions. A query that says a plain phrase ("how much data can we lose")
gets the entry's terms appended ("RPO RTO ..."), so BM25 and the embedding see the corpus's words; a
passage that uses a term gets the entry's plain phrases appended to its BM25 text when the BM25
index is built, so a query in plain words meets it halfway.

Phrases match on stemmed lowercase words, in order, with at most MAX_GAP other words between two
consecutive ones; a one-word phrase matches that word. Stemming is the Snowball English stemmer that
BM25 uses, so "losing data" matches "lose data".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache, lru_cache

import yaml

from interviewer.resources import package_path

MAX_GAP = 2
_WORD = re.compile(r"[a-z0-9]+(?:[/'][a-z0-9]+)*")


@dataclass(frozen=True)
class Entry:
    terms: tuple[str, ...]
    plain: tuple[str, ...]


@cache
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def stems(text: str) -> list[str]:
    words = _WORD.findall(text.lower().replace("’", "'"))
    return list(_stemmer().stemWords(words)) if words else []


# Words that carry no content of their own, for comparing what two short texts say.
_STOP_WORDS = (
    "a an the and or of to in on for with by at from is are was were be been it this that we i you our my "
    "your they their as how what when why do did does can would should could will"
)
_STOP = frozenset(_STOP_WORDS.split())
_PLAIN_WORD = re.compile(r"[a-z0-9]+")


def content_words(text: str) -> set[str]:
    """A text's lowercase words of three letters or more, less the stop words."""
    return {w for w in _PLAIN_WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


@lru_cache(maxsize=65536)
def content_stems(text: str) -> frozenset[str]:
    """A text's content words by their Snowball stems: "decisions" and "a decision" say the same word.
    Remembered per text, since a grade and its follow-ups ask for the same sentences' stems."""
    return frozenset(stems(" ".join(sorted(content_words(text)))))


def _phrase_in(phrase: tuple[str, ...], tokens: list[str], positions: dict[str, list[int]]) -> bool:
    """Whether the stemmed phrase occurs in `tokens` in order with at most MAX_GAP words between."""
    for start in positions.get(phrase[0], []):
        at, ok = start, True
        for word in phrase[1:]:
            nxt = next((i for i in positions.get(word, []) if at < i <= at + MAX_GAP + 1), None)
            if nxt is None:
                ok = False
                break
            at = nxt
        if ok:
            return True
    return False


class Glossary:
    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self._terms = [tuple(tuple(stems(t)) for t in e.terms) for e in entries]
        self._plain = [tuple(tuple(stems(p)) for p in e.plain) for e in entries]

    @staticmethod
    def _positions(tokens: list[str]) -> dict[str, list[int]]:
        positions: dict[str, list[int]] = {}
        for i, token in enumerate(tokens):
            positions.setdefault(token, []).append(i)
        return positions

    def _matching(self, text: str, sides: list[tuple[tuple[str, ...], ...]]) -> list[int]:
        tokens = stems(text)
        positions = self._positions(tokens)
        return [i for i, phrases in enumerate(sides) if any(p and _phrase_in(p, tokens, positions) for p in phrases)]

    def query_entries(self, query: str) -> list[Entry]:
        """Entries whose plain words the query uses (and whose terms it does not already use)."""
        said = set(self._matching(query, self._terms))
        return [self.entries[i] for i in self._matching(query, self._plain) if i not in said]

    def expand_query(self, query: str) -> str:
        """The query with the corpus terms for the plain phrases it uses; unchanged when none match."""
        extra = [t for e in self.query_entries(query) for t in e.terms]
        return f"{query} {' '.join(extra)}" if extra else query

    def expand_passage(self, text: str) -> str:
        """The passage with the plain phrases for the terms it uses (for its BM25 text)."""
        extra = [p for i in self._matching(text, self._terms) for p in self.entries[i].plain]
        return f"{text}\n{' '.join(extra)}" if extra else text


@cache
def glossary_text() -> str:
    return package_path("bundled", "glossary.yaml").read_text(encoding="utf-8")


@cache
def glossary() -> Glossary:
    data = yaml.safe_load(glossary_text())
    entries = [
        Entry(tuple(str(t) for t in row["terms"]), tuple(str(p) for p in row["plain"])) for row in data["entries"]
    ]
    return Glossary(entries)


def glossary_digest() -> str:
    return hashlib.sha256(glossary_text().encode("utf-8")).hexdigest()[:12]
