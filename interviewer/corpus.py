"""The corpus as the rest of the product sees it: documents, their chunks and their questions.

The bundled documents live in `bundled/corpus/` (tracks and levels in its `manifest.json`); the
user's own documents live in `<home>/documents/` and get the track "my-documents". Everything here
is pure Python (no model, no vector store) so that listing questions starts fast.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from interviewer.chunks import Chunk, chunk_document
from interviewer.documents import (
    Document,
    DocumentError,
    check_size,
    parse_document,
    read_document_bytes,
    sha256_bytes,
)
from interviewer.files import write_atomically
from interviewer.questions import Question, extract_questions
from interviewer.settings import Settings

USER_TRACK = "my-documents"
USER_PREFIX = "user/"


@dataclass(frozen=True)
class DocumentFile:
    """A document on disk that belongs in the index, before it is read."""

    source: str
    path: Path
    track: str
    levels: tuple[str, ...]


@dataclass
class ParsedDocument:
    file: DocumentFile
    document: Document
    chunks: list[Chunk]
    questions: list[Question]


def _manifest(corpus_dir: Path) -> dict[str, dict]:
    manifest = corpus_dir / "manifest.json"
    if not manifest.exists():
        return {}
    return {d["file"]: d for d in json.loads(manifest.read_text(encoding="utf-8"))["documents"]}


def document_files(settings: Settings) -> list[DocumentFile]:
    """Every document the index should hold: the bundled corpus plus the user's documents."""
    files: list[DocumentFile] = []
    meta = _manifest(settings.corpus_dir)
    for path in sorted(settings.corpus_dir.iterdir()) if settings.corpus_dir.is_dir() else []:
        if path.suffix.lower() in settings.allowed_suffixes and path.is_file():
            info = meta.get(path.name, {})
            files.append(DocumentFile(path.name, path, info.get("track", "corpus"), tuple(info.get("levels", []))))
    user_dir = settings.documents_dir
    for path in sorted(user_dir.iterdir()) if user_dir.is_dir() else []:
        # Hidden files are not documents: ".name.tmp" is what a copy killed half-way leaves behind.
        if path.is_file() and not path.name.startswith("."):
            files.append(DocumentFile(USER_PREFIX + path.name, path, USER_TRACK, ()))
    return files


def parse_file(file: DocumentFile, settings: Settings, data: bytes | None = None) -> ParsedDocument:
    """Read, repair, parse, extract questions and chunk one document. Raises DocumentError.

    Besides the byte limit, a document is refused when its structure is over the section or chunk
    limits (a generated Markdown bomb would otherwise take minutes to index), so everything past
    this point sees bounded input.
    """
    name = file.path.name
    if data is None:
        data = read_document_bytes(
            file.path, allowed_suffixes=settings.allowed_suffixes, max_bytes=settings.max_document_bytes
        )
    check_size(name, len(data), settings.max_document_bytes)
    document = parse_document(file.source, file.path, data)
    if len(document.sections) > settings.max_document_sections:
        raise DocumentError(
            f"{name}: {len(document.sections):,} sections (headings, admonitions, bold titles) is over the limit "
            f"of {settings.max_document_sections:,} (split it, or raise INTERVIEWER_MAX_DOCUMENT_SECTIONS)"
        )
    questions = extract_questions(document, file.track, list(file.levels))
    answer_paths = {tuple(q.answer_path) for q in questions if q.answer_path}
    chunks = chunk_document(document, file.track, answer_paths, settings.max_chunk_chars)
    if not chunks:
        raise DocumentError(f"{name}: no readable content found")
    if len(chunks) > settings.max_document_chunks:
        raise DocumentError(
            f"{name}: {len(chunks):,} chunks is over the limit of {settings.max_document_chunks:,} "
            "(split it, or raise INTERVIEWER_MAX_DOCUMENT_CHUNKS)"
        )
    duplicated = [cid for cid, n in Counter(c.id for c in chunks).items() if n > 1]
    if duplicated:  # the index would refuse the whole upsert half-way through an ingest
        raise DocumentError(f"{name}: two chunks would share the id {duplicated[0]!r} (rename one of the headings)")
    link_answers(questions, chunks)
    return ParsedDocument(file, document, chunks, questions)


def link_answers(questions: list[Question], chunks: list[Chunk]) -> None:
    """A question's model answer is every chunk under its answer section, in document order."""
    under: dict[tuple[str, ...], list[str]] = {}
    for chunk in chunks:
        path = tuple(chunk.section_path)
        for n in range(1, len(path) + 1):
            under.setdefault(path[:n], []).append(chunk.id)
    for question in questions:
        if question.answer_path:
            question.answer_chunk_ids = list(under.get(tuple(question.answer_path), []))


def file_sha256(file: DocumentFile) -> str:
    return sha256_bytes(file.path.read_bytes())


def question_bank(settings: Settings, track: str | None = None) -> tuple[list[Question], list[str]]:
    """All questions (optionally one track) and the messages for documents that were refused."""
    questions: list[Question] = []
    problems: list[str] = []
    for file in document_files(settings):
        if track and file.track != track:
            continue
        try:
            questions.extend(parse_file(file, settings).questions)
        except DocumentError as exc:
            problems.append(str(exc))
    return questions, problems


def check_user_document(path: Path, settings: Settings, data: bytes | None = None) -> ParsedDocument:
    """Parse a user's document completely; raises DocumentError saying why it cannot be used."""
    return parse_file(DocumentFile(USER_PREFIX + path.name, path, USER_TRACK, ()), settings, data)


@dataclass
class StagedDocument:
    """A user's document that passed every check, with the exact bytes that were checked."""

    parsed: ParsedDocument
    data: bytes

    @property
    def name(self) -> str:
        return self.parsed.file.path.name


def check_user_documents(paths: list[Path], settings: Settings) -> tuple[list[StagedDocument], list[str]]:
    """Read and parse every file once: (the accepted ones, a message per refused one).

    What is copied later is the bytes checked here, so a file edited in between cannot slip in.
    """
    staged: list[StagedDocument] = []
    refused: list[str] = []
    names = Counter(path.name for path in paths)
    for path in paths:
        if names[path.name] > 1:
            refused.append(f"{path.name}: more than one of the files is called {path.name} (rename one)")
            continue
        try:
            data = read_document_bytes(
                path, allowed_suffixes=settings.allowed_suffixes, max_bytes=settings.max_document_bytes
            )
            staged.append(StagedDocument(check_user_document(path, settings, data), data))
        except DocumentError as exc:
            refused.append(str(exc))
        except OSError as exc:
            refused.append(f"{path.name}: cannot be read ({exc.strerror or exc})")
    return staged, refused


@contextmanager
def user_documents_added(staged: list[StagedDocument], settings: Settings) -> Iterator[list[DocumentFile]]:
    """Put checked documents into the documents folder; if the block fails, restore the folder exactly.

    Used around indexing, so a failure anywhere leaves both the folder and the index as they were.
    """
    folder = settings.documents_dir
    created = not folder.exists()
    backups: dict[Path, bytes | None] = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for doc in staged:
            target = folder / doc.name
            backups[target] = target.read_bytes() if target.is_file() else None
            write_atomically(target, doc.data)
            files.append(DocumentFile(USER_PREFIX + doc.name, target, USER_TRACK, ()))
        yield files
    except BaseException:
        for target, old in backups.items():
            if old is None:
                target.unlink(missing_ok=True)
            else:
                write_atomically(target, old)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise


def add_user_document(path: Path, settings: Settings) -> DocumentFile:
    """Validate a user's document completely, then copy it into the documents folder.

    Nothing is copied unless the document parses into chunks, so a refused file never reaches the
    index. Re-adding a file with the same name replaces the earlier version.
    """
    staged, refused = check_user_documents([path], settings)
    if refused:
        raise DocumentError(refused[0])
    settings.documents_dir.mkdir(parents=True, exist_ok=True)
    target = settings.documents_dir / path.name
    if path.resolve() != target.resolve():
        write_atomically(target, staged[0].data)
    return DocumentFile(USER_PREFIX + path.name, target, USER_TRACK, ())
