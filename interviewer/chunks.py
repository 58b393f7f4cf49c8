"""Chunking: sections become retrievable chunks with stable ids, heading paths and a kind.

A chunk unit is a real section (heading or admonition) together with its bold pseudo-heading
subsections, unless a pseudo-heading is itself a question (then it is a unit of its own, so a
question's model answer is exactly its text). Units longer than `max_chars` are split at
pseudo-heading and block boundaries; tables and code blocks are not split below `hard_limit`
characters (beyond it they are cut between lines, a table's header repeated); an oversized prose
block falls back to langchain's RecursiveCharacterTextSplitter.

Ids are `source#heading/path/slugs:n`, n counting chunks with the same slug path, so an
unchanged document always yields the same ids (re-ingest upserts instead of duplicating) and no
two chunks of a document share one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel

from interviewer.documents import Document, Section
from interviewer.questions import has_star_content, is_question_section
from interviewer.text import slugify

KINDS = ("question", "model_answer", "rubric", "feedback_example", "star_story", "guidance")

_RUBRIC_HEADING = re.compile(
    r"rubric|evaluation axes|red flags|how interviewers evaluate|star worksheet|evaluation criteria", re.I
)
_SCRIPT_HEADING = re.compile(r"script|say this|opener|winning angles", re.I)
_EXAMPLE_HEADING = re.compile(r"\bexample \d+\b", re.I)
_FENCE = re.compile(r"^\s*(```|~~~)")
# Labels that say nothing about the topic; left out of the embedded context.
_GENERIC_HEADING = re.compile(r"^(?:(?:strategic|star / architectural|model)?\s*answer|example|template)$", re.I)


class Chunk(BaseModel):
    id: str
    source: str
    track: str
    kind: str
    heading_path: list[str]
    section_path: list[str]  # path of the unit the chunk came from (a question's answer section)
    text: str
    ordinal: int  # position in the document
    document_title: str = ""

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def context(self) -> str:
        """The nearest headings that say what the chunk is about (not the document title, not 'Answer')."""
        path = [p for p in self.heading_path if p != self.document_title and not _GENERIC_HEADING.match(p)]
        return " > ".join(path[-2:])

    @property
    def embed_text(self) -> str:
        """What is embedded and BM25-indexed: the context gives short chunks their topic."""
        return f"{self.context}\n{self.text}"


@dataclass
class _Part:
    title: str | None  # pseudo-heading title, None for the unit's own text
    blocks: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(b) + 2 for b in self.blocks)


@dataclass
class _Unit:
    section: Section
    parts: list[_Part]


def split_blocks(lines: list[str]) -> list[str]:
    """Blank-line separated blocks; a fenced code block is one block even with blank lines inside."""
    blocks: list[str] = []
    current: list[str] = []
    in_code = False
    for line in lines:
        if _FENCE.match(line):
            in_code = not in_code
        if not line.strip() and not in_code:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _units(doc: Document) -> list[_Unit]:
    units: list[_Unit] = []
    by_path: dict[tuple[str, ...], _Unit] = {}
    for section in doc.sections:
        if section.pseudo and not is_question_section(section):
            owner = by_path.get(section.path[:-1])
            if owner is not None:
                owner.parts.append(_Part(section.title, [f"**{section.title}**", *split_blocks(section.lines)]))
                continue
        unit = _Unit(section, [_Part(None, split_blocks(section.lines))])
        units.append(unit)
        by_path[section.path] = unit
    return units


def hard_limit(max_chars: int) -> int:
    """The most a table or code block may hold in one chunk; longer ones are cut between lines."""
    return max(4 * max_chars, 4000)


def _split_lines(block: str, limit: int, header: list[str], footer: str = "") -> list[str]:
    """Cut an oversized table or code block between lines, repeating its header in every piece."""
    head = "\n".join(header)
    lines = block.split("\n")[len(header) :]
    if len(head) + len(footer) > limit // 4:  # a monstrous header is not worth repeating
        head, footer, lines = "", "", block.split("\n")
    room = limit - len(head) - len(footer) - 2
    if footer and lines and lines[-1].strip() == footer.strip():
        lines = lines[:-1]
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        # A single line longer than the limit (a 100 KB table row) is cut into pieces itself.
        parts = [line[i : i + room] for i in range(0, len(line), room)] or [""]
        for part in parts:
            if current and size + len(part) + 1 > room:
                pieces.append("\n".join(current))
                current, size = [], 0
            current.append(part)
            size += len(part) + 1
    if current:
        pieces.append("\n".join(current))
    return ["\n".join(x for x in (head, piece, footer) if x) for piece in pieces]


def _split_oversized(block: str, max_chars: int) -> list[str]:
    if len(block) <= max_chars:
        return [block]
    fence = _FENCE.match(block)
    if fence or block.lstrip().startswith("|"):
        # Tables and code stay whole up to the hard limit; beyond it (an unclosed fence swallowing
        # the rest of the file, a 10,000-row table) they are cut between lines.
        if len(block) <= hard_limit(max_chars):
            return [block]
        if fence:
            return _split_lines(block, hard_limit(max_chars), block.split("\n")[:1], fence.group(1))
        table_head = block.split("\n")[:2]
        header = table_head if len(table_head) == 2 and set(table_head[1].strip()) <= set("|:- ") else []
        return _split_lines(block, hard_limit(max_chars), header[:2] if header else [])
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=max_chars, chunk_overlap=0)
    return splitter.split_text(block)


def _pack(parts: list[_Part], max_chars: int) -> list[tuple[str | None, list[str]]]:
    """Greedy packing; a pseudo-heading part stays together whenever it fits in one chunk."""
    chunks: list[tuple[str | None, list[str]]] = []
    current: list[str] = []
    current_title: str | None = None
    size = 0

    def flush() -> None:
        nonlocal current, size
        if current:
            chunks.append((current_title, current))
        current, size = [], 0

    for part in parts:
        if not part.blocks:
            continue
        if current and size + part.size > max_chars:
            flush()
        for block in part.blocks:
            for piece in _split_oversized(block, max_chars):
                if current and size + len(piece) + 2 > max_chars:
                    flush()
                if not current:
                    current_title = part.title
                current.append(piece)
                size += len(piece) + 2
    flush()
    return chunks


def classify(path: tuple[str, ...], text: str, is_answer: bool) -> str:
    joined = " > ".join(path)
    if _EXAMPLE_HEADING.search(joined) and re.search(r"\bdecision\b", text, re.I):
        return "feedback_example"
    if has_star_content(text) and "template" not in joined.lower():
        return "star_story"
    if is_answer or _SCRIPT_HEADING.search(joined):
        return "model_answer"
    if _RUBRIC_HEADING.search(joined):
        return "rubric"
    items = re.findall(r"^\s*[-*+]\s+(.*)$", text, re.M)
    asked = [i for i in items if i.rstrip().rstrip('"').endswith("?")]
    if len(items) >= 2 and len(asked) >= 0.6 * len(items):
        return "question"
    return "guidance"


def chunk_document(doc: Document, track: str, answer_paths: set[tuple[str, ...]], max_chars: int = 900) -> list[Chunk]:
    chunks: list[Chunk] = []
    first = doc.sections[0] if doc.sections else None
    doc_title = first.title if first is not None and first.level == 1 else ""
    path_counts: dict[str, int] = {}
    for unit in _units(doc):
        unit_path = unit.section.path
        is_answer = any(unit_path[:n] in answer_paths for n in range(1, len(unit_path) + 1))
        for title, blocks in _pack(unit.parts, max_chars):
            text = "\n\n".join(blocks).strip()
            if not text:
                continue
            heading_path = (*unit_path, title) if title else unit_path
            # Counted per slug path, not per heading path: "Café!" and "Cafe?" (or two headings in
            # a script slugify drops) share a slug, and Chroma refuses duplicate ids in one upsert.
            slug_path = "/".join(slugify(p) for p in heading_path)
            n = path_counts.get(slug_path, 0)
            path_counts[slug_path] = n + 1
            chunks.append(
                Chunk(
                    id=f"{doc.source}#{slug_path}:{n}",
                    source=doc.source,
                    track=track,
                    kind=classify(heading_path, text, is_answer),
                    heading_path=list(heading_path),
                    section_path=list(unit_path),
                    text=text,
                    ordinal=len(chunks),
                    document_title=doc_title,
                )
            )
    return chunks
