"""Reading documents: refuse what is not a text document, repair encoding, parse Markdown structure.

The parser understands what real interview-prep notes contain: ATX headings, mkdocs admonitions
(`!!! kind "Title"` with an indented body) as titled sections, bold pseudo-headings (`**Summary**`,
`**"Design ingestion at 10x scale"**`), numbered story titles followed by a list, fenced code and
tables (kept intact), and `---` rules that close the current chapter. The output is a flat list of
`Section`s in document order, each with its heading path; chunking and the question bank read it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from interviewer.text import repair_text, strip_markdown_emphasis


class DocumentError(ValueError):
    """A document was refused. The message says which file and why, in words a user can act on."""


@dataclass
class Section:
    title: str
    path: tuple[str, ...]  # heading titles from the top of the document, ending with this one
    level: int
    line: int  # 1-based line of the heading in the repaired text
    pseudo: bool = False  # a bold line or numbered story title rather than a real heading
    admonition: str | None = None  # mkdocs admonition kind ("success", "note", ...) if any
    lines: list[str] = field(default_factory=list)  # own content, dedented, without subsections

    @property
    def body(self) -> str:
        return "\n".join(self.lines).strip("\n")


@dataclass
class Document:
    source: str  # stable id of the document in the index: a file name, or "user/<file name>"
    path: Path
    sha256: str
    text: str  # encoding-repaired text
    sections: list[Section]

    @property
    def title(self) -> str:
        return self.sections[0].path[0] if self.sections and self.sections[0].path else self.source


# --- loading -------------------------------------------------------------------------------------

_MAGIC = {
    b"PK\x03\x04": "a zip archive (unzip it and add the documents inside)",
    b"%PDF": "a PDF (export it to Markdown or plain text first)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
    b"\xd0\xcf\x11\xe0": "an old Office document (save it as Markdown or plain text)",
}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_document_bytes(path: Path, *, allowed_suffixes: tuple[str, ...], max_bytes: int) -> bytes:
    """Return the raw bytes of an acceptable document, or raise DocumentError saying why not."""
    name = path.name
    if not path.is_file():
        raise DocumentError(f"{name}: not found or not a regular file ({path})")
    if path.suffix.lower() not in allowed_suffixes:
        accepted = ", ".join(allowed_suffixes)
        raise DocumentError(f"{name}: unsupported file type '{path.suffix or '(none)'}' (accepted: {accepted})")
    size = path.stat().st_size
    if size > max_bytes:
        raise DocumentError(
            f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.1f} MB limit "
            "(raise INTERVIEWER_MAX_DOCUMENT_BYTES to accept it)"
        )
    return path.read_bytes()


def decode_document(name: str, data: bytes) -> str:
    """Decode bytes as text, refusing binaries; repairs mojibake. Raises DocumentError."""
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise DocumentError(f"{name}: this is {what}, not a text document")
    if b"\x00" in data[:65536]:
        raise DocumentError(f"{name}: looks like a binary file (contains NUL bytes), not a text document")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Legacy single-byte files (Windows-1252 exports) are common; anything else is refused.
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"{name}: not valid UTF-8 or Windows-1252 text ({exc.reason})") from None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise DocumentError(f"{name}: looks like a binary file ({controls} control characters)")
    text = repair_text(text)
    if not text.strip():
        raise DocumentError(f"{name}: the document is empty")
    return text


def load_document(path: Path, source: str, *, allowed_suffixes: tuple[str, ...], max_bytes: int) -> Document:
    data = read_document_bytes(path, allowed_suffixes=allowed_suffixes, max_bytes=max_bytes)
    return parse_document(source, path, data)


def parse_document(source: str, path: Path, data: bytes) -> Document:
    text = decode_document(path.name, data)
    sections = parse_sections(text, default_title=path.stem)
    if not any(s.body.strip() for s in sections):
        raise DocumentError(f"{path.name}: no readable content found")
    return Document(source=source, path=path, sha256=sha256_bytes(data), text=text, sections=sections)


# --- parsing -------------------------------------------------------------------------------------

_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_ADMONITION = re.compile(r'^(?:!!!|\?\?\?\+?)\s*([\w-]+)(?:\s+"(.*)")?\s*$')
_FENCE = re.compile(r"^(```|~~~)")
_RULE = re.compile(r"^(?:-{3,}|\*{3,}|_{3,})\s*$")
_BOLD_LINE = re.compile(r"^\*\*([^*].*?)\*\*\s*:?\s*$")
_NUMBERED = re.compile(r"^\d+\.\s+(\S.*)$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")


@dataclass
class _Event:
    kind: str  # "line" | "code" | "admonition_start" | "admonition_end"
    text: str
    line: int
    admonition: str = ""
    has_body: bool = False


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _events(lines: list[str], first_line: int) -> Iterator[_Event]:
    """Flatten admonitions (recursively) into start/end events around their dedented bodies."""
    in_code = False
    i = 0
    while i < len(lines):
        line = lines[i]
        lineno = first_line + i
        if _FENCE.match(line.lstrip()) and (in_code or _indent(line) < 4):
            in_code = not in_code
            yield _Event("code", line, lineno)
            i += 1
            continue
        if in_code:
            yield _Event("code", line, lineno)
            i += 1
            continue
        match = _ADMONITION.match(line)
        if match:
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) >= 4):
                j += 1
            while j > i + 1 and not lines[j - 1].strip():
                j -= 1
            body = [b[4:] if b.strip() else "" for b in lines[i + 1 : j]]
            title = match.group(2) or match.group(1).capitalize()
            has_body = any(b.strip() for b in body)
            yield _Event("admonition_start", title, lineno, admonition=match.group(1), has_body=has_body)
            yield from _events(body, lineno + 1)
            yield _Event("admonition_end", title, lineno, admonition=match.group(1), has_body=has_body)
            i = j
            continue
        yield _Event("line", line, lineno)
        i += 1


def _clean_title(title: str) -> str:
    return strip_markdown_emphasis(title).strip().rstrip(":").strip()


def _is_numbered_title(lines: list[str], i: int) -> bool:
    """A numbered line standing alone and followed by a list is a story or question title."""
    if not _NUMBERED.match(lines[i]):
        return False
    if i > 0 and lines[i - 1].strip():
        return False
    if i + 1 < len(lines) and lines[i + 1].strip():
        return False
    nxt = next((x for x in lines[i + 1 :] if x.strip()), "")
    return bool(re.match(r"^\s*[-*+]\s+", nxt))


def parse_sections(text: str, default_title: str) -> list[Section]:
    lines = text.expandtabs(4).split("\n")
    root = Section(title=default_title, path=(default_title,), level=0, line=1)
    sections: list[Section] = [root]
    stack: list[Section] = [root]  # open sections, outermost first
    events = list(_events(lines, 1))
    flat_lines = [e.text for e in events]

    def push(section: Section) -> None:
        # The synthetic root (content before the first heading) is not a parent of real headings.
        parent_path = () if stack[-1] is root else stack[-1].path
        section.path = (*parent_path, section.title)
        stack.append(section)
        sections.append(section)

    def real_top() -> Section:
        return next(s for s in reversed(stack) if not s.pseudo)

    for idx, event in enumerate(events):
        if event.kind == "code":
            stack[-1].lines.append(event.text)
            continue
        if event.kind == "admonition_start":
            while stack[-1].pseudo and len(stack) > 1:
                stack.pop()
            if not event.has_body:
                # A title-only admonition works like a heading: it ends the previous one.
                while stack[-1].admonition and len(stack) > 1:
                    stack.pop()
            level = stack[-1].level + 1
            push(Section(_clean_title(event.text), (), level, event.line, admonition=event.admonition))
            continue
        if event.kind == "admonition_end":
            # An admonition with its own indented body closes when the body ends, unless it is a
            # chapter (level <= 2) whose unindented content follows; then that content belongs to it.
            owner = next((s for s in reversed(stack) if s.admonition and s.line == event.line), None)
            if owner is not None:
                upcoming = next((e for e in events[idx + 1 :] if e.kind != "line" or e.text.strip()), None)
                followed_by_admonition = upcoming is not None and upcoming.kind == "admonition_start"
                keep_open = (owner.level <= 2 or not event.has_body) and not followed_by_admonition
                while stack[-1] is not owner:
                    stack.pop()
                if not keep_open:
                    stack.pop()
            continue
        line = event.text
        heading = _ATX.match(line)
        if heading:
            level = len(heading.group(1))
            while len(stack) > 1 and stack[-1].level >= level:
                stack.pop()
            push(Section(_clean_title(heading.group(2)), (), level, event.line))
            continue
        if _RULE.match(line):
            while len(stack) > 1 and stack[-1].level > 1:
                stack.pop()
            continue
        bold = _BOLD_LINE.match(line)
        if bold or _is_numbered_title(flat_lines, idx):
            title = _clean_title(bold.group(1)) if bold else _clean_title(line)
            while stack[-1].pseudo:
                stack.pop()
            push(Section(title, (), real_top().level + 1, event.line, pseudo=True))
            continue
        stack[-1].lines.append(line)

    return [s for s in sections if s is not root or s.body.strip()]
