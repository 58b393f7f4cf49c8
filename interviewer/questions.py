"""The question bank: every question a document asks, with where its model answer lives.

Questions come from question headings (`## Q1: ...`, `### 3. How do you ...?`), bold prompts
(`**"Design ingestion at 10x scale"**`), `**Question:**` lines, bulleted question banks, numbered
question titles, and topic headings whose content is STAR stories (the prompt is the topic).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from interviewer.documents import Document, Section
from interviewer.text import collapse_whitespace, normalize_for_match, slugify, strip_markdown_emphasis

_NUMBER_PREFIX = re.compile(r"^(?:Q\d+[:.)]\s*|\d+[.)]\s+)", re.IGNORECASE)
# Without a question mark, only an instruction to the candidate of some length is a question.
_PROMPT_START = re.compile(r"^(describe|explain|tell me|walk me|walk us|give|share|compare|design)\b(?!:)", re.I)
_LABEL_FORM = re.compile(r"^[^\W\d][\w ]{0,20}:\s")
_QUESTION_LINE = re.compile(r"^\s*\*\*Question:?\*\*:?\s*(.+)$", re.IGNORECASE)
_BULLET = re.compile(r"^[-*+]\s+(.*)$")
_PROBE = re.compile(r"^\s*[-*]?\s*\**(testing|look for|probing|what they're probing)\**\s*:?\**\s*:?\s*(.+)$", re.I)
_STAR_LABEL = re.compile(r"^\s*[-*]?\s*\**(situation|results?)\**\s*:", re.IGNORECASE | re.MULTILINE)


class Question(BaseModel):
    id: str
    text: str
    source: str
    section: str  # heading path of where the question sits, joined with " > "
    track: str
    levels: list[str] = Field(default_factory=list)
    origin: str  # heading | bold_prompt | question_line | bullet | star_topic
    answer_path: list[str] | None = None  # heading path of the model answer section, if any
    answer_chunk_ids: list[str] = Field(default_factory=list)
    probing: str | None = None  # what the interviewer is probing for, when the document says

    @property
    def has_model_answer(self) -> bool:
        return bool(self.answer_chunk_ids)


def clean_question_text(raw: str) -> str:
    text = strip_markdown_emphasis(raw)
    text = _NUMBER_PREFIX.sub("", text).strip()
    text = text.strip().strip('"“”').strip()
    return collapse_whitespace(text)


def looks_like_question(text: str) -> bool:
    """'How do you ...?' or 'Describe a time you ...' (not 'How to Use This Section', 'Bad: "Why?"')."""
    if _LABEL_FORM.match(text):
        return False
    if "?" in text:
        return True
    return bool(_PROMPT_START.match(text)) and len(text.split()) >= 5


def has_star_content(text: str) -> bool:
    labels = {m.group(1).lower().rstrip("s") for m in _STAR_LABEL.finditer(text)}
    return {"situation", "result"} <= labels


def _probe_in(lines: list[str]) -> str | None:
    for line in lines:
        match = _PROBE.match(line)
        if match:
            return strip_markdown_emphasis(match.group(2))
    return None


def _children(doc: Document, section: Section) -> list[Section]:
    depth = len(section.path)
    return [s for s in doc.sections if len(s.path) > depth and s.path[:depth] == section.path]


def is_question_section(section: Section) -> bool:
    """A heading, bold prompt or numbered title that asks something."""
    if section.pseudo and re.match(r'^["“]', section.title):
        return True
    return looks_like_question(clean_question_text(section.title))


def extract_questions(doc: Document, track: str, levels: list[str] | None = None) -> list[Question]:
    found: list[Question] = []
    seen: set[str] = set()

    def add(text: str, section: Section, origin: str, answer_path: tuple[str, ...] | None, probing: str | None):
        key = normalize_for_match(text)
        if len(key) < 8 or key in seen:
            return
        seen.add(key)
        found.append(
            Question(
                id=f"{doc.source}#{slugify(text, 80)}",
                text=text,
                source=doc.source,
                section=" > ".join(section.path),
                track=track,
                levels=list(levels or []),
                origin=origin,
                answer_path=list(answer_path) if answer_path else None,
                probing=probing,
            )
        )

    for section in doc.sections:
        children = _children(doc, section)
        if is_question_section(section):
            origin = "bold_prompt" if section.pseudo else "heading"
            add(clean_question_text(section.title), section, origin, section.path, _probe_in(section.lines))
        elif (
            not section.pseudo
            and not section.body.strip()
            and any(c.pseudo and len(c.path) == len(section.path) + 1 and has_star_content(c.body) for c in children)
        ):
            # A topic heading over STAR stories ("Flagging delays well in advance") is a prompt.
            add(clean_question_text(section.title), section, "star_topic", section.path, None)

        for line in section.lines:
            labelled = _QUESTION_LINE.match(line)
            if labelled:
                add(clean_question_text(labelled.group(1)), section, "question_line", section.path, None)

        items = [m.group(1) for line in section.lines if (m := _BULLET.match(line))]
        asked = [text for item in items if looks_like_question(text := clean_question_text(item))]
        if len(items) >= 2 and len(asked) >= 0.6 * len(items):
            for text in asked:
                add(text, section, "bullet", None, None)
        for item in items:
            quoted = re.match(r'^["“](.+?)["”]\s*$', item.strip())
            if quoted and looks_like_question(quoted.group(1)):
                add(clean_question_text(quoted.group(1)), section, "bullet", None, _probe_in(section.lines))
    return found


_WORD = re.compile(r"[a-z0-9]+")
FREE_TRACK = "own"  # the track of a question the candidate typed that the bank does not have
MATCH_OVERLAP = 0.7  # share of words in common (Jaccard) for a typed question to be a bank question


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(normalize_for_match(text)) if len(w) > 2}


def find_question(bank: list[Question], key: str) -> Question | None:
    """The bank question `key` names: its id, its text (any case, spacing, quotes or emphasis), a
    typed text it contains word for word, or one sharing most of its words; None when none does.

    Typed from memory, a question is rarely exact ("How do you design for 10x volume without 10x
    cost" for the bank's "How do you design for 10× volume growth without 10× cost growth?"), so a
    near match is the bank question, with its model answer and probing note, not a free question.
    """
    key = key.strip()
    by_id = next((q for q in bank if q.id == key), None)
    if by_id is not None:
        return by_id
    typed = normalize_for_match(clean_question_text(key)).rstrip("?. ")
    if not typed:
        return None
    exact = [q for q in bank if normalize_for_match(q.text).rstrip("?. ") == typed]
    if exact:
        return exact[0]
    words = _words(typed)
    if not words:
        return None

    def overlap(q: Question) -> float:
        theirs = _words(q.text)
        return len(words & theirs) / len(words | theirs) if theirs else 0.0

    contained = [q for q in bank if len(typed.split()) >= 4 and typed in normalize_for_match(q.text)]
    if contained:
        return max(contained, key=overlap)
    best = max(bank, key=overlap, default=None)
    return best if best is not None and overlap(best) >= MATCH_OVERLAP else None


def free_question(text: str) -> Question:
    """A question the candidate brought: graded like any other, its profile inferred by retrieval."""
    cleaned = clean_question_text(text)
    return Question(
        id=f"{FREE_TRACK}#{slugify(cleaned, 80)}",
        text=cleaned,
        source="",
        section="Your own question",
        track=FREE_TRACK,
        origin="own",
    )
