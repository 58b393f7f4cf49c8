"""Multi-representation retrieval: glossary bridging, fusion, heading/question vectors, schema rebuilds, LLM rerank."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pydantic import SecretStr

from interviewer.corpus import document_files, parse_file
from interviewer.index import INDEX_SCHEMA, RETRIEVERS, Hit, Index, fuse, representations
from interviewer.rerank import RERANK_DEPTH, parse_ranking, rerank
from tests.openai_stub import OpenAIStub, Reply
from tests.test_index import small_settings

# Written for this test (not in evals/retrieval_dev.jsonl): no RPO/RTO/recovery word in it.
OUTAGE_QUERY = "If our main site burns down, how many minutes of orders could vanish and when are we back online?"


def _is_rpo(hit: Hit) -> bool:
    return "RPO/RTO" in hit.heading


def test_glossary_bridges_a_paraphrase_bm25_and_dense_alone_miss(corpus_index: Index):
    settings = corpus_index.settings
    try:
        settings.glossary_queries = settings.glossary_passages = False
        corpus_index._bm25 = None
        plain = corpus_index.search_all_modes(OUTAGE_QUERY, 5)
        assert not any(_is_rpo(h) for h in plain["bm25"])
        assert not _is_rpo(plain["dense"][0])
        assert not any(_is_rpo(h) for h in plain["hybrid"])
    finally:
        settings.glossary_queries = settings.glossary_passages = True
        corpus_index._bm25 = None
    bridged = corpus_index.search_all_modes(OUTAGE_QUERY, 5)
    assert _is_rpo(bridged["bm25"][0]) and _is_rpo(bridged["hybrid"][0])


def test_rrf_rewards_agreement_and_honours_weights():
    rng = random.Random(11)
    for _ in range(200):
        ids = [f"c{i}" for i in range(12)]
        lists = {name: [(c, 0.0) for c in rng.sample(ids, len(ids))] for name in RETRIEVERS}
        consensus, *firsts = rng.sample(ids, 1 + len(RETRIEVERS))
        for name, first in zip(RETRIEVERS, firsts, strict=True):  # one chunk second everywhere, a different first
            rest = [x for x in lists[name] if x[0] not in (consensus, first)]
            lists[name] = [(first, 0.0), (consensus, 0.0), *rest]
        fused = fuse(lists, dict.fromkeys(RETRIEVERS, 1.0), k=10)
        assert fused[0][0] == consensus  # second in all four beats first in one
        assert [s for _, s in fused] == sorted((s for _, s in fused), reverse=True)
        only = rng.choice(RETRIEVERS)
        alone = fuse(lists, {only: 1.0}, k=10)
        assert [c for c, _ in alone] == [c for c, _ in lists[only]]  # weight 0 elsewhere: that ranking alone


def test_heading_and_question_vectors_point_at_their_passages(tmp_path: Path):
    settings = small_settings(tmp_path)
    parsed = {f.source: parse_file(f, settings) for f in document_files(settings)}
    reps = representations(parsed["team.md"])
    chunk_ids = {c.id for c in parsed["team.md"].chunks}
    assert {r.kind for r in reps} == {"heading", "question"} and all(r.target in chunk_ids for r in reps)
    asked = {r.text: r.target for r in reps if r.kind == "question"}
    assert "How do you grow staff engineers?" in asked and "grow" in asked["How do you grow staff engineers?"]

    index = Index(settings)
    index.sync()
    stored = index._reps.get(include=["metadatas"])
    assert len(stored["ids"]) == len(reps) + len(representations(parsed["vendor.md"]))
    hits = index.search_all_modes("How do you help senior ICs grow?", 3)
    assert hits["question"][0].heading.endswith("How do you grow staff engineers?")
    assert hits["question"][0].question_rank == 1 and hits["hybrid"][0].id == hits["question"][0].id

    (settings.corpus_dir / "team.md").unlink()
    index.sync()
    left = index._reps.get(include=["metadatas"])["metadatas"]
    assert left and {m["source"] for m in left} == {"vendor.md"}


def test_a_document_indexed_under_an_older_schema_is_reindexed(tmp_path: Path):
    settings = small_settings(tmp_path)
    index = Index(settings)
    index.sync()
    assert index.sync().chunks_embedded == 0
    entry = index.manifest()["team.md"]
    assert entry["schema"] == INDEX_SCHEMA
    index._manifest_collection.upsert(ids=["team.md"], embeddings=[[1.0]], metadatas=[{**entry, "schema": 1}])
    again = index.sync()
    assert again.changed == ["team.md"] and again.chunks_embedded > 0
    assert index.manifest()["team.md"]["schema"] == INDEX_SCHEMA


# --- LLM rerank on the loopback stub ------------------------------------------------------------------


@pytest.fixture
def stub():
    server = OpenAIStub()
    yield server
    server.close()


def _rerank_settings(corpus_index: Index, stub: OpenAIStub):
    return corpus_index.settings.model_copy(
        update={
            "backend": "openai:ranker",
            "openai_base_url": stub.base_url,
            "openai_api_key": SecretStr("sk-test"),
            "rerank": True,
            "llm_max_retries": 0,
            "llm_timeout": 5.0,
        }
    )


def test_scripted_rerank_moves_the_passage_and_garbage_falls_back(corpus_index: Index, stub: OpenAIStub):
    query = "How do you stop on-call engineers drowning in pages?"
    fused = corpus_index.search(query, k=RERANK_DEPTH)
    index = Index(_rerank_settings(corpus_index, stub))
    index._client, index._collection = corpus_index.client, corpus_index.chunks
    index._reps_handle, index._manifest_handle = corpus_index._reps, corpus_index._manifest_collection

    stub.script(Reply(json.dumps({"ranking": [7, 1]})))
    moved = index.search(query, k=5)
    assert moved[0].id == fused[6].id and moved[1].id == fused[0].id
    assert [h.id for h in moved[2:]] == [h.id for h in fused[1:6] if h.id != fused[6].id][:3]
    prompt = stub.requests[-1]["body"]["messages"][-1]["content"]
    assert "[20]" in prompt and query not in prompt  # the query is spotlighted (datamarked), not pasted

    for garbage in ("Sure! The best is number 3.", '{"ranking": [1, 1, 2]}', '{"ranking": [0, 21]}', '{"rank": [2]}'):
        stub.script(Reply(garbage))
        assert [h.id for h in index.search(query, k=5)] == [h.id for h in fused[:5]], garbage
    stub.script(Reply("slow", delay=8))
    assert [h.id for h in index.search(query, k=5)] == [h.id for h in fused[:5]]  # timeout: fused order
    assert [h.id for h in index.search(query, k=5, rerank=False)] == [h.id for h in fused[:5]]


def test_ranking_replies_are_validated():
    rng = random.Random(5)
    for _ in range(100):
        n = rng.randint(2, 20)
        order = rng.sample(range(1, n + 1), rng.randint(1, n))
        wrapped = rng.choice(["{}", "Here you go: {} thanks", "```json\n{}\n```"]).format(
            json.dumps({"ranking": order})
        )
        assert parse_ranking(wrapped, n) == [x - 1 for x in order]
        assert parse_ranking(json.dumps({"ranking": [*order, n + 1]}), n) is None
        assert parse_ranking(json.dumps({"ranking": [True, *order]}), n) is None
    hits = [Hit(id=f"c{i}", source="s", track="t", kind="guidance", heading="h", text="x", score=0.0) for i in range(3)]
    assert rerank("q", hits, None) == (hits, False)
