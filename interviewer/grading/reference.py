"""What the grader compares answers with, computed once per process and cached, never per answer.

The sentence-embedding cache (a batch of answers is embedded in one call up front), the corpus
passages that ground each rubric item (its citations), the rubric's axis anchors, and the corpus's
word 5-grams (to tell a recited answer). A question's own reference (its model answer and key
points) is its profile, built at ingest (profiles.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from interviewer.grading.rubric import Source, rubric
from interviewer.index import Hit, Index
from interviewer.text import normalize_for_match

_lock = threading.RLock()


# Sentence embeddings already computed, by text. A batch of answers is embedded in one call up front
# (`prefetch`), which is several times cheaper than one small call per answer, and a regraded answer
# costs no embedding at all. Bounded: the oldest entries go first.
EMBEDDING_CACHE_SIZE = 50_000
# Answer sentences are short (about 25 word pieces): batches of 16 encode the dev set's 3,199 sentences
# in 10.9 s against 12.1 s at 32 and 14.4 s at 64 (ONNX, 2 cores), since less of each batch is padding
# and the per-call cost is already small beside the compute.
SENTENCE_BATCH = 16
_embedded: OrderedDict[str, np.ndarray] = OrderedDict()


def _encode_uncached(texts: list[str]) -> np.ndarray:
    from interviewer.embeddings import DIMENSIONS, get_model

    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = get_model().encode(list(texts), batch_size=SENTENCE_BATCH, normalize_embeddings=True)
    return np.asarray(vectors, dtype=np.float32)


def prefetch(texts: list[str]) -> None:
    """Embed the texts not yet cached, in one batched call."""
    with _lock:
        missing = list(dict.fromkeys(t for t in texts if t not in _embedded))
    if not missing:
        return
    vectors = _encode_uncached(missing)
    with _lock:
        for text, vector in zip(missing, vectors, strict=True):
            _embedded[text] = vector
        while len(_embedded) > EMBEDDING_CACHE_SIZE:
            _embedded.popitem(last=False)


def clear_embedding_cache() -> None:
    with _lock:
        _embedded.clear()


def encode(texts: list[str]) -> np.ndarray:
    """Unit-length embeddings (float32, one row per text); the uncached ones in one batched call."""
    from interviewer.embeddings import DIMENSIONS

    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    prefetch(texts)
    with _lock:
        found = [_embedded.get(t) for t in texts]
    if any(v is None for v in found):  # evicted between the two steps by a concurrent batch
        return _encode_uncached(texts)
    return np.vstack(found)  # type: ignore[arg-type]


# --- rubric grounding ------------------------------------------------------------------------------

_source_chunks: dict[tuple[int, int], dict[tuple[str, str], Hit]] = {}


def _all_hits(index: Index) -> dict[str, Hit]:
    ids = list(index.chunks.get(include=[])["ids"])
    return index.get_chunks(ids)


def index_state(index: Index, state: int | None = None) -> tuple[int, int]:
    """Cache key for what the index holds: which index, and how many chunks (changes on ingest).

    Counting costs a Chroma call, so one grade counts once and passes the number down as `state`.
    """
    return (id(index), index.count() if state is None else state)


def source_chunks(index: Index, state: int | None = None) -> dict[tuple[str, str], Hit]:
    """(doc, quote) of every rubric source -> the indexed chunk that contains the quote.

    Looked up once per index state: the rubric's own references are the citations for axis levels,
    STAR elements, red flags and decisions, so feedback about them points at the corpus passage.
    """
    key = index_state(index, state)
    with _lock:
        if key not in _source_chunks:
            hits = list(_all_hits(index).values())
            normalised = [(h, normalize_for_match(h.text)) for h in hits]
            table: dict[tuple[str, str], Hit] = {}
            r = rubric()
            sources: list[Source] = [
                s for group in (r.decisions, r.axes, r.star, r.red_flags) for item in group for s in item.sources
            ]
            for source in sources:
                quote = normalize_for_match(source.quote)
                match = next((h for h, text in normalised if h.source == source.doc and quote in text), None)
                if match is not None:
                    table[(source.doc, source.quote)] = match
            _source_chunks[key] = table
        return _source_chunks[key]


def grounding(index: Index, sources: list[Source], state: int | None = None) -> Hit | None:
    """The first indexed chunk that holds one of `sources` (the rubric lists the best one first)."""
    table = source_chunks(index, state)
    return next((table[(s.doc, s.quote)] for s in sources if (s.doc, s.quote) in table), None)


# --- rubric anchors ----------------------------------------------------------------------------------

_anchors: dict[str, np.ndarray] = {}


def axis_anchor_vectors() -> dict[str, np.ndarray]:
    """Per axis, embeddings of what evidence on it sounds like: its question and its level-3..5 anchors."""
    with _lock:
        if not _anchors:
            r = rubric()
            for axis in r.axes:
                texts = [axis.question] + [axis.levels[level] for level in (3, 4, 5) if level in axis.levels]
                _anchors[axis.id] = encode(texts)
        return _anchors


def clear_caches() -> None:
    """Forget everything cached (tests; a long-running process after the corpus changed on disk)."""
    from interviewer import profiles
    from interviewer.grading.evidence import measure_answer
    from interviewer.grading.segments import clear_segment_cache

    measure_answer.cache_clear()
    clear_segment_cache()
    with _lock:
        _source_chunks.clear()
        _anchors.clear()
        _shingle_sets.clear()
        _embedded.clear()
    profiles.clear_cache()


# --- the corpus's word 5-grams: what a recited answer repeats ------------------------------------------

SHINGLE = 5
_shingle_sets: dict[tuple[int, int], frozenset[tuple[str, ...]]] = {}


def shingles(text: str) -> set[tuple[str, ...]]:
    from interviewer.grading.segments import words

    tokens = [w.lower() for w in words(normalize_for_match(text))]
    return {tuple(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}


def corpus_shingles(index: Index, state: int | None = None) -> frozenset[tuple[str, ...]]:
    """Every word 5-gram of the indexed documents, once per index state (no embedding)."""
    key = index_state(index, state)
    with _lock:
        if key not in _shingle_sets:
            found: set[tuple[str, ...]] = set()
            for hit in _all_hits(index).values():
                found |= shingles(hit.text)
            _shingle_sets[key] = frozenset(found)
        return _shingle_sets[key]


def warm_up(index: Index) -> None:
    """Load the model and build every per-process cache, so the first grade is as fast as the rest."""
    from interviewer.profiles import profiles_for

    index.warm_up()
    rubric()
    profiles_for(index)
    axis_anchor_vectors()
    source_chunks(index)
    corpus_shingles(index)
