"""What the grader compares an answer against: the question's model answer and the rubric passages.

Everything here derives from the corpus and the question alone, so it is computed once per process
and cached, never per answer: the question bank (per corpus), the passages that ground each rubric
item (per index), key points and their embeddings (per chunk id and text), the rubric's anchor
embeddings, and each question's retrieval (per question text and index state).

A question's model answer is found by matching its text against the question bank (exact after
normalisation); only when the bank has no model answer for it is the index searched for
model-answer and STAR-story chunks. Rubric passages come from a search restricted to rubric and
feedback-example chunks, plus the chunks that hold each rubric item's own source quotes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from interviewer.corpus import question_bank
from interviewer.grading.rubric import Source, rubric
from interviewer.grading.segments import key_points
from interviewer.index import Hit, Index
from interviewer.text import normalize_for_match

if TYPE_CHECKING:
    from interviewer.questions import Question
    from interviewer.settings import Settings

MODEL_ANSWER_KINDS = ["model_answer", "star_story"]
RUBRIC_KINDS = ["rubric", "feedback_example"]
SEARCH_K = 3  # model-answer chunks taken from a search: beyond three they drift to other topics
RUBRIC_K = 3
MAX_KEY_POINTS = 40  # long model answers (a whole design walkthrough) are cut at this many points
QUESTION_CACHE_SIZE = 512

Found = Literal["question_bank", "search"]

_lock = threading.RLock()


# Sentence embeddings already computed, by text. A batch of answers is embedded in one call up front
# (`prefetch`), which is several times cheaper than one small call per answer, and a regraded answer
# costs no embedding at all. Bounded: the oldest entries go first.
EMBEDDING_CACHE_SIZE = 50_000
_embedded: OrderedDict[str, np.ndarray] = OrderedDict()


def _encode_uncached(texts: list[str]) -> np.ndarray:
    from interviewer.embeddings import DIMENSIONS, get_model

    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = get_model().encode(list(texts), batch_size=32, normalize_embeddings=True)
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


@dataclass(frozen=True)
class KeyPoint:
    text: str
    chunk_id: str


@dataclass(frozen=True)
class Reference:
    """The grading reference for one question."""

    question: str
    question_id: str | None  # the question bank entry, when the question text matched one
    found_by: Found
    model_chunks: list[Hit]
    rubric_chunks: list[Hit]
    key_points: list[KeyPoint]
    key_point_vectors: np.ndarray  # one unit row per key point
    question_vector: np.ndarray
    model_vector: np.ndarray  # mean of the key points, re-normalised: "what the model answer is about"


# --- question bank ---------------------------------------------------------------------------------

_banks: dict[tuple[str, str], dict[str, list[Question]]] = {}


def bank_lookup(settings: Settings) -> dict[str, list[Question]]:
    """Normalised question text -> bank questions with that text; parsed once per corpus location."""
    key = (str(settings.corpus_dir), str(settings.documents_dir))
    with _lock:
        if key not in _banks:
            questions, _problems = question_bank(settings)
            table: dict[str, list[Question]] = {}
            for q in questions:
                table.setdefault(normalize_for_match(q.text), []).append(q)
            _banks[key] = table
        return _banks[key]


def match_question(question: str, settings: Settings) -> Question | None:
    """The bank question with this text that has a model answer (the first in corpus order)."""
    candidates = bank_lookup(settings).get(normalize_for_match(question), [])
    with_answer = [q for q in candidates if q.answer_chunk_ids]
    return with_answer[0] if with_answer else None


# --- per-chunk key points and their embeddings -------------------------------------------------------

_points: dict[tuple[str, str], tuple[list[str], np.ndarray]] = {}


def chunk_points(hit: Hit) -> tuple[list[str], np.ndarray]:
    """A chunk's key points and their embeddings, computed once per chunk id and text."""
    key = (hit.id, hit.text)
    with _lock:
        if key not in _points:
            texts = key_points(hit.text)
            _points[key] = (texts, encode(texts))
        return _points[key]


def prime_points(hits: list[Hit]) -> None:
    """Key points of many chunks in one batched encode call (warm-up), instead of one call each."""
    with _lock:
        todo = [h for h in hits if (h.id, h.text) not in _points]
        texts = [key_points(h.text) for h in todo]
        flat = [t for group in texts for t in group]
        vectors = encode(flat)
        offset = 0
        for hit, group in zip(todo, texts, strict=True):
            _points[(hit.id, hit.text)] = (group, vectors[offset : offset + len(group)])
            offset += len(group)


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


# --- the reference for one question ------------------------------------------------------------------

_references: OrderedDict[tuple[int, int, str], Reference] = OrderedDict()


def reference_for(question: str, index: Index, state: int | None = None) -> Reference:
    """The model answer, key points and rubric passages for `question`, cached per question and index."""
    key = (*index_state(index, state), normalize_for_match(question))
    with _lock:
        cached = _references.get(key)
        if cached is not None:
            _references.move_to_end(key)
            return cached
    reference = _build(question, index)
    with _lock:
        _references[key] = reference
        while len(_references) > QUESTION_CACHE_SIZE:
            _references.popitem(last=False)
    return reference


def _build(question: str, index: Index) -> Reference:
    bank_question = match_question(question, index.settings)
    found_by: Found
    if bank_question is not None:
        got = index.get_chunks(bank_question.answer_chunk_ids)
        model_chunks = [got[cid] for cid in bank_question.answer_chunk_ids if cid in got]
        found_by = "question_bank"
    else:
        model_chunks = []
    if not model_chunks:
        model_chunks = index.search(question, SEARCH_K, kind=MODEL_ANSWER_KINDS)
        found_by = "search"
    rubric_chunks = index.search(question, RUBRIC_K, kind=RUBRIC_KINDS)

    points: list[KeyPoint] = []
    rows: list[np.ndarray] = []
    for hit in model_chunks:
        texts, vectors = chunk_points(hit)
        for text, vector in zip(texts, vectors, strict=True):
            if len(points) < MAX_KEY_POINTS and text not in {p.text for p in points}:
                points.append(KeyPoint(text, hit.id))
                rows.append(vector)
    from interviewer.embeddings import DIMENSIONS

    point_vectors = np.vstack(rows) if rows else np.zeros((0, DIMENSIONS), dtype=np.float32)
    question_vector = encode([question])[0]
    model_vector = _unit(point_vectors.mean(axis=0)) if len(rows) else question_vector
    return Reference(
        question=question,
        question_id=bank_question.id if bank_question is not None and found_by == "question_bank" else None,
        found_by=found_by,
        model_chunks=model_chunks,
        rubric_chunks=rubric_chunks,
        key_points=points,
        key_point_vectors=point_vectors,
        question_vector=question_vector,
        model_vector=model_vector,
    )


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


def clear_caches() -> None:
    """Forget everything cached (tests; a long-running process after the corpus changed on disk)."""
    with _lock:
        _banks.clear()
        _points.clear()
        _source_chunks.clear()
        _anchors.clear()
        _references.clear()
        _backgrounds.clear()
        _embedded.clear()


# --- the background: what answers to *other* questions look like ------------------------------------


@dataclass(frozen=True)
class Background:
    """Corpus-wide material that an answer is compared with, to tell on-topic from off-topic and
    recited from told: every bank question, every model-answer key point, and the corpus's word
    5-grams."""

    question_vectors: np.ndarray
    point_vectors: np.ndarray
    shingles: frozenset[tuple[str, ...]]


SHINGLE = 5
_backgrounds: dict[tuple[int, int], Background] = {}


def shingles(text: str) -> set[tuple[str, ...]]:
    from interviewer.grading.segments import words

    tokens = [w.lower() for w in words(normalize_for_match(text))]
    return {tuple(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}


def background(index: Index, state: int | None = None) -> Background:
    """Built once per index state (a few seconds: it embeds every key point in the corpus)."""
    key = index_state(index, state)
    with _lock:
        if key in _backgrounds:
            return _backgrounds[key]
        hits = _all_hits(index)
        questions = sorted({qs[0].text for qs in bank_lookup(index.settings).values()})
        corpus_shingles: set[tuple[str, ...]] = set()
        for hit in hits.values():
            corpus_shingles |= shingles(hit.text)
        answers = [hits[cid] for cid in sorted(hits) if hits[cid].kind in MODEL_ANSWER_KINDS]
        prime_points(answers)
        rows = [chunk_points(hit)[1] for hit in answers]
        from interviewer.embeddings import DIMENSIONS

        built = Background(
            question_vectors=encode(questions),
            point_vectors=np.vstack([r for r in rows if len(r)]) if rows else np.zeros((0, DIMENSIONS), np.float32),
            shingles=frozenset(corpus_shingles),
        )
        _backgrounds[key] = built
        return built


def warm_up(index: Index) -> None:
    """Load the model and build every per-process cache, so the first grade is as fast as the rest."""
    index.warm_up()
    rubric()
    axis_anchor_vectors()
    source_chunks(index)
    background(index)
