"""The corpus as the rest of the product sees it: documents, their chunks and their questions.

The bundled documents live in `corpus/` (their tracks and levels in `corpus/manifest.json`); the
user's own documents live in `<home>/documents/` and get the track "my-documents". Everything here
is pure Python (no model, no vector store) so that listing questions starts fast.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from interviewer.chunks import Chunk, chunk_document
from interviewer.documents import Document, DocumentError, parse_document, read_document_bytes, sha256_bytes
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
        if path.is_file():
            files.append(DocumentFile(USER_PREFIX + path.name, path, USER_TRACK, ()))
    return files


def parse_file(file: DocumentFile, settings: Settings, data: bytes | None = None) -> ParsedDocument:
    """Read, repair, parse, extract questions and chunk one document. Raises DocumentError."""
    if data is None:
        data = read_document_bytes(
            file.path, allowed_suffixes=settings.allowed_suffixes, max_bytes=settings.max_document_bytes
        )
    document = parse_document(file.source, file.path, data)
    questions = extract_questions(document, file.track, list(file.levels))
    answer_paths = {tuple(q.answer_path) for q in questions if q.answer_path}
    chunks = chunk_document(document, file.track, answer_paths, settings.max_chunk_chars)
    if not chunks:
        raise DocumentError(f"{file.path.name}: no readable content found")
    link_answers(questions, chunks)
    return ParsedDocument(file, document, chunks, questions)


def link_answers(questions: list[Question], chunks: list[Chunk]) -> None:
    """A question's model answer is every chunk under its answer section, in document order."""
    for question in questions:
        if not question.answer_path:
            continue
        prefix = question.answer_path
        question.answer_chunk_ids = [c.id for c in chunks if c.section_path[: len(prefix)] == prefix]


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


def check_user_document(path: Path, settings: Settings) -> ParsedDocument:
    """Parse a user's document completely; raises DocumentError saying why it cannot be used."""
    return parse_file(DocumentFile(USER_PREFIX + path.name, path, USER_TRACK, ()), settings)


def add_user_document(path: Path, settings: Settings) -> DocumentFile:
    """Validate a user's document completely, then copy it into the documents folder.

    Nothing is copied unless the document parses into chunks, so a refused file never reaches the
    index. Re-adding a file with the same name replaces the earlier version.
    """
    file = check_user_document(path, settings).file
    settings.documents_dir.mkdir(parents=True, exist_ok=True)
    target = settings.documents_dir / path.name
    if path.resolve() != target.resolve():
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(path, tmp)
        tmp.replace(target)  # atomic: a crash never leaves half a document in the folder
    return DocumentFile(file.source, target, USER_TRACK, ())
