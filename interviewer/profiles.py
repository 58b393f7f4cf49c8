"""Question profiles: what each question tests, computed once at ingest and stored beside the index.

A profile is what the grader and the interviewer know about a question before any answer arrives:
the rubric axes it tests, whether it asks for a story (then STAR completeness is part of the bar),
its key points as short clean claims, the note saying what the panel probes, and its levels. Bank
questions get theirs from the document (the question's own model answer and "Testing:" note); a
bank question without a model answer, and a free question typed by a candidate, get one from
retrieval and are marked `inferred`.

Profiles and their embeddings (the question and every key point) are written to the index folder by
`interviewer ingest`, with a fingerprint of the documents they were built from; loading them embeds
nothing. A store whose fingerprint no longer matches the index is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, Field

from interviewer.files import write_atomically
from interviewer.grading.rubric import axis_matcher, rubric
from interviewer.grading.segments import key_points as markdown_points
from interviewer.grading.segments import words
from interviewer.text import collapse_whitespace, normalize_for_match, repair_text

if TYPE_CHECKING:
    from interviewer.index import Hit, Index
    from interviewer.questions import Question

# 3: references for questions without a model answer come from multi-representation retrieval (index schema 2).
# 4: a serial list's last item loses its "and" / "or" ("delivery expectations", not "and delivery ...").
# 5: a STAR label bolded with its colon ("**Situation:** ...") no longer leaves "** " in the point, a
#    chunk is a story wherever its STAR lines are, not only when it starts with one, and a template's
#    Situation/Result line (one that narrates nothing) is kept as a point.
# 6: a key point whose words another point of the question holds with more is dropped ("Outcomes"
#    beside "Clear outcomes").
# 7: a code span's stray backslashes are removed (they came in after 6 without a bump, so profiles built
#    by 6 may still hold them).
# 8: a template's Situation, Task and Result slots ("What broke, which surfaces/users") carry the STAR
#    element they ask for (`star_slot`), so the grade reads them off its STAR judgement.
PROFILE_VERSION = 8
PROFILES_JSON = "profiles.json"
PROFILES_VECTORS = "profiles.npz"

FoundBy = Literal["question_bank", "search", "nearest_question"]

# Story prompts: the question asks for something that happened. The openers are the ones the corpus's
# question banks and STAR worksheet use ("Tell me about a time", "Walk me through your last P0").
_STORY_PROMPT = re.compile(
    r"^(?:tell me about (?:a|an|the|your)\b|describe (?:a|an) (?:time|situation|project|major|moment)\b|"
    r"walk me through (?:your last|a time|the last)\b|share a time\b|give an example\b|have you (?:ever|executed)\b|"
    r"did you ever\b|did you take\b|what was the (?:most|hardest|biggest)\b|describe how you(?:'|’)ve\b)",
    re.IGNORECASE,
)
# Labels that introduce what the panel is testing rather than a claim of the answer.
_NOTE_LABEL = re.compile(
    r"^\s*(?:testing|answer|look for|probing|what they(?:'|’)re probing|key quote|say this)\s*:\s*", re.I
)
# The label may be bold with the colon inside or outside it ("**Situation:** What broke", "**Action**: ...").
_STAR_LINE = re.compile(
    r"^\s*[-*]?\s*\**(situation|task|actions?|results?|context|outcome)\**\s*:\s*\**\s*(.+)$", re.I | re.M
)
# A STAR line that narrates (first person, or a figure) is someone's own story, not a template of one.
_NARRATED = re.compile(r"\b(?:i|we|our|my|us)\b|\d", re.I)
# A list of short noun phrases ("Outcomes, coaching plan, time-bound decisions") is several claims.
# A serial list's last item keeps its conjunction ("x, y, and z"): it is cut off with the separator, so
# a point reads "delivery expectations", not "and delivery expectations".
_LIST_SPLIT = re.compile(r"\s*(?:,|;|\s\+\s)\s*(?:(?:and|or)\s+)?")
_POINT_STOP_WORDS = "a an the and or of to in on for with by at from is are be it its this that"
_POINT_STOP = frozenset(_POINT_STOP_WORDS.split())
# The corpus's code spans, their backticks lost to backslashes in export ("\\Black\\ and \\Ruff\\").
_CODE_SPAN = re.compile(r"\\([^\\\s][^\\\n]{0,60}?)\\")
MAX_KEY_POINTS = 24
MAX_POINT_WORDS = 40
NEAR_DUPLICATE_POINT = 0.9  # cosine between two key points that say the same thing
NEAREST_QUESTION = 0.8  # a free question this close to a bank question borrows its profile
SEARCH_CHUNKS = 3
SEARCHED_POINTS = 12  # key points kept from passages found by search, the closest to the question first
SEARCHED_POINT_RELEVANCE = 0.3  # and only those at least this close to it
MAX_TESTED_AXES = 3


class ProfileKeyPoint(BaseModel):
    text: str
    chunk_id: str
    # A STAR template's slot ("**Situation:** What broke, ...") names what to tell, not a claim: it is
    # told when the answer has that element, which the STAR judgement decides, not a cosine to two words.
    star_slot: str | None = None


class Claim(NamedTuple):
    text: str
    star_slot: str | None = None


# A template's labels, by the STAR element each slot asks for. Action slots ("Stabilize (safe fallback),
# isolate (quarantine/cutover)") name concrete moves, so they stay claims to be covered like any other.
_SLOT_ELEMENT = {"situation": "situation", "context": "situation", "task": "task", "result": "result"}
_SLOT_ELEMENT |= {"results": "result", "outcome": "result"}


class QuestionProfile(BaseModel):
    question_id: str | None  # the bank question, when there is one
    text: str
    track: str = ""
    section: str = ""
    levels: list[str] = Field(default_factory=list)
    story: bool  # asks for something that happened: a complete STAR story is part of the bar
    tested_axes: list[str]  # the one to three rubric axes this question is about, most tested first
    axis_evidence: dict[str, float] = Field(default_factory=dict)  # per axis: probability it is tested
    axis_features: dict[str, list[float]] = Field(default_factory=dict)  # what that probability reads
    key_points: list[ProfileKeyPoint] = Field(default_factory=list)
    probing: str | None = None
    model_chunk_ids: list[str] = Field(default_factory=list)
    inferred: bool = False  # from retrieval, not from the question's own model answer
    found_by: FoundBy = "question_bank"


# --- building a profile ----------------------------------------------------------------------------


def is_story_question(text: str, origin: str | None = None) -> bool:
    return origin == "star_topic" or bool(_STORY_PROMPT.match(text.strip().strip('"“”')))


def clean_claims(hit: Hit, story_only_actions: bool) -> list[Claim]:
    """A model-answer chunk's key points as short claims.

    Labels that say what is being tested ("Testing:", "Answer:") are removed, and a label line that is a
    list of short phrases becomes one claim per phrase. In a STAR story only the Task and Actions lines
    are kept when `story_only_actions`: the Situation and Results are the storyteller's own facts, which
    no other candidate's story can be expected to repeat. A template's Situation or Result line, which
    says what to tell rather than telling it ("What broke, which surfaces/users"), is kept, each part
    marked with the element it asks for.
    """
    claims: list[Claim] = []
    in_code = False
    for raw in repair_text(hit.text).splitlines():
        if raw.strip().startswith(("```", "~~~")):
            in_code = not in_code  # templates and code in fences are examples, not claims
            continue
        if in_code or raw.lstrip().startswith("#"):
            continue
        star = _STAR_LINE.match(raw)
        if star:
            label = star.group(1).lower()
            narrated = bool(_NARRATED.search(star.group(2)))
            if story_only_actions and label not in ("task", "action", "actions") and narrated:
                continue
            slot = None if narrated else _SLOT_ELEMENT.get(label)
            claims += [Claim(c, slot) for c in _LIST_SPLIT.split(star.group(2)) if len(words(c)) >= 2]
            continue
        labelled = _NOTE_LABEL.match(re.sub(r"^\s*[-*]\s*|\*\*", "", raw))
        if labelled:
            body = re.sub(r"^\s*[-*]\s*|\*\*", "", raw)[labelled.end() :]
            parts = _LIST_SPLIT.split(body)
            if len(parts) > 1 and max(len(words(p)) for p in parts) <= 6:
                claims += [Claim(p) for p in parts if words(p)]
                continue
            claims += [Claim(p) for p in markdown_points(body)]
            continue
        claims += [Claim(p) for p in markdown_points(raw)]
    out: dict[str, Claim] = {}
    for claim_text, slot in claims:
        claim = _CODE_SPAN.sub(r"\1", claim_text)
        claim = collapse_whitespace(claim).strip(" .;:'\"“”")
        if not words(claim):
            continue
        claim = claim[:1].upper() + claim[1:]
        if len(words(claim)) > MAX_POINT_WORDS:
            claim = " ".join(claim.split()[:MAX_POINT_WORDS]) + " …"
        out.setdefault(claim, Claim(claim, slot))
    return list(out.values())


def _point_terms(text: str) -> frozenset[str]:
    """A key point's content words, singular ("decisions" and "decision" are one term)."""
    return frozenset(re.sub(r"(?<=[a-z]{3})s$", "", w) for w in words(text.lower()) if w not in _POINT_STOP)


def _dedupe(points: list[ProfileKeyPoint], vectors: np.ndarray) -> tuple[list[ProfileKeyPoint], np.ndarray]:
    """Near-duplicates (by cosine) once, and no point that another says with more: "Outcomes" beside
    "Clear outcomes" (the "Testing:" note and the model answer often name the same thing)."""
    terms = [_point_terms(p.text) for p in points]
    contained = {i for i, t in enumerate(terms) if t and any(t < other for other in terms)}
    keep: list[int] = []
    for i in range(len(points)):
        if i not in contained and all(float(vectors[i] @ vectors[j]) < NEAR_DUPLICATE_POINT for j in keep):
            keep.append(i)
        if len(keep) == MAX_KEY_POINTS:
            break
    return [points[i] for i in keep], vectors[keep] if keep else vectors[:0]


TESTED_FEATURES = ("question_terms", "point_terms", "question_anchor", "points_anchor", "point_term_share")
SECONDARY_TESTED = 0.7  # an axis beyond the most tested one counts when this likely to be tested


class TestedAxesModel(BaseModel):
    """Which axes a question tests: a logistic regression over how the question, its note and its key
    points speak of each axis (TESTED_FEATURES, plus an offset per axis), fitted on the tested axes
    labelled for the dev set's train questions (fitting.py). The most likely axis is always tested; a
    further axis only when its probability reaches SECONDARY_TESTED, because an axis the question does
    not really test, once called tested, turns a good focused answer into a "gap"."""

    means: list[float]
    scales: list[float]
    weights: list[float]
    axis_offsets: dict[str, float]
    intercept: float

    def probabilities(self, features: dict[str, list[float]]) -> dict[str, float]:
        out = {}
        for axis, values in features.items():
            z = (np.array(values) - np.array(self.means)) / np.array(self.scales)
            logit = float(z @ np.array(self.weights)) + self.intercept + self.axis_offsets.get(axis, 0.0)
            out[axis] = round(1.0 / (1.0 + float(np.exp(-logit))), 4)
        return out

    def choose(self, features: dict[str, list[float]]) -> tuple[list[str], dict[str, float]]:
        p = self.probabilities(features)
        ranked = sorted(p, key=lambda a: -p[a])
        return [ranked[0], *[a for a in ranked[1:] if p[a] >= SECONDARY_TESTED][: MAX_TESTED_AXES - 1]], p


def tested_axes_model() -> TestedAxesModel | None:
    """The fitted model from calibration.json, or None before the grader has ever been fitted."""
    try:
        from interviewer.grading.calibration import load_calibration

        return load_calibration().tested_axes
    except (FileNotFoundError, ValueError):  # not fitted yet, or written by another version
        return None


def axis_features_for(
    question: str,
    probing: str | None,
    section: str,
    points: list[str],
    question_vector: np.ndarray,
    point_vectors: np.ndarray,
) -> dict[str, list[float]]:
    """Per axis, TESTED_FEATURES: distinct axis terms in the question, note and section; axis terms per
    key point; the question's and the key points' closeness to the axis's anchors beyond the mean over
    axes; and the axis's share of all axis terms in the key points."""
    from interviewer.grading.reference import axis_anchor_vectors

    anchors = axis_anchor_vectors()
    axes = [a.id for a in rubric().axes]
    sims = {a: float((anchors[a] @ question_vector).max()) for a in axes}
    if len(point_vectors):
        mean_point = point_vectors.mean(axis=0)
        mean_point = mean_point / (np.linalg.norm(mean_point) + 1e-9)
        point_sims = {a: float((anchors[a] @ mean_point).max()) for a in axes}
    else:
        point_sims = sims
    asked = f"{question}\n{probing or ''}\n{section}"
    in_points = {a: sum(len(axis_matcher(a).distinct(p)) for p in points) for a in axes}
    total = sum(in_points.values()) or 1
    q_mean, p_mean = float(np.mean(list(sims.values()))), float(np.mean(list(point_sims.values())))
    return {
        a: [
            float(len(axis_matcher(a).distinct(asked))),
            in_points[a] / max(1, len(points)),
            round(sims[a] - q_mean, 6),
            round(point_sims[a] - p_mean, 6),
            in_points[a] / total,
        ]
        for a in axes
    }


def choose_tested_axes(
    features: dict[str, list[float]], model: TestedAxesModel | None
) -> tuple[list[str], dict[str, float]]:
    if model is not None:
        return model.choose(features)
    # Before any fit: the axis whose terms and anchors the question uses most.
    score = {a: v[0] + 2 * v[1] + 6 * v[2] for a, v in features.items()}
    return [max(score, key=lambda a: score[a])], score


def _model_chunks_for(question: Question | None, text: str, index: Index) -> tuple[list[Hit], FoundBy]:
    """The question's own model answer, else model-answer passages found by search; a story is used only
    for a story question (another candidate's story is not what this question asks for)."""
    if question is not None and question.answer_chunk_ids:
        got = index.get_chunks(question.answer_chunk_ids)
        hits = [got[c] for c in question.answer_chunk_ids if c in got]
        if hits:
            return hits, "question_bank"
    story = is_story_question(text, question.origin if question else None)
    kinds = ["model_answer", "star_story"] if story else ["model_answer"]
    found = [h for h in index.search(text, SEARCH_CHUNKS * 3, kind=kinds) if story or not _STAR_LINE.search(h.text)]
    return found[:SEARCH_CHUNKS], "search"


def build_profile(text: str, question: Question | None, index: Index) -> tuple[QuestionProfile, np.ndarray, np.ndarray]:
    """(profile, question vector, key-point vectors)."""
    from interviewer.grading.reference import encode

    vector = encode([text])[0]
    chunks, how = _model_chunks_for(question, text, index)
    origin = question.origin if question else None
    story = is_story_question(text, origin)
    points: list[ProfileKeyPoint] = []
    for hit in chunks:
        story_chunk = hit.kind == "star_story" or bool(_STAR_LINE.search(hit.text))
        for claim in clean_claims(hit, story_only_actions=story_chunk):
            points.append(ProfileKeyPoint(text=claim.text, chunk_id=hit.id, star_slot=claim.star_slot))
    question_vector, point_vectors = vector, encode([p.text for p in points])
    if how == "search" and len(points):
        # Passages found by search hold points about other things too: keep the ones about this question.
        sims = point_vectors @ question_vector
        keep = [i for i in np.argsort(-sims)[:SEARCHED_POINTS] if sims[i] >= SEARCHED_POINT_RELEVANCE]
        keep.sort()
        points, point_vectors = [points[i] for i in keep], point_vectors[keep]
    points, point_vectors = _dedupe(points, point_vectors)
    probing = question.probing if question else None
    section = question.section if question else ""
    features = axis_features_for(text, probing, section, [p.text for p in points], question_vector, point_vectors)
    tested, probabilities = choose_tested_axes(features, tested_axes_model())
    profile = QuestionProfile(
        question_id=question.id if question else None,
        text=text,
        track=question.track if question else "",
        section=section,
        levels=list(question.levels) if question else [],
        story=story,
        tested_axes=tested,
        axis_evidence=probabilities,
        axis_features=features,
        key_points=points,
        probing=probing,
        model_chunk_ids=[h.id for h in chunks],
        inferred=how != "question_bank",
        found_by=how,
    )
    return profile, question_vector, point_vectors


# --- the store -------------------------------------------------------------------------------------


@dataclass
class ProfileStore:
    profiles: list[QuestionProfile]
    question_vectors: np.ndarray  # one unit row per profile
    point_vectors: np.ndarray  # every profile's key points, concatenated
    offsets: list[int]  # profile i's key points are point_vectors[offsets[i]:offsets[i + 1]]
    fingerprint: str

    def __post_init__(self) -> None:
        self._by_text: dict[str, int] = {}
        self._by_id: dict[str, int] = {}
        for i, p in enumerate(self.profiles):
            self._by_text.setdefault(normalize_for_match(p.text), i)
            if p.question_id:
                self._by_id.setdefault(p.question_id, i)

    def find(self, text_or_id: str) -> int | None:
        if text_or_id in self._by_id:
            return self._by_id[text_or_id]
        return self._by_text.get(normalize_for_match(text_or_id))

    def points_of(self, i: int) -> np.ndarray:
        return self.point_vectors[self.offsets[i] : self.offsets[i + 1]]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        import io

        buffer = io.BytesIO()
        np.savez(buffer, questions=self.question_vectors, points=self.point_vectors, offsets=np.array(self.offsets))
        # Vectors first: a store is only trusted when the JSON (written last) carries the same fingerprint.
        write_atomically(directory / PROFILES_VECTORS, buffer.getvalue())
        body = {
            "version": PROFILE_VERSION,
            "fingerprint": self.fingerprint,
            "vectors_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
            "profiles": [p.model_dump() for p in self.profiles],
        }
        write_atomically(directory / PROFILES_JSON, json.dumps(body, ensure_ascii=False).encode("utf-8"))

    @classmethod
    def load(cls, directory: Path) -> ProfileStore | None:
        """The stored profiles, or None when missing, from another version, or torn."""
        try:
            body = json.loads((directory / PROFILES_JSON).read_text(encoding="utf-8"))
            raw = (directory / PROFILES_VECTORS).read_bytes()
        except (OSError, ValueError):
            return None
        if body.get("version") != PROFILE_VERSION or hashlib.sha256(raw).hexdigest() != body.get("vectors_sha256"):
            return None
        import io

        with np.load(io.BytesIO(raw)) as arrays:
            questions, points, offsets = arrays["questions"], arrays["points"], arrays["offsets"]
        profiles = [QuestionProfile.model_validate(p) for p in body["profiles"]]
        return cls(profiles, questions, points, [int(o) for o in offsets], body["fingerprint"])


def fingerprint(index: Index) -> str:
    """What the profiles were built from: every indexed document's content hash, this code's version and
    the fitted tested-axes model."""
    manifest = index.manifest()
    model = tested_axes_model()
    from interviewer.glossary import glossary_digest
    from interviewer.index import INDEX_SCHEMA

    # Profiles of questions without a model answer hold search results, so the retrieval that found
    # them is part of what they were built from.
    s = index.settings
    flags = (s.glossary_queries, s.glossary_dense, s.glossary_passages)
    retrieval = json.dumps(
        [INDEX_SCHEMA, s.fusion_k, sorted(s.fusion_weights.items()), glossary_digest(), *flags], default=str
    )
    parts = [f"v{PROFILE_VERSION}", model.model_dump_json() if model else "unfitted", retrieval]
    parts += [f"{src}={meta.get('sha256', '')}" for src, meta in sorted(manifest.items())]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def build_store(index: Index) -> ProfileStore:
    from interviewer.corpus import question_bank
    from interviewer.embeddings import DIMENSIONS

    questions, _ = question_bank(index.settings)
    profiles: list[QuestionProfile] = []
    qvecs: list[np.ndarray] = []
    pvecs: list[np.ndarray] = []
    offsets = [0]
    seen: set[str] = set()
    for q in questions:
        key = normalize_for_match(q.text)
        if key in seen and not q.answer_chunk_ids:
            continue  # the same question asked again in another document adds nothing
        seen.add(key)
        profile, qv, pv = build_profile(q.text, q, index)
        profiles.append(profile)
        qvecs.append(qv)
        pvecs.append(pv)
        offsets.append(offsets[-1] + len(pv))
    points = np.vstack([p for p in pvecs if len(p)]) if any(len(p) for p in pvecs) else np.zeros((0, DIMENSIONS))
    return ProfileStore(
        profiles,
        np.vstack(qvecs).astype(np.float32) if qvecs else np.zeros((0, DIMENSIONS), np.float32),
        points.astype(np.float32),
        offsets,
        fingerprint(index),
    )


_lock = threading.Lock()
_stores: dict[tuple[int, str], ProfileStore] = {}


def profiles_for(index: Index, rebuild: bool = False) -> ProfileStore:
    """The index's profile store: loaded from disk when current, else built (and saved) now."""
    current = fingerprint(index)
    key = (id(index), current)
    with _lock:
        if not rebuild and key in _stores:
            return _stores[key]
        directory = index.settings.index_dir
        store = None if rebuild else ProfileStore.load(directory)
        if store is None or store.fingerprint != current:
            store = build_store(index)
            store.save(directory)
        _stores.clear()
        _stores[key] = store
        return store


def retest(store: ProfileStore, model: TestedAxesModel | None) -> None:
    """Recompute every profile's tested axes with `model` (fitting does this after refitting it)."""
    for profile in store.profiles:
        profile.tested_axes, profile.axis_evidence = choose_tested_axes(profile.axis_features, model)


def clear_cache() -> None:
    with _lock:
        _stores.clear()


# --- a question's profile, bank or free --------------------------------------------------------------


@dataclass(frozen=True)
class Profiled:
    """A profile with its vectors and its place in the store (None for a free question)."""

    profile: QuestionProfile
    question_vector: np.ndarray
    point_vectors: np.ndarray
    position: int | None


def profile_question(question: str, index: Index, store: ProfileStore | None = None) -> Profiled:
    """The bank question's stored profile, or one inferred for a free question: borrowed from a bank
    question that asks nearly the same thing, else built from retrieval."""
    from interviewer.grading.reference import encode

    store = store or profiles_for(index)
    found = store.find(question)
    if found is not None:
        return Profiled(store.profiles[found], store.question_vectors[found], store.points_of(found), found)
    vector = encode([question])[0]
    if len(store.profiles):
        sims = store.question_vectors @ vector
        best = int(sims.argmax())
        if float(sims[best]) >= NEAREST_QUESTION:
            borrowed = store.profiles[best].model_copy(
                update={"text": question, "question_id": None, "inferred": True, "found_by": "nearest_question"}
            )
            return Profiled(borrowed, vector, store.points_of(best), best)
    profile, qv, pv = build_profile(question, None, index)
    return Profiled(profile, qv, pv, None)
