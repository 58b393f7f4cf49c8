"""Users' documents: what is refused (with which words), what is decoded, and ingest as a transaction.

A refused or failing document, alone or among good ones, must leave everything as it was: the
Chroma chunks (ids, texts, metadata, vectors), the manifest and the `.interviewer/documents/`
folder are compared byte for byte before and after. The model is a deterministic stand-in here
(these tests are about what is written, not about retrieval quality).
"""

from __future__ import annotations

import gzip
import io
import random
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import interviewer.corpus
import interviewer.index
from interviewer.chunks import hard_limit
from interviewer.cli import app
from interviewer.corpus import add_user_document, check_user_documents, parse_file
from interviewer.documents import DocumentError, decode_document, parse_document
from interviewer.index import Index
from interviewer.settings import Settings
from tests.test_durability import close, fake_model  # noqa: F401  (fixture)

runner = CliRunner()

GOOD = "# Good notes\n\n## Showback\n\nPublish cost per domain and per SLA tier, then review it quarterly.\n"
OTHER = "# Other notes\n\n## Incidents\n\nBlameless reviews with owners for every action, tracked weekly.\n"


def test_limits_are_settings_with_environment_overrides(monkeypatch: pytest.MonkeyPatch):
    defaults = Settings()
    assert defaults.allowed_suffixes == (".md", ".markdown", ".txt")
    assert defaults.max_document_bytes == 2_000_000
    assert defaults.max_document_sections == 2_000 and defaults.max_document_chunks == 5_000
    monkeypatch.setenv("INTERVIEWER_MAX_DOCUMENT_BYTES", "1234")
    monkeypatch.setenv("INTERVIEWER_MAX_DOCUMENT_SECTIONS", "7")
    monkeypatch.setenv("INTERVIEWER_MAX_DOCUMENT_CHUNKS", "9")
    monkeypatch.setenv("INTERVIEWER_ALLOWED_SUFFIXES", '[".md"]')
    env = Settings()
    assert (env.max_document_bytes, env.max_document_sections, env.max_document_chunks) == (1234, 7, 9)
    assert env.allowed_suffixes == (".md",)


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.md", GOOD)
    return buffer.getvalue()


RUSSIAN = "# Заметки\n\nМы сократили расходы на облако на 28% за два квартала, сохранив надёжность.\n" * 3

REFUSED: list[tuple[str, bytes, str]] = [
    ("notes.zip", zip_bytes(), r"unsupported file type '\.zip'"),
    ("notes.md", zip_bytes(), "this is a zip archive .*unzip it"),
    ("cv.pdf", b"%PDF-1.7\n" + bytes(100), r"unsupported file type '\.pdf'"),
    ("cv.md", b"%PDF-1.7\n1 0 obj\n", "this is a PDF"),
    ("photo.md", b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG image"),
    ("notes.md", gzip.compress(GOOD.encode()), "gzip archive"),
    ("tool.md", b"\x7fELF\x02\x01\x01" + bytes(200), "program"),
    ("data.md", b"SQLite format 3\x00" + bytes(100), "SQLite database"),
    ("noise.md", random.Random(0).randbytes(5000), "binary|legacy encoding|NUL"),
    ("highbytes.md", bytes(random.Random(1).choice(range(0xA0, 0x100)) for _ in range(4000)), "legacy encoding"),
    ("russian.md", RUSSIAN.encode("cp1251"), "another legacy encoding .*save it as UTF-8"),
    ("controls.md", bytes(range(1, 32)) * 40, "control characters"),
    ("nul.md", GOOD.encode() + b"\x00" * 3, "NUL bytes"),
    ("empty.md", b"", "empty"),
    ("blank.md", b"  \n\t\n \r\n", "empty"),
    ("rules.md", b"---\n***\n___\n" * 50, "no readable content"),
    ("cv.docx", b"PK\x03\x04", r"unsupported file type '\.docx'"),
    ("README", b"plain text", r"unsupported file type '\(none\)'"),
    ("bad-bom.md", b"\xff\xfe" + b"\x00\xd8" * 3, "byte-order mark but is not valid UTF-16"),
    ("headings.md", "".join(f"## H{i}\n\nBody {i}.\n" for i in range(2_500)).encode(), "2,500 sections .* 2,000"),
]


@pytest.mark.parametrize(("name", "data", "reason"), REFUSED, ids=[f"{i}-{r[0]}" for i, r in enumerate(REFUSED)])
def test_bad_documents_are_refused_with_the_file_and_the_reason(tmp_path: Path, name: str, data: bytes, reason: str):
    path = tmp_path / name
    path.write_bytes(data)
    staged, refused = check_user_documents([path], Settings(home=tmp_path / "home"))
    assert not staged and len(refused) == 1
    assert refused[0].startswith(f"{name}: ")
    assert re.search(reason, refused[0]), refused[0]


def test_size_limit_names_the_size_and_the_setting(tmp_path: Path):
    big = tmp_path / "big.md"
    big.write_text("# Big\n\n" + "word " * 5_000)
    _, refused = check_user_documents([big], Settings(home=tmp_path / "home", max_document_bytes=10_000))
    assert refused == [
        "big.md: 25,007 bytes (0.0 MB) is over the 10,000-byte limit "
        "(split it, or raise INTERVIEWER_MAX_DOCUMENT_BYTES to accept it)"
    ]


def test_chunk_limit_is_enforced(tmp_path: Path):
    many = tmp_path / "many.md"
    many.write_text("".join(f"## Part {i}\n\nText {i}.\n\n" for i in range(12)))
    _, refused = check_user_documents([many], Settings(home=tmp_path / "home", max_document_chunks=10))
    assert refused == [
        "many.md: 12 chunks is over the limit of 10 (split it, or raise INTERVIEWER_MAX_DOCUMENT_CHUNKS)"
    ]


def test_missing_file_and_directory_and_duplicate_names(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "notes.md").write_text(GOOD)
    (tmp_path / "b" / "notes.md").write_text(OTHER)
    folder = tmp_path / "folder.md"
    folder.mkdir()
    paths = [tmp_path / "missing.md", folder, tmp_path / "a" / "notes.md", tmp_path / "b" / "notes.md"]
    staged, refused = check_user_documents(paths, Settings(home=tmp_path / "home"))
    assert not staged
    assert refused[0].startswith("missing.md: not found") and refused[1].startswith("folder.md: not found")
    assert refused[2:] == ["notes.md: more than one of the files is called notes.md (rename one)"] * 2


# --- encodings that are accepted, decoded correctly ------------------------------------------------

TEXT = "# Café notes\n\nWe cut spend 28% — “quoted”, naïve façade, Ελληνικά, 中文.\n"


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (TEXT.encode("utf-8"), TEXT),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), TEXT),  # UTF-8 with BOM
        (b"\xff\xfe" + TEXT.encode("utf-16-le"), TEXT),
        (b"\xfe\xff" + TEXT.encode("utf-16-be"), TEXT),
        (TEXT.encode("utf-16-le"), TEXT),  # UTF-16 without a BOM (Windows "Unicode" exports)
        (TEXT.encode("utf-16-be"), TEXT),
        (TEXT.encode("utf-32"), TEXT),
        ("# Café crème\n\nNaïve résumé, brûlée.\n".encode("latin-1"), "# Café crème\n\nNaïve résumé, brûlée.\n"),
        ("# Notes\n\nCafé — “quoted”\n".encode("cp1252"), "# Notes\n\nCafé — “quoted”\n"),
    ],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf32", "latin1", "cp1252"],
)
def test_encodings_are_decoded(encoded: bytes, expected: str):
    assert decode_document("notes.md", encoded) == expected


def test_utf8_with_a_truncated_last_character_is_kept_not_refused():
    data = (TEXT * 3).encode("utf-8") + "😀".encode()[:2]
    text = decode_document("notes.md", data)
    assert text.startswith(TEXT) and text.endswith("\ufffd")


def test_slug_collisions_still_give_unique_chunk_ids():
    """'Café!' and 'Cafe?' (and headings in scripts slugify drops) share a slug; ids must not collide.

    Chroma refuses a whole upsert with a repeated id, so before this the document passed every check
    and then failed half-way through an ingest.
    """
    text = "# T\n\n## Café!\n\nOne.\n\n## Cafe?\n\nTwo.\n\n## 中文\n\nThree.\n\n## 日本語\n\nFour.\n"
    parsed = parse_file(
        interviewer.corpus.DocumentFile("user/t.md", Path("t.md"), "my-documents", ()),
        Settings(),
        text.encode(),
    )
    ids = [c.id for c in parsed.chunks]
    assert len(ids) == len(set(ids)) == 4


def test_oversized_tables_and_unclosed_fences_are_cut_between_lines():
    rows = "".join(f"| r{i} | {'x' * 40} |\n" for i in range(2_000))
    text = f"# T\n\n## Table\n\n| a | b |\n|---|---|\n{rows}\n## Code\n\n```python\n" + "print(1)\n" * 5_000
    doc = parse_document("t.md", Path("t.md"), text.encode())
    from interviewer.chunks import chunk_document

    chunks = chunk_document(doc, "t", set(), 900)
    assert all(len(c.text) <= hard_limit(900) for c in chunks)
    table = [c for c in chunks if c.heading_path[-1] == "Table"]
    assert len(table) > 1 and all(c.text.startswith("| a | b |\n|---|---|\n") for c in table)
    assert sum(c.text.count("| r") for c in table) == 2_000  # every row kept, none twice
    code = [c for c in chunks if c.heading_path[-1] == "Code"]
    assert len(code) > 1 and all(c.text.startswith("```python\n") and c.text.endswith("\n```") for c in code)
    assert sum(c.text.count("print(1)") for c in code) == 5_000


# --- ingest is a transaction -----------------------------------------------------------------------


def index_state(settings: Settings) -> dict[str, Any]:
    """Everything ingest may change, for exact before/after comparison (opened fresh, then closed)."""
    index = Index(settings)
    got = index.chunks.get(include=["documents", "metadatas", "embeddings"])
    rows = {
        cid: (doc, tuple(sorted(meta.items())), tuple(round(float(x), 6) for x in vector))
        for cid, doc, meta, vector in zip(
            got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
        )
    }
    reps = index._reps.get(include=["metadatas", "embeddings"])
    state = {
        "count": index.count(),
        "chunks": rows,
        # the heading and question vectors beside the chunks are rolled back with them
        "reps": {
            rid: (tuple(sorted(meta.items())), tuple(round(float(x), 6) for x in vector))
            for rid, meta, vector in zip(reps["ids"], reps["metadatas"], reps["embeddings"], strict=True)
        },
        "manifest": index.manifest(),
        "documents": {p.name: p.read_bytes() for p in sorted(settings.documents_dir.iterdir())}
        if settings.documents_dir.exists()
        else None,
    }
    close(index)
    return state


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_model) -> Settings:  # noqa: F811
    """A small corpus plus one user document, ingested; the CLI reads the same settings."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "team.md").write_text(GOOD)
    settings = Settings(home=tmp_path / "home", corpus_dir=corpus)
    monkeypatch.setenv("INTERVIEWER_HOME", str(settings.home))
    monkeypatch.setenv("INTERVIEWER_CORPUS_DIR", str(corpus))
    mine = tmp_path / "mine.md"
    mine.write_text(OTHER)
    result = runner.invoke(app, ["ingest", str(mine)])
    assert result.exit_code == 0, result.output
    return settings


def bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "zip": ("archive.md", zip_bytes()),
        "huge": ("huge.md", b"# Huge\n\n" + b"word " * 500_000),
        "binary": ("blob.md", random.Random(3).randbytes(3000)),
        "utf16-garbage": ("broken.md", b"\xfe\xff" + b"\xd8\x00" * 5),
        "bomb": ("bomb.md", "".join(f"# H{i}\n\nx\n" for i in range(3000)).encode()),
        "wrong-type": ("slides.pptx", b"PK\x03\x04"),
    }
    out = {}
    for key, (name, data) in files.items():
        out[key] = tmp_path / "incoming" / name
        out[key].parent.mkdir(exist_ok=True)
        out[key].write_bytes(data)
    return out


@pytest.mark.parametrize("bad", ["zip", "huge", "binary", "utf16-garbage", "bomb", "wrong-type"])
@pytest.mark.parametrize("with_good", [False, True], ids=["alone", "among-good"])
def test_ingest_of_a_bad_file_changes_nothing(home: Settings, tmp_path: Path, bad: str, with_good: bool):
    before = index_state(home)
    good = tmp_path / "incoming-good.md"
    good.write_text("# Fresh\n\n## Budget\n\nA good new document about quarterly budgets.\n")
    paths = [good, bad_files(tmp_path)[bad]] if with_good else [bad_files(tmp_path)[bad]]
    result = runner.invoke(app, ["ingest", *map(str, paths)])
    assert result.exit_code == 1
    assert "refused:" in result.output and "Nothing was added; the index is unchanged." in result.output
    assert paths[-1].name in result.output
    assert index_state(home) == before


def test_a_write_failure_half_way_through_ingest_is_rolled_back(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Replacing a document and adding another; Chroma fails on the second: both are undone."""
    before = index_state(home)
    new_version = tmp_path / "v2" / "mine.md"
    new_version.parent.mkdir()
    new_version.write_text(OTHER + "\n## Follow-ups\n\nOwners report weekly.\n")
    added = tmp_path / "added.md"
    added.write_text("# Added\n\n## Hiring\n\nStructured interviews with calibrated rubrics.\n")
    original = Index._replace_document
    calls = []

    def fail_second(self, doc, *rest):
        calls.append(doc.file.source)
        original(self, doc, *rest)  # the first document is fully written before the failure
        if len(calls) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(Index, "_replace_document", fail_second)
    result = runner.invoke(app, ["ingest", str(new_version), str(added)])
    assert result.exit_code == 1 and "ingest failed: RuntimeError: disk full" in result.output
    assert len(calls) == 2
    after = index_state(home)
    assert after == before  # old chunks, vectors, manifest entry and the old file are back


def test_a_file_that_passes_the_check_but_fails_while_indexing_is_rolled_back(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The document is refused by the second parse (inside sync), after it was checked and copied in."""
    before = index_state(home)
    late = tmp_path / "late.md"
    late.write_text("# Late\n\n## Notes\n\nFine at check time.\n")
    real_parse = interviewer.index.parse_file

    def refuse_in_sync(file, settings, data=None):
        if file.source == "user/late.md":
            raise DocumentError("late.md: changed while it was being indexed")
        return real_parse(file, settings, data)

    monkeypatch.setattr(interviewer.index, "parse_file", refuse_in_sync)
    result = runner.invoke(app, ["ingest", str(late)])
    assert result.exit_code == 1 and "refused: late.md: changed while it was being indexed" in result.output
    assert index_state(home) == before


def test_a_good_ingest_after_refusals_adds_exactly_the_documents(home: Settings, tmp_path: Path):
    good = tmp_path / "fresh.md"
    good.write_text("# Fresh\n\n## Budget\n\nA good new document about quarterly budgets.\n")
    result = runner.invoke(app, ["ingest", str(good)])
    assert result.exit_code == 0, result.output
    state = index_state(home)
    assert set(state["documents"]) == {"mine.md", "fresh.md"} and "user/fresh.md" in state["manifest"]
    assert not list(home.documents_dir.glob(".*.tmp"))


def test_add_user_document_refuses_and_copies_nothing(tmp_path: Path):
    settings = Settings(home=tmp_path / "home")
    bad = tmp_path / "cv.md"
    bad.write_bytes(zip_bytes())
    with pytest.raises(DocumentError, match=r"cv\.md: this is a zip archive"):
        add_user_document(bad, settings)
    assert not settings.documents_dir.exists()
