"""The index: chunks in Chroma (dense, MiniLM embeddings) plus BM25 (bm25s), fused for hybrid search.

Retrieval is multi-representation: besides each passage's own vector and its BM25 text, every
passage's heading path and every bank question that the passage answers (or holds) are embedded as
their own vectors pointing at the passage (a `_reps` collection beside the chunks). A paraphrased
question is closest to the question it paraphrases, which is what MiniLM was trained to find. The
domain glossary (interviewer/glossary.py) expands the query with the corpus's terms and each
passage's BM25 text with the plain words for the terms it uses. The four rankings (bm25, dense,
heading, question) are fused by weighted reciprocal rank fusion; the weights and k were chosen by
cross-validation on the retrieval dev set's train split (python -m interviewer.evals.fusion_cv, the
README's retrieval section). With an LLM configured, `search` can rerank the fused top 20
(interviewer/rerank.py), falling back to the fused order on any reply it cannot use.

Ingest is incremental. A manifest (a small Chroma collection beside the chunks, so a shared Chroma
server shares it too) records each document's content hash; `sync` parses and embeds only added or
changed documents, deletes the chunks of removed ones, and touches nothing when nothing changed
(the embedding model is not even loaded). A document's manifest entry is written after its chunks,
so an interrupted ingest is redone on the next run rather than trusted.

A sync is one transaction from the user's point of view: everything is parsed and embedded before
the first write, and if a write fails the touched documents' previous chunks and manifest entries
are put back. `add_user_documents` extends that to the documents folder (all files or none).

An embedded index is checked when it is opened (a kill -9 or a full disk can leave it half-written):
SQLite's quick_check, that Chroma can read every chunk and the vector index finds a stored vector,
and that each manifest entry's chunk count matches the store. A damaged index is moved aside and
rebuilt; documents whose chunks disagree with the manifest are re-indexed. Either is said on stderr.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from interviewer.chunks import Chunk
from interviewer.corpus import (
    DocumentFile,
    ParsedDocument,
    check_user_documents,
    document_files,
    file_sha256,
    parse_file,
    user_documents_added,
)
from interviewer.documents import DocumentError
from interviewer.settings import Settings
from interviewer.text import normalize_for_match

Mode = Literal["hybrid", "bm25", "dense", "heading", "question"]
Retriever = Literal["bm25", "dense", "heading", "question"]
RETRIEVERS: tuple[Retriever, ...] = ("bm25", "dense", "heading", "question")
MODES: tuple[Mode, ...] = ("bm25", "dense", "heading", "question", "hybrid")
# What each document's stored entries look like. A document indexed under another schema is re-indexed
# at the next sync, as a changed one is. 2: heading-path and bank-question vectors in `<collection>_reps`.
INDEX_SCHEMA = 2


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
    heading_rank: int | None = None
    question_rank: int | None = None

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


@dataclass(frozen=True)
class Representation:
    """A text embedded as its own vector that points at a passage: its heading path or a bank question."""

    id: str
    source: str
    target: str  # the chunk id it stands for
    kind: Literal["heading", "question"]
    text: str


def heading_text(chunk: Chunk) -> str:
    """The chunk's heading path without the document title (every chunk of a document shares it)."""
    path = [p for p in chunk.heading_path if p != chunk.document_title] or chunk.heading_path
    return " > ".join(path)


def representations(doc: ParsedDocument) -> list[Representation]:
    """Every chunk's heading path, and every bank question pointing at the chunks that answer or hold it.

    A question with a model answer points at its answer's chunks; one from a bulleted bank or a bold
    prompt at the chunk whose text holds it (else the chunks of the section it sits in).
    """
    out = [Representation(f"{c.id}@heading", c.source, c.id, "heading", heading_text(c)) for c in doc.chunks]
    bodies = [(c, normalize_for_match(c.text)) for c in doc.chunks]
    for q in doc.questions:
        targets = list(q.answer_chunk_ids)
        if not targets:
            key = normalize_for_match(q.text)
            targets = [c.id for c, body in bodies if key in body]
        if not targets:
            targets = [c.id for c in doc.chunks if " > ".join(c.section_path) == q.section]
        for target in dict.fromkeys(targets):
            out.append(Representation(f"{target}@{q.id}", doc.file.source, target, "question", q.text))
    return list({r.id: r for r in out}.values())


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
    """BM25 over every chunk's heading + text, rebuilt from the store when the store changes.

    `indexed` is what BM25 scores (the text, expanded by the glossary); `texts` what hits carry.
    """

    def __init__(self, ids: list[str], texts: list[str], metas: list[dict[str, Any]], indexed: list[str] | None = None):
        import bm25s
        import Stemmer

        self.ids, self.metas, self.texts = ids, metas, texts
        self.position = {cid: i for i, cid in enumerate(ids)}
        self._stemmer = Stemmer.Stemmer("english")
        self._retriever = bm25s.BM25()
        if ids:
            tokens = bm25s.tokenize(indexed or texts, stopwords="en", stemmer=self._stemmer, show_progress=False)
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


class _Reps:
    """The heading and question vectors, in memory: a matrix per kind and the chunk each row points at."""

    def __init__(self, targets: dict[str, list[str]], vectors: dict[str, Any]):
        self.targets, self.vectors = targets, vectors

    def search(self, kind: str, query: Any, n: int, allowed: Callable[[str], bool] | None) -> list[tuple[str, float]]:
        """(chunk id, best cosine of its `kind` vectors), best first."""
        import numpy as np

        targets = self.targets.get(kind, [])
        if not targets:
            return []
        sims = self.vectors[kind] @ query
        best: dict[str, float] = {}
        for i in np.argsort(-sims):
            cid = targets[int(i)]
            if cid in best or (allowed is not None and not allowed(cid)):
                continue
            best[cid] = float(sims[int(i)])
            if len(best) >= n:
                break
        return list(best.items())


@dataclass
class _Snapshot:
    """What a sync is about to overwrite: the touched documents' chunks, representations and manifest."""

    sources: list[str]
    chunks: dict[str, Any]
    manifest: dict[str, Any]
    reps: dict[str, Any] | None = None


class Index:
    def __init__(self, settings: Settings, notify: Callable[[str], None] | None = None):
        from interviewer import embeddings

        self.settings = settings
        # The index embeds (chunks, queries) and grading embeds through it, so its settings choose
        # the embedding backend and where the ONNX export lives. Nothing loads until a text needs it.
        embeddings.configure(settings, notify)
        self._client: Any = None
        self._collection: Any = None  # handles are cached: get_or_create costs a round trip per call
        self._manifest_handle: Any = None
        self._reps_handle: Any = None
        self._bm25: _Bm25 | None = None
        self._reps_cache: _Reps | None = None
        self._rerank_model: Any = None  # the LLM for reranking, built at the first reranked search
        self._lock = threading.Lock()
        self._open_lock = threading.RLock()
        self._notify = notify or _print_notice
        self.notices: list[str] = []  # what the integrity check found and did, in words
        self._rebuild_pending = False
        self._syncing = False
        self._writes = 0  # this Index's writes to the store, so what it read before them is not reused
        self._unchanged: dict[str, tuple[Any, Any]] = {}

    # --- storage -------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._open_lock:
                if self._client is None:
                    self._client = self._open()
                    if self._rebuild_pending and not self._syncing:
                        self.sync()  # the documents are all on disk: put back what was lost
        return self._client

    def _persistent_client(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.settings.index_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(
            path=str(self.settings.index_dir), settings=ChromaSettings(anonymized_telemetry=False)
        )

    def _open(self) -> Any:
        if self.settings.chroma_mode == "http":
            # A shared server owns its storage (and other clients may be mid-ingest): no repairs here.
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            return chromadb.HttpClient(
                host=self.settings.chroma_host,
                port=self.settings.chroma_port,
                settings=ChromaSettings(anonymized_telemetry=False),
            )
        directory = self.settings.index_dir
        problem = _storage_problem(directory)
        client = None
        if problem is None:
            try:
                client = self._persistent_client()
                problem = self._verify(client)
            except Exception as exc:  # whatever Chroma raises on a broken store, it is a broken store
                problem = f"{type(exc).__name__}: {_first_line(exc)}"
        if problem is None:
            return client
        self._collection = self._manifest_handle = None
        _forget_client(client, directory)
        aside = _move_aside(directory)
        kept = f"; the damaged copy is in {aside}" if aside else ""
        self._say(f"index at {directory} was damaged ({problem}); rebuilding it from the documents{kept}")
        self._rebuild_pending = True
        return self._persistent_client()

    def _verify(self, client: Any) -> str | None:
        """None if the store is readable and agrees with the manifest; repairs small disagreements.

        Raises (or returns the reason) when the store itself cannot be trusted.
        """
        chunks = client.get_or_create_collection(
            self.settings.collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        manifest_collection = client.get_or_create_collection(
            f"{self.settings.collection}_manifest", embedding_function=None
        )
        got = chunks.get(include=["metadatas"])
        if int(chunks.count()) != len(got["ids"]):
            return f"Chroma counts {chunks.count()} chunks but returns {len(got['ids'])}"
        if got["ids"]:
            probe = chunks.get(ids=[got["ids"][0]], include=["embeddings"])
            found = chunks.query(query_embeddings=probe["embeddings"], n_results=1, include=["distances"])
            if not found["ids"][0] or float(found["distances"][0][0]) > 0.01:
                return "the vector index does not find a vector it stores"
        per_source = Counter(str((m or {}).get("source", "")) for m in got["metadatas"])
        listed = manifest_collection.get(include=["metadatas"])
        manifest = {i: dict(m or {}) for i, m in zip(listed["ids"], listed["metadatas"], strict=True)}
        wrong = sorted(
            source
            for source, entry in manifest.items()
            if "chunks" in entry and per_source.get(source, 0) != int(entry["chunks"])
        )
        orphans = sorted(source for source in per_source if source not in manifest)
        if wrong or orphans:
            described = ", ".join(
                [f"{s}: {per_source.get(s, 0)} chunks, manifest says {manifest[s]['chunks']}" for s in wrong[:3]]
                + [f"{s}: chunks without a manifest entry" for s in orphans[:3]]
            )
            more = len(wrong) + len(orphans) - min(len(wrong), 3) - min(len(orphans), 3)
            described += f" and {more} more" if more > 0 else ""
            chunks.delete(where={"source": {"$in": wrong + orphans}})
            if wrong:
                manifest_collection.delete(ids=wrong)
            self._wrote()
            self._say(
                f"index at {self.settings.index_dir} disagreed with its manifest ({described}), as an "
                f"interrupted ingest leaves it; re-indexing {len(wrong) + len(orphans)} document(s)"
            )
            self._rebuild_pending = True
        self._collection, self._manifest_handle = chunks, manifest_collection
        return None

    def _say(self, message: str) -> None:
        self.notices.append(message)
        self._notify(message)

    @property
    def chunks(self) -> Any:
        if self._collection is None:
            client = self.client
            if self._collection is None:
                self._collection = client.get_or_create_collection(
                    self.settings.collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                )
        return self._collection

    @property
    def _manifest_collection(self) -> Any:
        if self._manifest_handle is None:
            client = self.client
            if self._manifest_handle is None:
                self._manifest_handle = client.get_or_create_collection(
                    f"{self.settings.collection}_manifest", embedding_function=None
                )
        return self._manifest_handle

    @property
    def _reps(self) -> Any:
        """The heading-path and bank-question vectors (metadata: source, target chunk id, kind)."""
        if self._reps_handle is None:
            client = self.client
            if self._reps_handle is None:
                self._reps_handle = client.get_or_create_collection(
                    f"{self.settings.collection}_reps",
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                )
        return self._reps_handle

    def manifest(self) -> dict[str, dict[str, Any]]:
        def read() -> dict[str, dict[str, Any]]:
            got = self._manifest_collection.get(include=["metadatas"])
            return {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

        return {source: dict(meta) for source, meta in self._while_unchanged("manifest", read).items()}

    def count(self) -> int:
        return int(self._while_unchanged("count", lambda: int(self.chunks.count())))

    def _while_unchanged(self, name: str, read: Callable[[], Any]) -> Any:
        """`read()`, remembered until the store changes. Every grade asks for the count and the manifest
        (cache keys for references and profiles); two Chroma round trips per grade were a twentieth of
        a batch grade's time. A local store is unchanged while its SQLite file is (Chroma keeps it in
        rollback-journal mode, so every commit, from any process, rewrites it) and this Index wrote
        nothing; a shared server's is not known, so it is always asked."""
        stamp = self._store_stamp()
        if stamp is None:
            return read()
        key = (self._writes, stamp)  # taken before reading: a write during the read is seen next time
        with self._lock:
            held = self._unchanged.get(name)
        if held is not None and held[0] == key:
            return held[1]
        value = read()
        with self._lock:
            self._unchanged[name] = (key, value)
        return value

    def _store_stamp(self) -> tuple[int, int] | None:
        if self.settings.chroma_mode == "http":
            return None
        self.client  # opens (and checks) the store first  # noqa: B018
        try:
            stat = (self.settings.index_dir / "chroma.sqlite3").stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _wrote(self) -> None:
        """Everything read from the store is stale: this Index changed it."""
        with self._lock:
            self._writes += 1
            self._unchanged.clear()

    # --- ingest --------------------------------------------------------------------------------

    def sync(
        self,
        files: list[DocumentFile] | None = None,
        progress: ProgressFn | None = None,
        *,
        required: Collection[str] = (),
    ) -> IngestReport:
        """Make the index hold exactly `files` (default: the corpus and the user's documents).

        A document that cannot be read is reported in `refused` and left as it was, unless its source
        is in `required`: then DocumentError is raised before anything is written. If writing fails
        part-way, what was written is undone before the exception propagates.
        """
        self._syncing = True
        try:
            return self._sync(files, progress, required)
        finally:
            self._syncing = False

    def _sync(
        self, files: list[DocumentFile] | None, progress: ProgressFn | None, required: Collection[str]
    ) -> IngestReport:
        self.client  # opens (and checks) the store before anything is read from it  # noqa: B018
        self._rebuild_pending = False
        files = document_files(self.settings) if files is None else files
        report = IngestReport()
        known = self.manifest()
        parsed: list[ParsedDocument] = []
        must_fail: list[str] = []
        for file in files:
            entry = known.get(file.source)
            try:
                digest = file_sha256(file)
                if entry is not None and entry.get("sha256") == digest and entry.get("schema") == INDEX_SCHEMA:
                    report.unchanged.append(file.source)
                    continue
                parsed.append(parse_file(file, self.settings))
            except (DocumentError, OSError) as exc:
                message = str(exc) if isinstance(exc, DocumentError) else f"{file.path.name}: {exc}"
                report.refused.append(message)
                if file.source in required:
                    must_fail.append(message)
        if must_fail:
            raise DocumentError("\n".join(must_fail))
        removed = [source for source in known if source not in {f.source for f in files}]

        chunks = [c for doc in parsed for c in doc.chunks]
        reps = {doc.file.source: representations(doc) for doc in parsed}
        # Each distinct text is embedded once, in one batch with the chunks (many headings repeat).
        rep_texts = list(dict.fromkeys(r.text for rs in reps.values() for r in rs))
        texts = [c.embed_text for c in chunks] + rep_texts
        vectors: list[list[float]] = []
        rep_vectors: dict[str, list[float]] = {}
        if texts:
            from interviewer.embeddings import embed

            done = 0

            def step(n: int) -> None:
                nonlocal done
                done += n
                if progress:
                    progress("embedding", done, len(texts))

            every = embed(texts, progress=step).tolist()
            vectors = every[: len(chunks)]
            rep_vectors = dict(zip(rep_texts, every[len(chunks) :], strict=True))
        # Everything slow or fallible is done; now the writes, undone if any of them fails.
        touched = [doc.file.source for doc in parsed] + removed
        snapshot = self._snapshot(touched) if touched else None
        try:
            offset = 0
            for doc in parsed:
                n = len(doc.chunks)
                doc_reps = reps[doc.file.source]
                self._replace_document(
                    doc, vectors[offset : offset + n], doc_reps, [rep_vectors[r.text] for r in doc_reps]
                )
                offset += n
                (report.changed if doc.file.source in known else report.added).append(doc.file.source)
            for source in removed:
                self.chunks.delete(where={"source": source})
                self._reps.delete(where={"source": source})
                self._manifest_collection.delete(ids=[source])
                report.removed.append(source)
        except BaseException:
            if snapshot is not None:
                self._restore(snapshot)
            raise
        finally:
            if parsed or removed:
                self._bm25 = None
                self._reps_cache = None
                self._wrote()
        report.chunks_embedded = len(chunks)
        report.chunks_total = self.count()
        return report

    def add_user_documents(self, paths: list[Path], progress: ProgressFn | None = None) -> IngestReport:
        """Copy the user's documents into the documents folder and index them: all of them or none.

        Raises DocumentError (one line per refused file) if any is refused, before anything changes;
        if indexing fails later, the folder and the index are put back as they were.
        """
        staged, refused = check_user_documents(paths, self.settings)
        if refused:
            raise DocumentError("\n".join(refused))
        with user_documents_added(staged, self.settings) as files:
            return self.sync(progress=progress, required={f.source for f in files})

    def _snapshot(self, sources: list[str]) -> _Snapshot:
        chunks = self.chunks.get(where={"source": {"$in": sources}}, include=["embeddings", "documents", "metadatas"])
        manifest = self._manifest_collection.get(ids=sources, include=["metadatas"])
        reps = self._reps.get(where={"source": {"$in": sources}}, include=["embeddings", "metadatas"])
        return _Snapshot(sources, chunks, manifest, reps)

    def _restore(self, snapshot: _Snapshot) -> None:
        """Put the snapshotted documents back exactly: their chunks, vectors and manifest entries."""
        self.chunks.delete(where={"source": {"$in": snapshot.sources}})
        self._reps.delete(where={"source": {"$in": snapshot.sources}})
        old = snapshot.chunks
        batch = max(1, min(5000, int(self.client.get_max_batch_size())))
        reps = snapshot.reps or {"ids": []}
        for start in range(0, len(reps["ids"]), batch):
            end = start + batch
            self._reps.add(
                ids=reps["ids"][start:end],
                embeddings=reps["embeddings"][start:end],
                metadatas=reps["metadatas"][start:end],
            )
        for start in range(0, len(old["ids"]), batch):
            end = start + batch
            self.chunks.add(
                ids=old["ids"][start:end],
                embeddings=old["embeddings"][start:end],
                documents=old["documents"][start:end],
                metadatas=old["metadatas"][start:end],
            )
        self._manifest_collection.delete(ids=snapshot.sources)
        if snapshot.manifest["ids"]:
            self._manifest_collection.add(
                ids=snapshot.manifest["ids"],
                embeddings=[[1.0]] * len(snapshot.manifest["ids"]),
                metadatas=snapshot.manifest["metadatas"],
            )
        self._bm25 = None
        self._reps_cache = None
        self._wrote()

    def _replace_document(
        self,
        doc: ParsedDocument,
        vectors: list[list[float]],
        reps: list[Representation] | None = None,
        rep_vectors: list[list[float]] | None = None,
    ) -> None:
        self._wrote()
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
        # Representations are few and cheap: replaced wholesale for the document.
        self._reps.delete(where={"source": source})
        reps, rep_vectors = reps or [], rep_vectors or []
        for start in range(0, len(reps), batch):
            rep_part = reps[start : start + batch]
            self._reps.add(
                ids=[r.id for r in rep_part],
                embeddings=rep_vectors[start : start + batch],
                metadatas=[{"source": r.source, "target": r.target, "kind": r.kind} for r in rep_part],
            )
        self._manifest_collection.upsert(
            ids=[source],
            embeddings=[[1.0]],
            metadatas=[
                {"sha256": doc.document.sha256, "track": doc.file.track, "chunks": len(new_ids), "schema": INDEX_SCHEMA}
            ],
        )

    # --- search --------------------------------------------------------------------------------

    def _bm25_index(self) -> _Bm25:
        with self._lock:
            if self._bm25 is None:
                got = self.chunks.get(include=["documents", "metadatas"])
                metas = [dict(m or {}) for m in got["metadatas"]]
                texts = [f"{m.get('context', '')}\n{d}" for d, m in zip(got["documents"], metas, strict=True)]
                indexed = texts
                if self.settings.glossary_passages:
                    from interviewer.glossary import glossary

                    indexed = [glossary().expand_passage(t) for t in texts]
                self._bm25 = _Bm25(list(got["ids"]), texts, metas, indexed)
            return self._bm25

    def _reps_index(self) -> _Reps:
        import numpy as np

        with self._lock:
            if self._reps_cache is None:
                got = self._reps.get(include=["embeddings", "metadatas"])
                targets: dict[str, list[str]] = {}
                rows: dict[str, list[Any]] = {}
                for vector, meta in zip(got["embeddings"], got["metadatas"], strict=True):
                    kind = str((meta or {}).get("kind", ""))
                    targets.setdefault(kind, []).append(str((meta or {}).get("target", "")))
                    rows.setdefault(kind, []).append(vector)
                matrices = {kind: np.asarray(v, dtype=np.float32) for kind, v in rows.items()}
                self._reps_cache = _Reps(targets, matrices)
            return self._reps_cache

    def warm_up(self) -> None:
        """Load the model, BM25 and the representation vectors so the first real query is as fast as the rest."""
        self._bm25_index()
        self._reps_index()
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
        rerank: bool | None = None,
    ) -> list[Hit]:
        """Ranked hits. With an LLM configured and `rerank` (default: settings.rerank), hybrid's top
        RERANK_DEPTH are reordered by the LLM; any reply that cannot be used leaves the fused order."""
        k = k or self.settings.search_k
        use_llm = self.settings.rerank if rerank is None else rerank
        if mode != "hybrid" or not use_llm or self.settings.backend == "offline":
            return self.search_all_modes(query, k, kind=kind, source=source, track=track, modes=(mode,))[mode]
        from interviewer.llm import build_chat_model
        from interviewer.rerank import RERANK_DEPTH
        from interviewer.rerank import rerank as llm_rerank

        if self._rerank_model is None:
            self._rerank_model = build_chat_model(self.settings.backend, self.settings)
        depth = max(k, RERANK_DEPTH)
        fused = self.search_all_modes(query, depth, kind=kind, source=source, track=track, modes=("hybrid",))["hybrid"]
        top, _ = llm_rerank(query, fused[:RERANK_DEPTH], self._rerank_model)
        return (top + fused[RERANK_DEPTH:])[:k]

    def rankings(
        self, query: str, pool: int, filters: dict[str, Any] | None = None
    ) -> dict[Retriever, list[tuple[str, float]]]:
        """Each retriever's (chunk id, score) list, best first, from one query embedding."""
        import numpy as np

        from interviewer.embeddings import embed_one

        filters = filters or {}
        bm25 = self._bm25_index()
        reps = self._reps_index()
        allowed_mask = None
        allowed: Callable[[str], bool] | None = None
        if any(filters.values()):
            allowed_mask = [_matches(m, filters) for m in bm25.metas]
            mask = allowed_mask

            def allowed(cid: str) -> bool:
                i = bm25.position.get(cid)
                return i is not None and mask[i]

        expanded = query
        if self.settings.glossary_queries:
            from interviewer.glossary import glossary

            expanded = glossary().expand_query(query)
        vector = np.asarray(embed_one(expanded if self.settings.glossary_dense else query), dtype=np.float32)
        return {
            "bm25": [(bm25.ids[i], s) for i, s in bm25.search(expanded, pool, allowed_mask)],
            "dense": self._dense(vector.tolist(), pool, filters),
            "heading": reps.search("heading", vector, pool, allowed),
            "question": reps.search("question", vector, pool, allowed),
        }

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
        """Ranked hits per mode from one retrieval per retriever (the evals compare them)."""
        filters = {"kind": kind, "source": source, "track": track}
        pool = max(self.settings.candidate_pool, k)
        bm25 = self._bm25_index()
        ranked = self.rankings(query, pool, filters)
        by_id = {i: (t, m) for i, t, m in zip(bm25.ids, bm25.texts, bm25.metas, strict=True)}
        ranks = {name: {cid: r for r, (cid, _) in enumerate(scored, 1)} for name, scored in ranked.items()}
        orders: dict[Mode, list[tuple[str, float]]] = dict(ranked)  # type: ignore[arg-type]
        orders["hybrid"] = fuse(ranked, self.settings.fusion_weights, self.settings.fusion_k)
        out: dict[Mode, list[Hit]] = {}
        for mode in modes:
            out[mode] = []
            for cid, score in orders[mode][:k]:
                text, meta = by_id.get(cid, ("", {}))
                positions: dict[str, Any] = {f"{name}_rank": ranks[name].get(cid) for name in RETRIEVERS}
                out[mode].append(_hit(cid, text, meta, score=score, **positions))
        return out

    def _dense(self, vector: list[float], n: int, filters: dict[str, Any]) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        collection = self.chunks
        total = len(self._bm25_index().ids)  # the same store, counted once per change, not per query
        if total == 0:
            return []
        clauses = []
        for key, value in filters.items():
            if value:
                clauses.append({key: {"$in": list(value)}} if isinstance(value, list) else {key: value})
        where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        got = collection.query(query_embeddings=[vector], n_results=min(n, total), where=where, include=["distances"])
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


def fuse(
    ranked: dict[Retriever, list[tuple[str, float]]] | dict[str, list[tuple[str, float]]],
    weights: dict[str, float],
    k: float,
) -> list[tuple[str, float]]:
    """Weighted reciprocal rank fusion: sum over retrievers of weight / (k + rank), best first.

    Ranks, not scores: BM25 scores, cosines of passages and cosines of short questions live on
    different scales, and rank fusion needs no per-retriever calibration. A retriever with weight 0
    is ignored; ties are broken by chunk id so the order is deterministic.
    """
    fused: dict[str, float] = {}
    for name, scored in ranked.items():
        w = float(weights.get(name, 0.0))
        if w <= 0:
            continue
        for rank, (cid, _) in enumerate(scored, 1):
            fused[cid] = fused.get(cid, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def _matches(meta: dict[str, Any], filters: dict[str, Any]) -> bool:
    for key, value in filters.items():
        if not value:
            continue
        allowed = value if isinstance(value, list) else [value]
        if meta.get(key) not in allowed:
            return False
    return True


# --- integrity --------------------------------------------------------------------------------------


def _print_notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no message"


def _storage_problem(directory: Path) -> str | None:
    """What is wrong with an embedded index's files, checked before Chroma opens them (None: nothing)."""
    if not directory.is_dir():
        return None
    db = directory / "chroma.sqlite3"
    segments = [p for p in directory.iterdir() if p.is_dir() and len(p.name) == 36 and p.name.count("-") == 4]
    if not db.is_file() or db.stat().st_size == 0:
        return "chroma.sqlite3 is missing or empty but vector segments remain" if segments else None
    try:
        connection = sqlite3.connect(db, timeout=10)
        try:
            rows = connection.execute("PRAGMA quick_check").fetchall()
        finally:
            connection.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None  # another process is writing; Chroma will wait for it too
        return f"chroma.sqlite3: {exc}"
    except sqlite3.DatabaseError as exc:
        return f"chroma.sqlite3: {exc}"
    if rows != [("ok",)]:
        return f"chroma.sqlite3 failed SQLite's quick_check: {rows[0][0] if rows else 'no answer'}"
    return None


def _forget_client(client: Any, directory: Path) -> None:
    """Release Chroma's per-process system for this directory, so a fresh client really reopens it."""
    from chromadb.api.shared_system_client import SharedSystemClient

    if client is not None:
        with contextlib.suppress(Exception):
            client.close()
    system = SharedSystemClient._identifier_to_system.pop(str(directory), None)
    SharedSystemClient._identifier_to_refcount.pop(str(directory), None)
    if system is not None:
        with contextlib.suppress(Exception):
            system.stop()


def _move_aside(directory: Path) -> Path | None:
    """Move a damaged index out of the way (keeping one copy to look at); delete it if that fails."""
    if not directory.exists():
        return None
    aside = directory.with_name(directory.name + ".damaged")
    try:
        if aside.exists():
            shutil.rmtree(aside)
        directory.rename(aside)
        return aside
    except OSError:
        shutil.rmtree(directory, ignore_errors=True)
        return None
