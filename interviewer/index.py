"""The index: chunks in Chroma (dense, MiniLM embeddings) plus BM25 (bm25s), fused for hybrid search.

Ingest is incremental. A manifest (a small Chroma collection beside the chunks, so a shared Chroma
server shares it too) records each document's content hash; `sync` parses and embeds only added or
changed documents, deletes the chunks of removed ones, and touches nothing when nothing changed
(the embedding model is not even loaded). A document's manifest entry is written after its chunks,
so an interrupted ingest is redone on the next run rather than trusted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from interviewer.chunks import Chunk
from interviewer.corpus import DocumentFile, ParsedDocument, document_files, file_sha256, parse_file
from interviewer.documents import DocumentError
from interviewer.settings import Settings

Mode = Literal["hybrid", "bm25", "dense"]
MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid")


class Hit(BaseModel):
    id: str
    source: str
    track: str
    kind: str
    heading: str
    text: str
    score: float
    bm25_rank: int | None = None
    dense_rank: int | None = None

    @property
    def first_line(self) -> str:
        return next((line for line in self.text.splitlines() if line.strip()), "")


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # messages for documents that were not indexed
    chunks_embedded: int = 0
    chunks_total: int = 0


ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


def _metadata(chunk: Chunk) -> dict[str, Any]:
    return {
        "source": chunk.source,
        "track": chunk.track,
        "kind": chunk.kind,
        "heading": chunk.heading,
        "context": chunk.context,
        "section": " > ".join(chunk.section_path),
        "ordinal": chunk.ordinal,
    }


class _Bm25:
    """BM25 over every chunk's heading + text, rebuilt from the store when the store changes."""

    def __init__(self, ids: list[str], texts: list[str], metas: list[dict[str, Any]]):
        import bm25s
        import Stemmer

        self.ids, self.metas, self.texts = ids, metas, texts
        self._stemmer = Stemmer.Stemmer("english")
        self._retriever = bm25s.BM25()
        if ids:
            tokens = bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=False)
            self._retriever.index(tokens, show_progress=False)

    def search(self, query: str, n: int, allowed: list[bool] | None) -> list[tuple[int, float]]:
        import bm25s
        import numpy as np

        if not self.ids:
            return []
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, show_progress=False, return_ids=False)
        known = [t for t in tokens[0] if t in self._retriever.vocab_dict]
        if not known:
            return []
        mask = None if allowed is None else np.asarray(allowed, dtype=np.float32)
        k = min(n, len(self.ids))
        docs, scores = self._retriever.retrieve([known], k=k, show_progress=False, weight_mask=mask)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]


class Index:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._client: Any = None
        self._collection: Any = None  # handles are cached: get_or_create costs a round trip per call
        self._manifest_handle: Any = None
        self._bm25: _Bm25 | None = None
        self._lock = threading.Lock()

    # --- storage -------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            chroma_settings = ChromaSettings(anonymized_telemetry=False)
            if self.settings.chroma_mode == "http":
                self._client = chromadb.HttpClient(
                    host=self.settings.chroma_host, port=self.settings.chroma_port, settings=chroma_settings
                )
            else:
                self.settings.index_dir.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.settings.index_dir), settings=chroma_settings)
        return self._client

    @property
    def chunks(self) -> Any:
        if self._collection is None:
            self._collection = self.client.get_or_create_collection(
                self.settings.collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        return self._collection

    @property
    def _manifest_collection(self) -> Any:
        if self._manifest_handle is None:
            self._manifest_handle = self.client.get_or_create_collection(
                f"{self.settings.collection}_manifest", embedding_function=None
            )
        return self._manifest_handle

    def manifest(self) -> dict[str, dict[str, Any]]:
        got = self._manifest_collection.get(include=["metadatas"])
        return {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    def count(self) -> int:
        return int(self.chunks.count())

    # --- ingest --------------------------------------------------------------------------------

    def sync(self, files: list[DocumentFile] | None = None, progress: ProgressFn | None = None) -> IngestReport:
        """Make the index hold exactly `files` (default: the corpus and the user's documents)."""
        files = document_files(self.settings) if files is None else files
        report = IngestReport()
        known = self.manifest()
        parsed: list[ParsedDocument] = []
        for file in files:
            entry = known.get(file.source)
            try:
                digest = file_sha256(file)
                if entry is not None and entry.get("sha256") == digest:
                    report.unchanged.append(file.source)
                    continue
                parsed.append(parse_file(file, self.settings))
            except (DocumentError, OSError) as exc:
                report.refused.append(str(exc))
        removed = [source for source in known if source not in {f.source for f in files}]

        chunks = [c for doc in parsed for c in doc.chunks]
        if chunks:
            from interviewer.embeddings import embed

            done = 0

            def step(n: int) -> None:
                nonlocal done
                done += n
                if progress:
                    progress("embedding", done, len(chunks))

            vectors = embed([c.embed_text for c in chunks], progress=step)
            offset = 0
            for doc in parsed:
                n = len(doc.chunks)
                self._replace_document(doc, vectors[offset : offset + n].tolist())
                offset += n
                (report.changed if doc.file.source in known else report.added).append(doc.file.source)
            report.chunks_embedded = len(chunks)
        for source in removed:
            self.chunks.delete(where={"source": source})
            self._manifest_collection.delete(ids=[source])
            report.removed.append(source)
        if parsed or removed:
            self._bm25 = None
        report.chunks_total = self.count()
        return report

    def _replace_document(self, doc: ParsedDocument, vectors: list[list[float]]) -> None:
        collection = self.chunks
        source = doc.file.source
        old_ids = set(collection.get(where={"source": source}, include=[])["ids"])
        new_ids = [c.id for c in doc.chunks]
        batch = max(1, min(5000, int(self.client.get_max_batch_size())))
        for start in range(0, len(new_ids), batch):
            part = doc.chunks[start : start + batch]
            collection.upsert(
                ids=[c.id for c in part],
                embeddings=vectors[start : start + batch],
                documents=[c.text for c in part],
                metadatas=[_metadata(c) for c in part],
            )
        stale = sorted(old_ids - set(new_ids))
        if stale:
            collection.delete(ids=stale)
        self._manifest_collection.upsert(
            ids=[source],
            embeddings=[[1.0]],
            metadatas=[{"sha256": doc.document.sha256, "track": doc.file.track, "chunks": len(new_ids)}],
        )

    # --- search --------------------------------------------------------------------------------

    def _bm25_index(self) -> _Bm25:
        with self._lock:
            if self._bm25 is None:
                got = self.chunks.get(include=["documents", "metadatas"])
                metas = [dict(m or {}) for m in got["metadatas"]]
                texts = [f"{m.get('context', '')}\n{d}" for d, m in zip(got["documents"], metas, strict=True)]
                self._bm25 = _Bm25(list(got["ids"]), texts, metas)
            return self._bm25

    def warm_up(self) -> None:
        """Load the model and BM25 so the first real query is as fast as the rest."""
        self._bm25_index()
        self.search("warm up", k=1)

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        kind: str | list[str] | None = None,
        source: str | None = None,
        track: str | None = None,
        mode: Mode = "hybrid",
    ) -> list[Hit]:
        k = k or self.settings.search_k
        return self.search_all_modes(query, k, kind=kind, source=source, track=track, modes=(mode,))[mode]

    def search_all_modes(
        self,
        query: str,
        k: int,
        *,
        kind: str | list[str] | None = None,
        source: str | None = None,
        track: str | None = None,
        modes: tuple[Mode, ...] = MODES,
    ) -> dict[Mode, list[Hit]]:
        """Ranked hits per mode from one BM25 and one dense retrieval (the evals compare them)."""
        filters = {"kind": kind, "source": source, "track": track}
        pool = max(self.settings.candidate_pool, k)
        bm25 = self._bm25_index()
        allowed = None
        if any(filters.values()):
            allowed = [_matches(m, filters) for m in bm25.metas]
        bm25_scored = [(bm25.ids[i], s) for i, s in bm25.search(query, pool, allowed)] if modes != ("dense",) else []
        dense_scored = self._dense(query, pool, filters) if modes != ("bm25",) else []

        by_id = {i: (t, m) for i, t, m in zip(bm25.ids, bm25.texts, bm25.metas, strict=True)}
        rank_b = {cid: r for r, (cid, _) in enumerate(bm25_scored, 1)}
        rank_d = {cid: r for r, (cid, _) in enumerate(dense_scored, 1)}
        # Relative score fusion: each retriever's scores min-max normalised over its candidates, then
        # weighted. Unlike rank fusion it keeps a retriever's confidence: a clear dense winner that
        # BM25 never saw is not pushed below chunks both retrievers found mediocre.
        weight = self.settings.dense_weight
        fused: dict[str, float] = {}
        for scored, w in ((dense_scored, weight), (bm25_scored, 1.0 - weight)):
            for cid, norm in _min_max(scored):
                fused[cid] = fused.get(cid, 0.0) + w * norm
        orders: dict[Mode, list[tuple[str, float]]] = {
            "bm25": bm25_scored,
            "dense": dense_scored,
            "hybrid": sorted(fused.items(), key=lambda kv: (-kv[1], kv[0])),
        }
        out: dict[Mode, list[Hit]] = {}
        for mode in modes:
            out[mode] = [
                _hit(cid, *by_id.get(cid, ("", {})), score=score, bm25_rank=rank_b.get(cid), dense_rank=rank_d.get(cid))
                for cid, score in orders[mode][:k]
            ]
        return out

    def _dense(self, query: str, n: int, filters: dict[str, Any]) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        from interviewer.embeddings import embed_one

        collection = self.chunks
        total = len(self._bm25_index().ids)  # the same store, counted once per change, not per query
        if total == 0:
            return []
        clauses = []
        for key, value in filters.items():
            if value:
                clauses.append({key: {"$in": list(value)}} if isinstance(value, list) else {key: value})
        where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        got = collection.query(
            query_embeddings=[embed_one(query)], n_results=min(n, total), where=where, include=["distances"]
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(got["ids"][0], got["distances"][0], strict=True)]

    def get_chunks(self, ids: list[str]) -> dict[str, Hit]:
        bm25 = self._bm25_index()
        wanted = set(ids)
        return {
            cid: _hit(cid, text, meta, score=0.0)
            for cid, text, meta in zip(bm25.ids, bm25.texts, bm25.metas, strict=True)
            if cid in wanted
        }


def _hit(cid: str, indexed_text: str, meta: dict[str, Any], **scores: Any) -> Hit:
    """A hit from the BM25 store's row (its text is 'heading\nbody'; the hit carries the body)."""
    body = indexed_text.split("\n", 1)[1] if "\n" in indexed_text else indexed_text
    return Hit(
        id=cid,
        source=str(meta.get("source", "")),
        track=str(meta.get("track", "")),
        kind=str(meta.get("kind", "")),
        heading=str(meta.get("heading", "")),
        text=body,
        **{k: (round(v, 6) if k == "score" else v) for k, v in scores.items()},
    )


def _min_max(scored: list[tuple[str, float]]) -> list[tuple[str, float]]:
    if not scored:
        return []
    values = [s for _, s in scored]
    low, span = min(values), max(values) - min(values)
    return [(cid, (s - low) / span if span > 0 else 1.0) for cid, s in scored]


def _matches(meta: dict[str, Any], filters: dict[str, Any]) -> bool:
    for key, value in filters.items():
        if not value:
            continue
        allowed = value if isinstance(value, list) else [value]
        if meta.get(key) not in allowed:
            return False
    return True
