"""Evidence, sentence by sentence: what each sentence of an answer shows, for this question.

The answer is untrusted. Text addressed to the grader is cut out first (guards.py), the rest is cut
into sentences by pysbd, and every sentence is embedded in one batched call. Each sentence is then
judged by fitted classifiers (features.py): is it evidence on *this* question at all (relevance:
closeness to the question and its key points, beyond closeness to every other question in the bank,
plus what the sentence itself says), which rubric axes it evidences, which STAR element it is, which
red flag it shows, which key point of the model answer it covers. A sentence that is not relevant is
evidence of nothing, however long, numeric or first-person it is. A sentence said twice counts once;
a bare list of rubric terms inside a real answer is not measured.

Axis scores and the decision are computed from this structure (axes.py, decision.py), and the LLM
engine fills in the same structure from a model's judgement.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from interviewer.glossary import content_stems, stems
from interviewer.grading import guards
from interviewer.grading.features import (
    PAIR_FEATURES,
    PERMANENT,
    SPECIFIC,
    SentenceModels,
    Topic,
    axis_term_matrix,
    pair_features,
    star_cue_matrix,
    surface_matrix,
)
from interviewer.grading.grade import FlagName
from interviewer.grading.rubric import all_terms_matcher, red_flag_matcher, rubric
from interviewer.grading.segments import Span, sentence_spans, words
from interviewer.profiles import Profiled, ProfileStore

AXES = ("scale", "reliability", "cost", "ownership", "evolution")
STAR_ELEMENTS = ("situation", "task", "action", "result", "permanent_change")
# A key point counts as covered when some relevant sentence says something close to it. MiniLM puts
# paraphrases of one idea around 0.5-0.8 and unrelated sentences of the same domain below 0.4.
COVER_THRESHOLD = 0.5
RELEVANT = 0.5  # relevance probability at which a sentence counts as evidence on the question
TWIN_QUESTION = 0.8  # bank questions this close to the one asked are the same question, not "another"
# Recited: this share of the answer's word 5-grams appear verbatim in the corpus.
VERBATIM_SHARE = 0.3
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def visible(text: str) -> str:
    """The text as measured: hidden characters dropped, lone surrogates (not text at all, and fatal to
    the tokenizer) shown as the replacement character."""
    return _LONE_SURROGATE.sub("\ufffd", guards.HIDDEN_CHARS.sub("", text))


@dataclass
class SentenceEvidence:
    span: Span  # verbatim in the answer
    relevance: float  # probability that the sentence is evidence on this question (substance × on topic)
    axes: dict[str, float]  # per axis: probability, given it is relevant, that it evidences the axis
    star: dict[str, float]  # per STAR element: probability that the sentence is it
    specific: bool  # a number, an amount or a time span
    outcome: bool  # a measured result (an outcome word and a number)
    permanent: bool  # says what changed for good
    key_point: int | None = None  # the profile key point it covers best, when covered
    red_flag: str | None = None
    substance: float = 0.0  # says something rather than filler
    on_topic: float = 0.0  # about this question rather than another
    # How closely it bears on this question's own text and key points, 0..1 (classify). It weights axis
    # evidence only: a story's scene-setting ("I had this with the GM of our grocery business") is
    # rightly far from the question and still its situation, but evidence on an axis has to be about
    # what was asked.
    support: float = 1.0

    @property
    def relevant(self) -> bool:
        # A sentence of one or two words ("idk", "She agreed.") says too little to be evidence on its own,
        # whatever the classifiers make of its vector.
        return self.relevance >= RELEVANT and len(words(self.span.text)) >= guards.MIN_FRAGMENT_WORDS

    @property
    def text(self) -> str:
        return self.span.text

    def on(self, axis: str) -> float:
        """How strongly this sentence evidences `axis` for this question (relevance × support × axis
        probability)."""
        return self.relevance * self.support * self.axes.get(axis, 0.0)


@dataclass
class KeyPointMatch:
    index: int  # into the profile's key points
    similarity: float  # best cosine to a relevant sentence
    sentence: int | None  # that sentence, when covered


@dataclass
class AnswerEvidence:
    answer: str
    sentences: list[SentenceEvidence]  # the measured sentences, in answer order
    vectors: np.ndarray  # one row per measured sentence
    injection: guards.Injection
    form: guards.Form
    key_points: list[KeyPointMatch]
    red_flags: dict[str, list[int]]  # flag id -> sentences that show it
    flags: list[FlagName]  # the guards' findings (injection, too short, not English, ...)
    left_out: list[Span] = field(default_factory=list)  # repeats and bare term lists, not measured
    verbatim_share: float = 0.0

    @property
    def relevant(self) -> list[int]:
        return [i for i, s in enumerate(self.sentences) if s.relevant]

    @cached_property
    def in_story(self) -> list[int]:
        """The sentences a STAR element may come from: the relevant ones, and a substantive one told beside
        them. A story's own role line ("I owned the platform roadmap.") is far from the question by
        itself and is still the story's Task; filler beside it is not substantive (the substance
        classifier learns padding as its negatives), and an answer with nothing relevant has no story."""
        relevant = set(self.relevant)

        def beside_the_story(i: int, s: SentenceEvidence) -> bool:
            substantive = s.substance >= RELEVANT and len(words(s.span.text)) >= guards.MIN_FRAGMENT_WORDS
            return substantive and bool({i - 1, i + 1} & relevant)

        return [i for i, s in enumerate(self.sentences) if i in relevant or beside_the_story(i, s)]

    def star_sentences(self, element: str, threshold: float) -> list[int]:
        """The story's sentences that are `element` at `threshold`: the one rule the grade and the fit of
        the STAR thresholds both use."""
        return [i for i in self.in_story if self.sentences[i].star.get(element, 0.0) >= threshold]


# --- the sentences that are measured -----------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    sentences: list[Span]
    left_out: list[Span]


def measured_sentences(injection: guards.Injection) -> Measured:
    """The answer's sentences outside any injection, less word-for-word repeats and bare term lists.

    Both add words and terms but no evidence. A term list is only left out when the answer has other
    sentences: an answer that is nothing but lists is measured whole and flagged by the keyword guard.
    """
    sentences = [
        Span(span.start + s.start, span.start + s.end, s.text)
        for span in injection.kept
        for s in sentence_spans(span.text)
    ]
    seen: set[str] = set()
    unique: list[Span] = []
    left_out: list[Span] = []
    for sentence in sentences:
        key = " ".join(w.lower() for w in words(visible(sentence.text)))
        (left_out if key in seen else unique).append(sentence)
        seen.add(key)
    listed = [
        guards.is_term_list(
            guards.measure_form(visible(s.text), sentences=1), len(all_terms_matcher().distinct(visible(s.text)))
        )
        for s in unique
    ]
    if all(listed):
        return Measured(unique, left_out)
    kept = [s for s, is_list in zip(unique, listed, strict=True) if not is_list]
    return Measured(kept, left_out + [s for s, is_list in zip(unique, listed, strict=True) if is_list])


@lru_cache(maxsize=1024)
def measure_answer(answer: str) -> tuple[guards.Injection, Measured]:
    """The answer's injection findings and measured sentences, worked out once per answer text: a
    batch asks for them when it embeds ahead and again when it grades, and both steps are costly."""
    injection = guards.find_injection(answer)
    return injection, measured_sentences(injection)


def embedded_texts(answer: str) -> list[str]:
    """Exactly the texts `judge` embeds for an answer (so a batch can embed them all at once)."""
    return [visible(s.text) for s in measure_answer(answer)[1].sentences]


# --- the topic a sentence is compared against ---------------------------------------------------------

_topics: dict[tuple[int, str], Topic] = {}
_lock = threading.Lock()


def topic_for(profiled: Profiled, store: ProfileStore) -> Topic:
    """This question, and every other bank question (twins of this one left out), as vectors."""
    key = (id(store), profiled.profile.text)
    with _lock:
        if key in _topics:
            return _topics[key]
    from interviewer.grading.reference import encode

    q = profiled.question_vector
    same = store.question_vectors @ q >= TWIN_QUESTION if len(store.profiles) else np.zeros(0, bool)
    if profiled.position is not None:
        same[profiled.position] = True
    others = [j for j in range(len(store.profiles)) if not same[j]]
    points = [store.points_of(j) for j in others]
    offsets = np.cumsum([0] + [len(p) for p in points])
    probing = profiled.profile.probing
    topic = Topic(
        question=q,
        points=profiled.point_vectors,
        probing=encode([probing])[0] if probing else None,
        other_questions=store.question_vectors[others] if others else np.zeros((0, len(q)), np.float32),
        other_points=np.vstack([p for p in points if len(p)]) if any(len(p) for p in points) else np.zeros((0, len(q))),
        other_offsets=offsets,
    )
    with _lock:
        if len(_topics) > 1024:
            _topics.clear()
        _topics[key] = topic
    return topic


def sentence_matrix(
    texts: list[str], vectors: np.ndarray, topic: Topic
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, float]]]:
    """(pair features, surface features, axis-term features, surface dicts) for sentences of one answer,
    the same rows fitting.py trains on."""
    surf, surfaces = surface_matrix(texts)
    term_rows = axis_term_matrix(texts)
    return pair_features(vectors, topic), surf, term_rows, surfaces


def substance_rows(vectors: np.ndarray, surf: np.ndarray) -> np.ndarray:
    return np.hstack([surf, vectors])


def topic_rows(pair: np.ndarray, substantive: np.ndarray) -> np.ndarray:
    """Each sentence's own closeness to the question beside the answer's: the mean and the best three of
    the substantive sentences' pair features. One sentence says little about which question it answers
    (MiniLM puts most domain sentences near many questions); an answer as a whole says much more."""
    n = len(pair)
    if n == 0:
        return np.zeros((0, 3 * pair.shape[1]), dtype=np.float32)
    rows = pair[substantive] if substantive.any() else pair
    mean = rows.mean(axis=0)
    top = np.sort(rows, axis=0)[-min(3, len(rows)) :].mean(axis=0)
    return np.hstack([pair, np.tile(mean, (n, 1)), np.tile(top, (n, 1))]).astype(np.float32)


def axis_rows(vectors: np.ndarray, surf: np.ndarray, terms: np.ndarray) -> np.ndarray:
    return np.hstack([terms, surf, vectors])


def star_rows(vectors: np.ndarray, surf: np.ndarray, cues: np.ndarray) -> np.ndarray:
    return np.hstack([cues, surf, vectors])


# --- the whole answer ---------------------------------------------------------------------------------


@dataclass
class Prepared:
    """An answer cut into measured sentences, embedded and featurised for one question: everything
    the sentence classifiers read (fitting.py builds the same thing for every dev-set answer)."""

    answer: str
    injection: guards.Injection
    measured: Measured
    texts: list[str]
    vectors: np.ndarray
    topic: Topic
    pair_x: np.ndarray
    substance_x: np.ndarray
    axis_x: np.ndarray
    star_x: np.ndarray
    surfaces: list[dict[str, float]]


def prepare(answer: str, profiled: Profiled, store: ProfileStore) -> Prepared:
    from interviewer.grading.reference import encode

    injection, measured = measure_answer(answer)
    texts = [visible(s.text) for s in measured.sentences]
    vectors = encode(texts)  # the one embedding call per answer (free when prefetched)
    topic = topic_for(profiled, store)
    return featurise(answer, injection, measured, texts, vectors, topic)


def featurise(
    answer: str, injection: guards.Injection, measured: Measured, texts: list[str], vectors: np.ndarray, topic: Topic
) -> Prepared:
    pair, surf, terms, surfaces = sentence_matrix(texts, vectors, topic)
    cue_rows = star_cue_matrix(texts)
    return Prepared(
        answer=answer,
        injection=injection,
        measured=measured,
        texts=texts,
        vectors=vectors,
        topic=topic,
        pair_x=pair,
        substance_x=substance_rows(vectors, surf),
        axis_x=axis_rows(vectors, surf, terms),
        star_x=star_rows(vectors, surf, cue_rows),
        surfaces=surfaces,
    )


@dataclass
class Judged:
    """The classifiers' outputs for a prepared answer's sentences."""

    substance: np.ndarray  # (sentences,): says something, rather than filler
    on_topic: np.ndarray  # (sentences,): about this question rather than another one
    relevance: np.ndarray  # (sentences,): substance × on-topic (ramped): evidence on this question
    support: np.ndarray  # (sentences,): 0..1, how closely it bears on this question (weights axis evidence)
    axes: dict[str, np.ndarray]  # axis -> (sentences,)
    star: dict[str, np.ndarray]  # STAR element -> (sentences,)


_SUPPORT_COLUMNS = [PAIR_FEATURES.index("sim_question"), PAIR_FEATURES.index("sim_point_max")]


def support_of(pair_x: np.ndarray) -> np.ndarray:
    """Each sentence's closeness to this question: the larger of its cosine to the question text and to
    the nearest key point."""
    return pair_x[:, _SUPPORT_COLUMNS].max(axis=1) if len(pair_x) else np.zeros(0)


def question_support(pair_x: np.ndarray, models: SentenceModels) -> np.ndarray:
    """0..1 per sentence: how far its question support is between the models' low and high marks."""
    low, high = models.support_low, models.support_high
    if high <= low:
        return np.ones(len(pair_x))
    return np.clip((support_of(pair_x) - low) / (high - low), 0.0, 1.0)


def classify(prepared: Prepared, models: SentenceModels) -> Judged:
    n = len(prepared.texts)
    if n == 0:
        empty = np.zeros(0)
        return Judged(empty, empty, empty, empty, {a: empty for a in AXES}, {e: empty for e in STAR_ELEMENTS})
    substance = models.substance.probabilities(prepared.substance_x)[:, 1]
    on_topic = models.topic.probabilities(topic_rows(prepared.pair_x, substance >= RELEVANT))[:, 1]
    return Judged(
        substance=substance,
        on_topic=on_topic,
        relevance=substance * np.minimum(1.0, on_topic / models.topic_floor),
        support=question_support(prepared.pair_x, models),
        axes={a: models.axes[a].probabilities(prepared.axis_x)[:, 1] for a in AXES},
        star={e: models.star[e].probabilities(prepared.star_x)[:, 1] for e in STAR_ELEMENTS},
    )


def judge(
    answer: str,
    profiled: Profiled,
    store: ProfileStore,
    corpus_shingles: frozenset[tuple[str, ...]] = frozenset(),
    models: SentenceModels | None = None,
) -> AnswerEvidence:
    prepared = prepare(answer, profiled, store)
    from interviewer.grading.calibration import load_sentence_models

    models = models or load_sentence_models()
    return assemble(prepared, classify(prepared, models), profiled, corpus_shingles)


def assemble(
    prepared: Prepared,
    judged: Judged,
    profiled: Profiled,
    corpus_shingles: frozenset[tuple[str, ...]] = frozenset(),
) -> AnswerEvidence:
    from interviewer.grading.reference import shingles

    measured, injection, texts, vectors = prepared.measured, prepared.injection, prepared.texts, prepared.vectors
    sentences = [
        SentenceEvidence(
            span=span,
            relevance=float(judged.relevance[i]),
            axes={a: float(judged.axes[a][i]) for a in AXES},
            star={e: float(judged.star[e][i]) for e in STAR_ELEMENTS},
            specific=bool(prepared.surfaces[i]["specific"]),
            outcome=bool(prepared.surfaces[i]["specific_outcome"]),
            permanent=bool(prepared.surfaces[i]["permanent"]),
            substance=float(judged.substance[i]),
            on_topic=float(judged.on_topic[i]),
            support=float(judged.support[i]),
        )
        for i, span in enumerate(measured.sentences)
    ]
    # Length and form of what is measured, not of the padding.
    text = "\n".join(texts) if measured.left_out else visible("\n".join(span.text for span in injection.kept))
    form = guards.measure_form(text, guards.known_word_share(text))

    relevant = [i for i, s in enumerate(sentences) if s.relevant]
    key_points: list[KeyPointMatch] = []
    points = profiled.point_vectors
    if len(points):
        sims = points @ vectors.T if len(vectors) else np.zeros((len(points), 0))
        question_stems = content_stems(profiled.profile.text)
        for k in range(len(points)):
            point = profiled.profile.key_points[k].text if k < len(profiled.profile.key_points) else ""
            saying = [i for i in relevant if not _denies(point, question_stems, texts[i])]
            row = sims[k, saying] if saying else np.zeros(0)
            best = int(np.argmax(row)) if len(row) else -1
            similarity = float(row[best]) if best >= 0 else 0.0
            covered = saying[best] if best >= 0 and similarity >= COVER_THRESHOLD else None
            if covered is None and point:
                covered = _says_in_words(point, question_stems, texts, saying)
            key_points.append(KeyPointMatch(k, similarity, covered))
            if covered is not None and sentences[covered].key_point is None:
                sentences[covered].key_point = k

    red_flags = _red_flags(sentences, relevant)
    for flag, found in red_flags.items():
        for i in found:
            sentences[i].red_flag = sentences[i].red_flag or flag

    answer_shingles = shingles(text)
    verbatim = len(answer_shingles & corpus_shingles) / len(answer_shingles) if answer_shingles else 0.0
    flags = _guard_flags(injection, form, text, verbatim, measured)
    return AnswerEvidence(
        answer=prepared.answer,
        sentences=sentences,
        vectors=vectors,
        injection=injection,
        form=form,
        key_points=key_points,
        red_flags=red_flags,
        flags=flags,
        left_out=measured.left_out,
        verbatim_share=verbatim,
    )


def _says_in_words(point: str, question_stems: frozenset[str], texts: list[str], relevant: list[int]) -> int | None:
    """The first relevant sentence that holds every content word of the point (by stem), when the point
    says something beyond the question's own words. A long sentence sits far from a two-word point by
    cosine ("showback per domain with a budget each domain lead owns" from "Domain budgets"), and
    listing the point as missed beside the sentence that says it is feedback that contradicts itself."""
    wanted = content_stems(point)
    if not wanted or wanted <= question_stems:
        return None
    return next((i for i in relevant if wanted <= content_stems(texts[i])), None)


# Verbal negation: "did not", "never", "wasn't". Not "no" or "without", which as often state an
# achievement ("no silent drops since", "migrated without downtime") as deny one.
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_NEGATORS = frozenset({"not", "never", "nor"})
_NOT_A_DENIAL = frozenset({"only", "just", "merely", "simply"})  # "not only X but Y" says X
NEGATION_REACH = 3  # words after a negator that it denies


def _denies(point: str, question_stems: frozenset[str], text: str) -> bool:
    """Whether the sentence says the point was not done: every content word it shares with the point
    sits within NEGATION_REACH words after a negator ("We did not quarantine bad events" against
    "Isolate (quarantine/cutover)"). Cosine puts such a sentence right beside the point it denies. A
    sentence that also says some of the point outside the negation ("production never runs on
    interactive clusters" against "production runs on job clusters") states the point in the negative,
    and a point that is itself a negation ("never lose data") is left to cosine."""
    denied = _negated_stems(text)
    if not denied or _negated_stems(point):
        return False
    shared = content_stems(text) & (content_stems(point) - question_stems)
    return bool(shared) and shared <= denied


@lru_cache(maxsize=65536)
def _negated_stems(text: str) -> frozenset[str]:
    """The stems of the words a negator in the text reaches (remembered per text: a grade asks this
    of each sentence once per key point)."""
    tokens = _TOKEN.findall(text.lower().replace("\u2019", "'"))
    found: set[str] = set()
    for i, token in enumerate(tokens):
        if _negator(token) and i + 1 < len(tokens) and tokens[i + 1] not in _NOT_A_DENIAL:
            found |= set(stems(" ".join(tokens[i + 1 : i + 1 + NEGATION_REACH])))
    return frozenset(found)


def _negator(token: str) -> bool:
    return token in _NEGATORS or token.endswith("n't")


def _red_flags(sentences: list[SentenceEvidence], relevant: list[int]) -> dict[str, list[int]]:
    """Red flags shown by relevant sentences, with the two that are defined by an absence as well:
    tool-first is "tool and vendor names dominate and no outcome metric is given"; a hero narrative is one
    that "ends with no systemic fix or permanent change" (rubric.yaml)."""
    found: dict[str, list[int]] = {}
    cues: dict[str, set[str]] = {}
    for flag in rubric().red_flags:
        for i in relevant:
            hits = red_flag_matcher(flag.id).find(visible(sentences[i].text))
            if hits:
                found.setdefault(flag.id, []).append(i)
                cues.setdefault(flag.id, set()).update(term for term, _, _ in hits)
    has_outcome = any(sentences[i].outcome for i in relevant)
    if "tool_first" in found and (len(cues["tool_first"]) < 2 or has_outcome):
        del found["tool_first"]
    if "hero_narrative" in found and any(sentences[i].permanent for i in relevant):
        del found["hero_narrative"]
    return found


def _guard_flags(
    injection: guards.Injection,
    form: guards.Form,
    text: str,
    verbatim: float,
    measured: Measured,
) -> list[FlagName]:
    flags: list[FlagName] = []
    if injection.found:
        flags.append("possible_injection")
    distinct_terms = len(all_terms_matcher().distinct(text))
    if form.too_short:
        flags.append("too_short")  # too short to judge, in any language
    elif form.non_english:
        flags.append("non_english")
    elif guards.is_keyword_list(form, distinct_terms):
        flags.append("keyword_list")
    # No answer-wide "off topic" cap: on the dev set's train split the answer-wide on-topic judgement
    # flagged 11 of 262 normal answers (two Strong Hire among them) and 2 of 7 answers to another
    # question. MiniLM cannot tell an answer to "Handling push-back/resistance" from an answer to
    # some other question, so the cap did more harm than good (train QWK 0.629 with it, 0.648
    # without). Off-topic sentences still count for little: relevance is substance × on-topic.
    elif verbatim >= VERBATIM_SHARE:
        flags.append("verbatim_copy")
    if (
        any(
            guards.is_term_list(
                guards.measure_form(visible(s.text), sentences=1), len(all_terms_matcher().distinct(visible(s.text)))
            )
            for s in measured.left_out
        )
        and "keyword_list" not in flags
    ):
        flags.append("keyword_list")  # whatever else is wrong, a pasted list of terms is said so
    return flags


__all__ = [
    "AXES",
    "PERMANENT",
    "SPECIFIC",
    "STAR_ELEMENTS",
    "AnswerEvidence",
    "KeyPointMatch",
    "SentenceEvidence",
    "embedded_texts",
    "judge",
    "measure_answer",
    "measured_sentences",
    "topic_for",
]
