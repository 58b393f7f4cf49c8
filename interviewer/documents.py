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

_ZIP = "a zip archive (unzip it and add the documents inside)"
_MAGIC = {
    b"PK\x03\x04": _ZIP,
    b"PK\x05\x06": _ZIP,
    b"PK\x07\x08": _ZIP,
    b"%PDF": "a PDF (export it to Markdown or plain text first)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
    b"\xd0\xcf\x11\xe0": "an old Office document (save it as Markdown or plain text)",
    b"GIF8": "a GIF image",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
    b"Rar!\x1a\x07": "a RAR archive",
    b"\xfd7zXZ\x00": "an xz archive",
    b"\x28\xb5\x2f\xfd": "a zstd archive",
    b"SQLite format 3\x00": "an SQLite database",
    b"\x7fELF": "a program (ELF executable)",
}
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Bytes that Windows-1252 leaves undefined; a file with them is not Windows-1252 either.
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
_HIGH_BYTES = bytes(range(0x80, 0x100))
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")


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
    check_size(name, path.stat().st_size, max_bytes)
    data = path.read_bytes()
    check_size(name, len(data), max_bytes)  # it may have grown since stat()
    return data


def check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise DocumentError(
            f"{name}: {size:,} bytes ({size / 1e6:.1f} MB) is over the {max_bytes:,}-byte limit "
            "(split it, or raise INTERVIEWER_MAX_DOCUMENT_BYTES to accept it)"
        )


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the bytes look like mostly-ASCII text saved as BOM-less UTF-16."""
    sample = data[:65536]
    if len(sample) < 4 or len(sample) % 2:
        return None
    pairs = len(sample) // 2
    even_nul, odd_nul = sample[0::2].count(0), sample[1::2].count(0)
    if odd_nul >= 0.4 * pairs and even_nul <= 0.02 * pairs:
        return "utf-16-le"
    if even_nul >= 0.4 * pairs and odd_nul <= 0.02 * pairs:
        return "utf-16-be"
    return None


def _decode_text(name: str, data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                raise DocumentError(
                    f"{name}: starts with a {encoding.upper()} byte-order mark but is not valid {encoding.upper()} "
                    "(save it as UTF-8)"
                ) from None
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        try:
            return data.decode(utf16)
        except UnicodeDecodeError:
            raise DocumentError(
                f"{name}: looks like {utf16.upper()} text without a byte-order mark but does not decode "
                "(save it as UTF-8)"
            ) from None
    if b"\x00" in data:
        raise DocumentError(f"{name}: looks like a binary file (contains NUL bytes), not a text document")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first_error = exc
    high = len(data) - len(data.translate(None, _HIGH_BYTES))
    if not _CP1252_UNDEFINED.intersection(data) and (high <= 0.3 * len(data) or len(data) < 64):
        # Legacy single-byte files (Windows-1252 exports) are common: a few accented letters.
        return data.decode("cp1252")
    # Valid UTF-8 except for a few damaged bytes (a truncated last character, a stray byte): keep it.
    lenient = data.decode("utf-8-sig", errors="replace")
    damaged = lenient.count("\ufffd") - data.count("\ufffd".encode())
    if damaged <= max(8, len(lenient) // 1000):
        return lenient
    if high > 0.3 * len(data):
        raise DocumentError(
            f"{name}: neither UTF-8 nor Windows-1252 text: {high:,} of {len(data):,} bytes are non-ASCII, "
            "so it is a binary file or text in another legacy encoding (save it as UTF-8)"
        )
    byte = first_error.object[first_error.start]
    raise DocumentError(
        f"{name}: not valid UTF-8 or Windows-1252 text (byte 0x{byte:02X} at offset {first_error.start:,}); "
        "save it as UTF-8"
    )


def decode_document(name: str, data: bytes) -> str:
    """Decode bytes as text, refusing binaries; repairs mojibake. Raises DocumentError."""
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise DocumentError(f"{name}: this is {what}, not a text document")
    text = _decode_text(name, data)
    controls = sum(1 for _ in _CONTROL_CHARS.finditer(text))
    if controls > max(8, len(text) // 100):
        raise DocumentError(f"{name}: looks like a binary file ({controls:,} control characters)")
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

_ATX_START = re.compile(r"(#{1,6})\s")
_ADMONITION = re.compile(r'^(?:!!!|\?\?\?\+?)\s*([\w-]+)(?:\s+"(.*)")?\s*$')
_FENCE = re.compile(r"^(```|~~~)")
_RULE = re.compile(r"^(?:-{3,}|\*{3,}|_{3,})\s*$")
_NUMBERED = re.compile(r"^\d+\.\s+(\S.*)$")
# Limits that keep hostile Markdown linear: admonitions nest at most this deep (deeper markers are
# plain text), and indentation beyond MAX_INDENT columns is cut to it (no real document needs more,
# and long whitespace runs are what makes backtracking regular expressions slow).
MAX_ADMONITION_DEPTH = 8
MAX_INDENT = 64


@dataclass
class _Event:
    kind: str  # "line" | "code" | "admonition_start" | "admonition_end"
    text: str
    line: int
    admonition: str = ""
    has_body: bool = False


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _tidy(line: str) -> str:
    """No trailing whitespace, and indentation capped at MAX_INDENT columns."""
    line = line.rstrip()
    indent = _indent(line)
    return line[indent - MAX_INDENT :] if indent > MAX_INDENT else line


def _events(lines: list[str], first_line: int, depth: int = 0) -> Iterator[_Event]:
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
        match = _ADMONITION.match(line) if depth < MAX_ADMONITION_DEPTH else None
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
            yield from _events(body, lineno + 1, depth + 1)
            yield _Event("admonition_end", title, lineno, admonition=match.group(1), has_body=has_body)
            i = j
            continue
        yield _Event("line", line, lineno)
        i += 1


def _clean_title(title: str) -> str:
    return strip_markdown_emphasis(title).strip().rstrip(":").strip()


def _atx(line: str) -> tuple[int, str] | None:
    """(level, raw title) of an ATX heading: '## Title ##' -> (2, 'Title').

    Done without one big regular expression: `^(#{1,6})\\s+(.+?)\\s*#*\\s*$` backtracks cubically on
    a heading with a long run of spaces inside it (3 KB of them hang the parser for minutes).
    """
    match = _ATX_START.match(line)
    if match is None:
        return None
    rest = line[match.end() :]
    title = rest.strip()
    if not title:
        return (len(match.group(1)), "") if rest else None
    return len(match.group(1)), title.rstrip("#").rstrip() or title[0]


def _bold_title(line: str) -> str | None:
    """The text of a bold pseudo-heading line ('**Summary**', '**Evidence**:'), else None."""
    if not line.startswith("**") or len(line) < 5 or line[2] == "*":
        return None
    line = line.rstrip()
    if line.endswith(":"):
        line = line[:-1].rstrip()
    if len(line) < 5 or not line.endswith("**"):
        return None
    return line[2:-2]


def _next_index(flags: list[bool]) -> list[int]:
    """For each position, the first position at or after it whose flag is set (len(flags) if none)."""
    out = [len(flags)] * (len(flags) + 1)
    for i in range(len(flags) - 1, -1, -1):
        out[i] = i if flags[i] else out[i + 1]
    return out


def _is_numbered_title(lines: list[str], i: int, next_text: list[int]) -> bool:
    """A numbered line standing alone and followed by a list is a story or question title."""
    if not _NUMBERED.match(lines[i]):
        return False
    if i > 0 and lines[i - 1].strip():
        return False
    if i + 1 < len(lines) and lines[i + 1].strip():
        return False
    j = next_text[i + 1]
    nxt = lines[j] if j < len(lines) else ""
    return bool(re.match(r"^\s*[-*+]\s+", nxt))


def parse_sections(text: str, default_title: str) -> list[Section]:
    lines = [_tidy(line) for line in text.expandtabs(4).split("\n")]
    root = Section(title=default_title, path=(default_title,), level=0, line=1)
    sections: list[Section] = [root]
    stack: list[Section] = [root]  # open sections, outermost first
    events = list(_events(lines, 1))
    flat_lines = [e.text for e in events]
    # Look-ahead tables, so that no event scans the rest of the document (that was quadratic).
    next_text = _next_index([bool(t.strip()) for t in flat_lines])
    next_significant = _next_index([e.kind != "line" or bool(e.text.strip()) for e in events])

    def push(section: Section) -> None:
        # The synthetic root (content before the first heading) is not a parent of real headings.
        parent_path = () if stack[-1] is root else stack[-1].path
        section.path = (*parent_path, section.title)
        stack.append(section)
        sections.append(section)

    def real_top() -> Section:
        return next(s for s in reversed(stack) if not s.pseudo)

    def add_line(line: str) -> None:
        own = stack[-1].lines
        if line or not own or own[-1]:  # runs of blank lines become one
            own.append(line)

    for idx, event in enumerate(events):
        if event.kind == "code":
            add_line(event.text)
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
                k = next_significant[idx + 1]
                followed_by_admonition = k < len(events) and events[k].kind == "admonition_start"
                keep_open = (owner.level <= 2 or not event.has_body) and not followed_by_admonition
                while stack[-1] is not owner:
                    stack.pop()
                if not keep_open:
                    stack.pop()
            continue
        line = event.text
        heading = _atx(line)
        if heading:
            level = heading[0]
            while len(stack) > 1 and stack[-1].level >= level:
                stack.pop()
            push(Section(_clean_title(heading[1]), (), level, event.line))
            continue
        if _RULE.match(line):
            while len(stack) > 1 and stack[-1].level > 1:
                stack.pop()
            continue
        bold = _bold_title(line)
        if bold is not None or _is_numbered_title(flat_lines, idx, next_text):
            title = _clean_title(bold if bold is not None else line)
            while stack[-1].pseudo:
                stack.pop()
            push(Section(title, (), real_top().level + 1, event.line, pseudo=True))
            continue
        add_line(line)

    return [s for s in sections if s is not root or s.body.strip()]
