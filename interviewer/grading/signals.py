"""Measured signals: everything the offline grader knows about an answer, all deterministic.

`measure()` takes the answer, the question's reference and the corpus background, and returns a
`Measurement`: the kept sentences (spans of the original answer, injection text already cut out),
their embeddings (one batched encode call), and every signal the decision rule and the feedback
use: coverage of the model answer's key points, relevance and topicality, per-axis evidence,
specificity, outcomes, STAR elements, ownership language, red flags, and the guards' measurements.
Nothing here is fitted; rule.py turns these numbers into scores with fitted weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from interviewer.grading import guards
from interviewer.grading.grade import FlagName
from interviewer.grading.reference import Background, Reference, axis_anchor_vectors, encode, shingles
from interviewer.grading.rubric import (
    all_terms_matcher,
    axis_matcher,
    red_flag_matcher,
    rubric,
    star_matcher,
)
from interviewer.grading.segments import Span, sentence_spans, words

# A key point counts as covered when some answer sentence says something close to it. MiniLM puts
# paraphrases of one idea around 0.5-0.8 and unrelated sentences of the same domain below 0.4.
COVER_THRESHOLD = 0.5
# A sentence that tells what happened: a past-tense verb (irregular ones listed; regular ones end in -ed).
NARRATIVE = re.compile(
    r"\b(?:was|were|had|did|didn't|wasn't|weren't|went|got|made|took|gave|said|told|saw|came|ran|built|wrote|"
    r"led|found|felt|thought|knew|became|began|brought|kept|left|lost|met|paid|put|sent|set|spent|stood|won|"
    r"chose|caught|drove|fell|forgot|grew|heard|held|hit|hurt|let|meant|quit|rose|sold|shut|split|taught|"
    r"understood|[a-z]{2,}ed)\b",
    re.IGNORECASE,
)
# An answer sentence is evidence on an axis when it uses the axis's terms, or reads like the axis's
# question and upper level anchors this closely.
AXIS_ANCHOR_THRESHOLD = 0.45
# Off topic: no two sentences stand out as closer to this question and its model answer than to
# the rest of the corpus's questions and key points (sum of two top-2 mean z-scores).
OFF_TOPIC_TOPICALITY = 2.3
# Recited: this share of the answer's word 5-grams appear verbatim in the corpus.
VERBATIM_SHARE = 0.3

_NUMBER = r"(?<![\w.])\d+(?:[.,:]\d+)*(?:\s?(?:%|percent\b|k\b|m\b|bn\b|x\b|×))?"
_MONEY = r"[$£€]\s?\d[\d,.]*\s?(?:k|m|bn|million|billion)?"
_SPAN_WORDS = (
    "a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|sixty|ninety"
    "|few|several|couple of"
)
_TIME_SPAN = rf"\b(?:\d+|{_SPAN_WORDS})[\s-]+(?:minutes?|hours?|days?|weeks?|months?|quarters?|years?|sprints?)\b"
SPECIFIC = re.compile(f"{_MONEY}|{_NUMBER}|{_TIME_SPAN}", re.IGNORECASE)
OUTCOME = re.compile(
    r"\b(?:reduc|cut|drop|fell|lower|decreas|increas|improv|grew|grow|sav|eliminat|halv|doubl|shrank|shrunk|"
    r"went from|down from|up from|down to|up to|from \S+ to|recover|avoid|zero|stopp|no longer|fewer|faster)\w*",
    re.IGNORECASE,
)
PERMANENT = re.compile(
    r"\b(?:permanent\w*|we now|now we|now every|now all|is now|are now|became (?:the|our|a) \w+|"
    r"since then|from then on|going forward|ever since|standard for|part of our)\b",
    re.IGNORECASE,
)
DECISION_RIGHTS = re.compile(
    r"\b(?:i (?:decided|owned|chose|made the call|set|negotiated|proposed|drove|led|escalated|agreed|"
    r"committed|asked|ran|named|put|built|introduced|designed|pushed|brought|changed|moved|wrote)|"
    r"my (?:call|decision|team|org|role)|decision rights|i was (?:the |responsible|accountable))\b",
    re.IGNORECASE,
)
HYPOTHETICAL = re.compile(r"\b(?:i'd|i would|we'd|we would|i'll|i will|would|could|should)\b", re.IGNORECASE)
HEDGE = re.compile(
    r"\b(?:basically|honestly|i think|i guess|maybe|kind of|sort of|pretty much|usually|generally|try to|"
    r"hopefully|probably|a lot|stuff|things like|at the end of the day)\b",
    re.IGNORECASE,
)
_I = re.compile(r"\b(?:i|i'd|i've|i'm|i'll|me|my)\b", re.IGNORECASE)
_WE = re.compile(r"\b(?:we|we'd|we've|we're|we'll|us|our)\b", re.IGNORECASE)


@dataclass
class AxisEvidence:
    axis: str
    sentences: list[int]  # indexes into Measurement.sentences
    terms: list[str]
    specific: bool
    outcome: bool
    permanent: bool
    anchor_similarity: float


@dataclass
class KeyPointMatch:
    index: int  # into Reference.key_points
    similarity: float
    sentence: int | None  # best sentence, when covered


@dataclass
class Measurement:
    answer: str
    kept: list[Span]
    sentences: list[Span]
    vectors: np.ndarray
    form: guards.Form
    injection: guards.Injection
    axes: dict[str, AxisEvidence]
    star: dict[str, list[int]]  # element id -> sentences with its cues
    red_flags: dict[str, list[tuple[int, str]]]  # flag id -> (sentence, cue)
    key_points: list[KeyPointMatch]
    flags: list[FlagName]
    signals: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(span.text for span in self.kept)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _visible(text: str) -> str:
    """The text as measured: hidden characters dropped, lone surrogates (not text at all, and fatal
    to the tokenizer) shown as the replacement character."""
    return _LONE_SURROGATE.sub("\ufffd", guards.HIDDEN_CHARS.sub("", text))


def _z_top2(own: np.ndarray, others: np.ndarray) -> float:
    """Mean of the two highest per-sentence z-scores of `own` against the `others` columns."""
    if own.size == 0 or others.shape[1] < 2:
        return 0.0
    z = (own - others.mean(axis=1)) / (others.std(axis=1) + 1e-6)
    return float(np.sort(z)[-2:].mean())


@dataclass(frozen=True)
class Measured:
    """The sentences that are measured, and what was left out of them and why."""

    sentences: list[Span]
    term_lists: list[Span]  # bare lists of rubric terms inside a real answer
    repeats: list[Span]  # sentences said before, word for word


def measured_sentences(injection: guards.Injection) -> Measured:
    """The answer's sentences outside any injection, less term lists and word-for-word repeats.

    Both add words and terms but no evidence, and length and terms are what padding games. A term
    list is only left out when the answer has other sentences: an answer that is nothing but lists
    is measured whole and flagged by the keyword-list guard.
    """
    sentences = [
        Span(span.start + s.start, span.start + s.end, s.text)
        for span in injection.kept
        for s in sentence_spans(span.text)
    ]
    seen: set[str] = set()
    unique: list[Span] = []
    repeats: list[Span] = []
    for sentence in sentences:
        key = " ".join(w.lower() for w in words(_visible(sentence.text)))
        (repeats if key in seen else unique).append(sentence)
        seen.add(key)
    listed = [
        guards.is_term_list(guards.measure_form(_visible(s.text)), len(all_terms_matcher().distinct(_visible(s.text))))
        for s in unique
    ]
    if all(listed):
        return Measured(unique, [], repeats)
    return Measured(
        [s for s, is_list in zip(unique, listed, strict=True) if not is_list],
        [s for s, is_list in zip(unique, listed, strict=True) if is_list],
        repeats,
    )


def embedded_texts(answer: str) -> list[str]:
    """Exactly the texts `measure` embeds for an answer (so a batch can embed them all at once)."""
    return [_visible(s.text) for s in measured_sentences(guards.find_injection(answer)).sentences]


def measure(answer: str, reference: Reference, background: Background) -> Measurement:
    injection = guards.find_injection(answer)
    measured = measured_sentences(injection)
    sentences = measured.sentences
    visible = [_visible(s.text) for s in sentences]
    vectors = encode(visible)  # the one embedding call per answer (free when prefetched)
    if measured.term_lists or measured.repeats:
        text = "\n".join(visible)  # length and form of what is measured, not of the padding
    else:
        text = _visible("\n".join(span.text for span in injection.kept))
    form = guards.measure_form(text, guards.known_word_share(text))
    r = rubric()

    # Key points of the model answer, and which sentence covers each.
    key_points: list[KeyPointMatch] = []
    if len(reference.key_points) and len(sentences):
        sims = reference.key_point_vectors @ vectors.T
        for i, row in enumerate(sims):
            best = int(row.argmax())
            hit = float(row[best]) >= COVER_THRESHOLD
            key_points.append(KeyPointMatch(i, float(row[best]), best if hit else None))
    elif len(reference.key_points):
        key_points = [KeyPointMatch(i, 0.0, None) for i in range(len(reference.key_points))]

    # Per-sentence facts used by several signals.
    specific = [bool(SPECIFIC.search(t)) for t in visible]
    outcome = [bool(OUTCOME.search(t)) for t in visible]
    permanent = [bool(PERMANENT.search(t)) for t in visible]
    anchors = axis_anchor_vectors()

    axes: dict[str, AxisEvidence] = {}
    for axis in r.axes:
        matcher = axis_matcher(axis.id)
        anchor_sims = (vectors @ anchors[axis.id].T).max(axis=1) if len(sentences) else np.zeros(0)
        chosen: list[int] = []
        terms: set[str] = set()
        for i, t in enumerate(visible):
            found = matcher.distinct(t)
            terms |= found
            if found or anchor_sims[i] >= AXIS_ANCHOR_THRESHOLD:
                chosen.append(i)
        axes[axis.id] = AxisEvidence(
            axis=axis.id,
            sentences=chosen,
            terms=sorted(terms),
            specific=any(specific[i] for i in chosen),
            outcome=any(outcome[i] and specific[i] for i in chosen),
            permanent=any(permanent[i] for i in chosen),
            anchor_similarity=float(anchor_sims.max()) if len(anchor_sims) else 0.0,
        )

    star = {e.id: [i for i, t in enumerate(visible) if star_matcher(e.id).find(t)] for e in r.star}
    if not star.get("permanent_change"):
        star["permanent_change"] = [i for i, p in enumerate(permanent) if p]
    red_flags: dict[str, list[tuple[int, str]]] = {}
    for flag in r.red_flags:
        hits = [(i, term) for i, t in enumerate(visible) for term, _, _ in red_flag_matcher(flag.id).find(t)]
        if hits:
            red_flags[flag.id] = hits
    # Two flags are defined by what is absent as much as by their cues (rubric.yaml descriptions):
    # tool-first is "tool and vendor names dominate and no outcome metric is given"; a hero narrative
    # is one that "ends with no systemic fix or permanent change".
    has_outcome = any(s and o for s, o in zip(specific, outcome, strict=True))
    if "tool_first" in red_flags and (len({c for _, c in red_flags["tool_first"]}) < 2 or has_outcome):
        del red_flags["tool_first"]
    if "hero_narrative" in red_flags and star["permanent_change"]:
        del red_flags["hero_narrative"]

    # Relevance: the answer as a whole against the question and the model answer, and topicality:
    # whether it stands out as about THIS question rather than the corpus in general.
    if len(sentences):
        mean = vectors.mean(axis=0)
        mean = mean / (np.linalg.norm(mean) + 1e-9)
        relevance_question = float(mean @ reference.question_vector)
        relevance_model = float(mean @ reference.model_vector)
        own_q = vectors @ reference.question_vector
        topic_q = _z_top2(own_q, vectors @ background.question_vectors.T)
        if len(reference.key_points) and len(background.point_vectors):
            own_p = (vectors @ reference.key_point_vectors.T).max(axis=1)
            topic_p = _z_top2(own_p, vectors @ background.point_vectors.T)
        else:
            topic_p = topic_q
    else:
        relevance_question = relevance_model = topic_q = topic_p = 0.0
    topicality = topic_q + topic_p

    answer_shingles = shingles(text)
    verbatim_share = len(answer_shingles & background.shingles) / len(answer_shingles) if answer_shingles else 0.0

    distinct_terms = all_terms_matcher().distinct(text)
    i_count, we_count = len(_I.findall(text)), len(_WE.findall(text))
    n_sent = max(1, len(sentences))
    n_words = max(1, form.words)
    covered = [k for k in key_points if k.sentence is not None]
    # Words that carry something: sentences that tell what happened (past tense), or hold a number, an
    # outcome, a lasting change, a rubric term, a STAR cue, a decision right, or cover a model-answer
    # key point. Length is what separates answers most, and this is the length that padding with
    # present-tense platitudes ("communication is really important") cannot buy.
    carrying = {k.sentence for k in covered}
    carrying |= {i for i, t in enumerate(visible) if all_terms_matcher().distinct(t)}
    carrying |= {i for sentences_with_cue in star.values() for i in sentences_with_cue}
    carrying |= {i for i in range(len(visible)) if specific[i] or outcome[i] or permanent[i]}
    carrying |= {i for i, t in enumerate(visible) if DECISION_RIGHTS.search(t) or NARRATIVE.search(t)}
    substantive_words = sum(len(words(visible[i])) for i in carrying if i is not None)
    signals = {
        "words": float(form.words),
        "sentences": float(len(sentences)),
        "log_words": float(np.log1p(form.words)),
        "substantive_words": float(substantive_words),
        "coverage": len(covered) / len(key_points) if key_points else 0.0,
        "soft_coverage": float(np.mean([k.similarity for k in key_points])) if key_points else 0.0,
        "relevance_question": relevance_question,
        "relevance_model": relevance_model,
        "topicality": topicality,
        "specific_items": float(len({m.group(0).lower() for t in visible for m in SPECIFIC.finditer(t)})),
        "specific_sentence_share": sum(specific) / n_sent,
        "quantified_outcomes": float(sum(1 for s, o in zip(specific, outcome, strict=True) if s and o)),
        "permanent_change": float(bool(star["permanent_change"])),
        "rubric_terms": float(len(distinct_terms)),
        "rubric_term_rate": len(distinct_terms) / n_words,
        "star_elements": float(sum(1 for v in star.values() if v)),
        "i_share": i_count / max(1, i_count + we_count),
        "first_person_rate": (i_count + we_count) / n_words,
        "decision_rights": float(len({m.group(0).lower() for t in visible for m in DECISION_RIGHTS.finditer(t)})),
        "hypothetical_share": sum(1 for t in visible if HYPOTHETICAL.search(t)) / n_sent,
        "hedges_per_100_words": 100.0 * sum(len(HEDGE.findall(t)) for t in visible) / n_words,
        "red_flags": float(len(red_flags)),
        "red_flag_cues": float(sum(len(v) for v in red_flags.values())),
        "axes_with_evidence": float(sum(1 for a in axes.values() if a.sentences)),
        "verbatim_share": verbatim_share,
        "fragment_share": form.fragment_share,
        "injection_findings": float(len(injection.findings)),
        "english_stopword_share": form.english_stopword_share,
        "known_word_share": form.known_word_share,
    }

    flags: list[FlagName] = []
    if injection.found:
        flags.append("possible_injection")
    if form.too_short:
        flags.append("too_short")  # too short to judge, in any language
    elif form.non_english:
        flags.append("non_english")
    elif guards.is_keyword_list(form, len(distinct_terms)):
        flags.append("keyword_list")
    else:
        # Only an answer long enough to be about something can be about the wrong thing.
        if topicality < OFF_TOPIC_TOPICALITY:
            flags.append("off_topic")
        if verbatim_share >= VERBATIM_SHARE:
            flags.append("verbatim_copy")

    if measured.term_lists and "keyword_list" not in flags:
        flags.append("keyword_list")  # whatever else is wrong, a pasted list of terms is said so
    return Measurement(
        answer=answer,
        kept=injection.kept,
        sentences=sentences,
        vectors=vectors,
        form=form,
        injection=injection,
        axes=axes,
        star=star,
        red_flags=red_flags,
        key_points=key_points,
        flags=flags,
        signals=signals,
    )
