"""The rubric (interviewer/rubric.yaml) as typed objects, and the one way its terms are matched.

The YAML is the single source of the decisions, axes and their 1–5 level anchors, evidence terms,
STAR elements and red flags; nothing here restates them. Matching follows the convention in the
YAML's header: case-insensitive; a term starts at a word boundary and may run on into more
letters ("autoscal" matches "autoscaling"); terms of three characters or fewer match whole words
only ("slo" must not fire on "slow"); terms that start with a symbol ("$", "%") match anywhere.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from interviewer.resources import package_path

RUBRIC_PATH = package_path("rubric.yaml")

Decision = Literal["Strong Hire", "Hire", "Lean Hire", "Lean No Hire", "No Hire"]
# Worst to best: a decision's index is its ordinal value (No Hire = 0 ... Strong Hire = 4).
DECISIONS: tuple[Decision, ...] = ("No Hire", "Lean No Hire", "Lean Hire", "Hire", "Strong Hire")

# Straight quotes and a plain space, so cues written with ' match answers typed with ’. Every
# mapping is one character to one character, so match offsets are offsets into the original text.
_SAME_LENGTH_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def fold(text: str) -> str:
    return text.translate(_SAME_LENGTH_FOLD)


class Source(BaseModel):
    doc: str
    heading: str
    quote: str


class DecisionDef(BaseModel):
    name: Decision
    definition: str
    typical_use: str = ""
    sources: list[Source] = Field(default_factory=list)


class Axis(BaseModel):
    id: str
    name: str
    question: str
    levels: dict[int, str]
    evidence_terms: list[str]
    probes: list[str] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)


class CuedItem(BaseModel):
    """A rubric item recognised by cue phrases and probed with one follow-up (STAR elements, red flags)."""

    id: str
    name: str
    description: str
    cues: list[str]
    probe: str = ""
    sources: list[Source] = Field(default_factory=list)


class StarElement(CuedItem):
    pass


class RedFlag(CuedItem):
    pass


class Rubric(BaseModel):
    version: int
    decisions: list[DecisionDef]
    axes: list[Axis]
    star: list[StarElement]
    red_flags: list[RedFlag]
    feedback_sections: list[str]
    decision_rule_notes: str = ""

    def axis(self, axis_id: str) -> Axis:
        return next(a for a in self.axes if a.id == axis_id)

    def decision(self, name: str) -> DecisionDef:
        return next(d for d in self.decisions if d.name == name)

    def all_evidence_terms(self) -> list[str]:
        return sorted({t for a in self.axes for t in a.evidence_terms})


def load_rubric(path: Path = RUBRIC_PATH) -> Rubric:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Rubric(
        version=data["version"],
        decisions=data["decisions"],
        axes=data["axes"],
        star=data["star"]["elements"],
        red_flags=data["red_flags"],
        feedback_sections=data.get("feedback_format", {}).get("sections", []),
        decision_rule_notes=data.get("decision_rule_notes", ""),
    )


@cache
def rubric() -> Rubric:
    """The bundled rubric, parsed once per process."""
    return load_rubric()


class TermMatcher:
    """Finds which of a list of terms occur in a text, and where (offsets into the original text).

    Word terms share one regex behind a single start-of-word lookbehind (so most positions fail at
    once), written as a trie of the terms so a word start is tried character by character rather
    than term by term; symbol terms have their own alternation. At a position the longest term wins,
    so "cost per" beats "cost"; a match's text, lower-cased, is the term itself.
    """

    def __init__(self, terms: list[str]):
        self.terms = list(dict.fromkeys(t.lower() for t in terms))
        word = [t for t in self.terms if t[:1].isalnum()]
        symbol = sorted((t for t in self.terms if not t[:1].isalnum()), key=len, reverse=True)
        parts = []
        if word:
            parts.append(r"(?<!\w)" + _trie_pattern(word))
        if symbol:
            parts.append("|".join(re.escape(t) for t in symbol))
        self._regex = re.compile("|".join(parts) or r"(?!x)x", re.IGNORECASE)
        self._known = set(self.terms)

    def find(self, text: str) -> list[tuple[str, int, int]]:
        """(term, start, end) for every non-overlapping match, left to right."""
        found = []
        for match in self._regex.finditer(fold(text)):
            term = match.group(0).lower()
            if term in self._known:
                found.append((term, match.start(), match.end()))
        return found

    def distinct(self, text: str) -> set[str]:
        return {term for term, _, _ in self.find(text)}


def _trie_pattern(terms: list[str]) -> str:
    """A regex matching the longest of `terms` at a position; a term of three characters or fewer
    only where a word ends after it ("sla" not inside "slack")."""
    end = ""  # the key marking that a term ends at this node; no character is the empty string
    root: dict[str, Any] = {}
    for term in terms:
        node = root
        for char in term:
            node = node.setdefault(char, {})
        node[end] = len(term) <= 3

    def pattern(node: dict[str, Any]) -> str:
        # Longer continuations first, then ending here: regex alternation takes the first that fits.
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char != end]
        if end in node:
            branches.append(r"(?!\w)" if node[end] else "")
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return pattern(root)


@cache
def axis_matcher(axis_id: str) -> TermMatcher:
    return TermMatcher(rubric().axis(axis_id).evidence_terms)


@cache
def all_terms_matcher() -> TermMatcher:
    return TermMatcher(rubric().all_evidence_terms())


@cache
def star_matcher(element_id: str) -> TermMatcher:
    return TermMatcher(next(e for e in rubric().star if e.id == element_id).cues)


@cache
def red_flag_matcher(flag_id: str) -> TermMatcher:
    return TermMatcher(next(f for f in rubric().red_flags if f.id == flag_id).cues)
