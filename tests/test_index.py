"""The index with the real MiniLM model and embedded Chroma in temporary directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import interviewer.embeddings
from interviewer.corpus import add_user_document
from interviewer.documents import DocumentError
from interviewer.index import Index
from interviewer.settings import BUNDLED_CORPUS_DIR, Settings

DOC_A = """# Team Notes

## Q1: How do you run blameless incident reviews?

We write a timeline, run five whys, and track remediation owners weekly until every action closes.

## Q2: How do you grow staff engineers?

Ownership of outcomes, exposure to cost and incidents, and sponsorship for cross-team design reviews.
"""

DOC_B = """# Vendor Notes

## Onboarding suppliers

Supplier feeds arrive with varying quality; contract gates at ingress quarantine malformed files.
"""


def small_settings(tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "team.md").write_text(DOC_A, encoding="utf-8")
    (corpus / "vendor.md").write_text(DOC_B, encoding="utf-8")
    return Settings(home=tmp_path / "home", corpus_dir=corpus)


def ids_by_source(index: Index) -> dict[str, set[str]]:
    got = index.chunks.get(include=["metadatas"])
    out: dict[str, set[str]] = {}
    for cid, meta in zip(got["ids"], got["metadatas"], strict=True):
        out.setdefault(meta["source"], set()).add(cid)
    return out


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch):
    """Fail the test if anything tries to load or use the embedding model."""

    def refuse(*args, **kwargs):
        raise AssertionError("the embedding model was used")

    monkeypatch.setattr(interviewer.embeddings, "get_model", refuse)


def test_incremental_ingest_embeds_only_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    settings = small_settings(tmp_path)
    index = Index(settings)
    first = index.sync()
    assert sorted(first.added) == ["team.md", "vendor.md"] and first.chunks_embedded == first.chunks_total
    before = ids_by_source(index)

    # Unchanged corpus: nothing parsed, nothing embedded, the model is never touched.
    def refuse(*args, **kwargs):
        raise AssertionError("the embedding model was used")

    with monkeypatch.context() as m:
        m.setattr(interviewer.embeddings, "get_model", refuse)
        again = Index(settings).sync()
    assert again.chunks_embedded == 0 and sorted(again.unchanged) == ["team.md", "vendor.md"]
    assert ids_by_source(index) == before  # stable ids, no duplicates

    # Changed document: only its chunks are embedded; the other keeps its ids.
    (settings.corpus_dir / "team.md").write_text(DOC_A.replace("## Q2: How do you grow staff engineers?", ""))
    changed = index.sync()
    assert changed.changed == ["team.md"] and changed.unchanged == ["vendor.md"]
    assert changed.chunks_embedded == len(ids_by_source(index)["team.md"])
    after = ids_by_source(index)
    assert after["vendor.md"] == before["vendor.md"]
    assert not any("grow-staff-engineers" in cid for cid in after["team.md"])  # stale chunk deleted

    # Added and removed documents.
    (settings.corpus_dir / "new.md").write_text("# New\n\nA brand new note about showback dashboards.\n")
    (settings.corpus_dir / "vendor.md").unlink()
    third = index.sync()
    assert third.added == ["new.md"] and third.removed == ["vendor.md"]
    assert set(ids_by_source(index)) == {"team.md", "new.md"}
    assert set(index.manifest()) == {"team.md", "new.md"}
    assert all(h.source != "vendor.md" for h in index.search("supplier feeds quality", k=10))


def test_count_and_manifest_follow_writes_made_through_another_index(tmp_path: Path):
    """Both are remembered between reads (every grade asks for them), so a change made elsewhere, as
    `interviewer ingest` in another terminal makes it while the app runs, must still be seen."""
    settings = small_settings(tmp_path)
    reader = Index(settings)
    reader.sync()
    assert set(reader.manifest()) == {"team.md", "vendor.md"}
    counted = reader.count()
    assert reader.count() == counted  # remembered, and still right

    (settings.corpus_dir / "vendor.md").unlink()
    (settings.corpus_dir / "new.md").write_text("# New\n\nA note about showback.\n\n## More\n\nAnd chargeback.\n")
    other = Index(settings)  # a second writer on the same store
    report = other.sync()
    assert report.removed == ["vendor.md"] and report.added == ["new.md"]
    assert set(reader.manifest()) == {"team.md", "new.md"}
    assert reader.count() == other.count() == report.chunks_total != counted

    reader.manifest()["new.md"]["sha256"] = "changed by a caller"  # a caller's copy, not the store's
    assert reader.manifest()["new.md"]["sha256"] != "changed by a caller"


def test_user_documents_are_indexed_alongside_and_bad_files_change_nothing(tmp_path: Path):
    settings = small_settings(tmp_path)
    index = Index(settings)
    index.sync()
    before = ids_by_source(index)

    binary = tmp_path / "stories.md"
    binary.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(DocumentError, match="zip archive"):
        add_user_document(binary, settings)
    assert not settings.documents_dir.exists() or not any(settings.documents_dir.iterdir())
    assert index.sync().chunks_embedded == 0 and ids_by_source(index) == before

    mine = tmp_path / "my-stories.md"
    mine.write_text("# My STAR stories\n\n## Cutting the cloud bill\n\n- Situation: spend up 40% QoQ\n- Result: -28%\n")
    add_user_document(mine, settings)
    report = index.sync()
    assert report.added == ["user/my-stories.md"]
    hits = index.search("reducing cloud spend story", k=3, track="my-documents")
    assert hits and all(h.source == "user/my-stories.md" for h in hits)


def test_search_modes_and_filters(corpus_index: Index):
    hits = corpus_index.search("post-outage retrospective so the same failure does not happen twice", k=5)
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    rubric = corpus_index.search("what does each hiring decision level mean", k=5, kind="rubric")
    assert rubric and all(h.kind == "rubric" for h in rubric)
    azure = corpus_index.search("disaster recovery", k=5, source="azure-databricks-associate-director.md")
    assert azure and all(h.source == "azure-databricks-associate-director.md" for h in azure)
    both = corpus_index.search("cost", k=8, kind=["model_answer", "star_story"], track="star-pillars")
    assert both and all(h.kind in ("model_answer", "star_story") and h.track == "star-pillars" for h in both)
    modes = corpus_index.search_all_modes("showback per domain", 5)
    assert set(modes) == {"bm25", "dense", "heading", "question", "hybrid"} and all(len(v) == 5 for v in modes.values())


def test_paraphrased_question_finds_its_model_answer(corpus_index: Index):
    hits = corpus_index.search("How do you cope with an engineer on your team who keeps missing the bar?", k=5)
    assert any("underperforming team members" in h.heading for h in hits)


def test_bundled_corpus_index_has_every_document(corpus_index: Index):
    assert set(corpus_index.manifest()) == {p.name for p in BUNDLED_CORPUS_DIR.glob("*.md")}


def test_user_document_copy_is_atomic(tmp_path: Path):
    settings = small_settings(tmp_path)
    src = tmp_path / "jd.txt"
    src.write_text("Job description: Associate Director, data platform. Owns cost and reliability.")
    copied = add_user_document(src, settings)
    assert copied.path.read_bytes() == src.read_bytes()
    assert not list(settings.documents_dir.glob(".*.tmp"))
    shutil.rmtree(settings.documents_dir)
