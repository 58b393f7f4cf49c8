"""The bundled corpus: byte-identical seeds, clean text, a full question bank linked to answers."""

import hashlib
import json
from collections import Counter

import pytest

from interviewer.corpus import document_files, parse_file, question_bank
from interviewer.settings import BUNDLED_CORPUS_DIR, Settings
from tests.conftest import PROJECT_DIR

SEEDS = PROJECT_DIR.parent / "shared" / "seeds"


@pytest.fixture(scope="module")
def parsed():
    settings = Settings(home=PROJECT_DIR / ".unused-home")
    return {f.source: parse_file(f, settings) for f in document_files(settings) if not f.source.startswith("user/")}


def test_corpus_files_match_their_seeds_byte_for_byte():
    manifest = json.loads((BUNDLED_CORPUS_DIR / "manifest.json").read_text())
    assert len(manifest["documents"]) == 5
    for entry in manifest["documents"]:
        data = (BUNDLED_CORPUS_DIR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        if SEEDS.is_dir():
            assert (SEEDS / entry["seed"]).read_bytes() == data


def test_no_mojibake_survives_in_any_chunk(parsed):
    chunks = [c for p in parsed.values() for c in p.chunks]
    assert len(chunks) > 200
    for chunk in chunks:
        for bad in ("â€", "Ã", "â"):
            assert bad not in chunk.text and bad not in chunk.heading, (chunk.id, bad)


def test_question_bank_is_complete(parsed):
    per_doc = {source: len(p.questions) for source, p in parsed.items()}
    assert sum(per_doc.values()) > 150
    # Every bulleted question of the manager panel bank (11 groups x 4).
    assert per_doc["manager-feedback-examples.md"] == 44
    assert per_doc["azure-databricks-associate-director.md"] == 58
    texts = {q.text for p in parsed.values() for q in p.questions}
    assert "How do you prevent silent failures? What SLIs do you track?" in texts
    assert "Design ingestion at 10× scale" in texts  # bold prompt, with its probing note
    assert "Platform costs are exploding. What do you do?" in texts  # **Question:** line
    assert "Did you ever oppose someone’s technical approach and how?" in texts  # numbered title
    assert "Tell me about a time you took ownership of a critical project" in texts  # quoted bullet
    assert "Flagging delays well in advance" in texts  # STAR topic heading
    assert not any(t.startswith(("How to Use", "Bad:", "Why Calibrated")) for t in texts)


def test_q_style_questions_link_to_their_model_answers(parsed):
    for source in ("leadership-systemic-qa.md", "azure-databricks-associate-director.md"):
        p = parsed[source]
        headed = [q for q in p.questions if q.origin == "heading"]
        assert headed
        by_id = {c.id: c for c in p.chunks}
        for q in headed:
            assert q.answer_chunk_ids, q.text
            answer = [by_id[i] for i in q.answer_chunk_ids]
            assert all(c.section_path[: len(q.answer_path)] == q.answer_path for c in answer)
            assert all(c.kind in ("model_answer", "star_story") for c in answer)
    q4 = next(q for q in parsed["leadership-systemic-qa.md"].questions if q.text.startswith("How do you run incident"))
    answer_text = " ".join(c.text for c in parsed["leadership-systemic-qa.md"].chunks if c.id in q4.answer_chunk_ids)
    assert "Blameless Postmortem Process" in answer_text and "Incident Drills" in answer_text


def test_probing_notes_are_kept():
    found, problems = question_bank(Settings(home=PROJECT_DIR / ".unused-home"), "data-platform")
    assert not problems
    probe = next(q for q in found if q.text == "CDC pitfalls")
    assert probe.probing and "idempotency" in probe.probing
    assert Counter(q.track for q in found) == Counter({"data-platform": len(found)})


def test_kinds_cover_the_corpus(parsed):
    kinds = Counter(c.kind for p in parsed.values() for c in p.chunks)
    for kind in ("question", "model_answer", "rubric", "feedback_example", "star_story", "guidance"):
        assert kinds[kind] > 0, kind
    examples = [c for c in parsed["manager-feedback-examples.md"].chunks if c.kind == "feedback_example"]
    assert {c.section_path[-1].split(" — ")[0] for c in examples} == {f"Example {n}" for n in range(1, 11)}
