"""Choosing the follow-up: probe what the answer left out, quoting what the candidate said.

Gaps are taken from the grade, in the order a calibrated panel probes them: an answer that did not
engage (too short, off topic), a red flag, a missing STAR element, the weakest or unevidenced axis,
then a key point of the model answer the candidate missed, then the document's own probing note.
Offline, the question is filled from the rubric's probe templates (written from the corpus's
"What they're probing" notes); with an LLM, `bundled/prompts/follow_up.md.j2` writes it from the same gaps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from interviewer.grading.grade import Grade
from interviewer.grading.rubric import rubric
from interviewer.questions import Question
from interviewer.text import normalize_for_match

MAX_QUOTE_WORDS = 12
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


@dataclass(frozen=True)
class Gap:
    target: str  # e.g. "axis:cost", "star:result", "red_flag:hero_narrative", "key_point", "engagement"
    reason: str  # one line a human (or the LLM prompt) can read
    template: str  # offline question; may contain {quote}
    quote: str  # something the candidate actually said (verbatim, short)


def short_quote(text: str) -> str:
    """A verbatim prefix of `text`, at most MAX_QUOTE_WORDS words, without trailing punctuation."""
    match = re.match(rf"\s*(\S+(?:\s+\S+){{0,{MAX_QUOTE_WORDS - 1}}})", text)
    return match.group(1).rstrip(".,;:!?") if match else ""


def _best_sentence(answer: str) -> str:
    sentences = [s.strip() for s in _SENTENCE.findall(answer) if len(s.split()) >= 4]
    return sentences[0] if sentences else answer.strip()


def gaps(question: Question, grade: Grade) -> list[Gap]:
    """Every gap worth a follow-up, most important first."""
    answer = grade.answer
    fallback_quote = short_quote(_best_sentence(answer))
    found: list[Gap] = []
    r = rubric()

    if "too_short" in grade.flags or "off_topic" in grade.flags or "keyword_list" in grade.flags:
        found.append(
            Gap(
                "engagement",
                "the answer did not engage with the question with a concrete example",
                'You said "{quote}". Take me through one specific time: what was at stake, what you owned, '
                "what you did, and what changed as a result?",
                fallback_quote,
            )
        )
    for flag in grade.red_flags:
        definition = next((f for f in r.red_flags if f.id == flag.flag), None)
        if definition and definition.probe:
            quote = next((short_quote(e.quote) for e in flag.evidence if e.quote), fallback_quote)
            found.append(Gap(f"red_flag:{flag.flag}", f"red flag: {flag.name}", definition.probe, quote))
    story = any(c.present for c in grade.star)
    for check in grade.star:
        element = next((e for e in r.star if e.id == check.element), None)
        if story and not check.present and element and element.probe:
            found.append(
                Gap(f"star:{check.element}", f"STAR element missing: {check.name}", element.probe, fallback_quote)
            )
    scored = sorted(grade.axes, key=lambda a: (a.score is not None, a.score or 0))
    for axis_grade in scored:
        if axis_grade.score is not None and axis_grade.score >= 4:
            continue
        axis = r.axis(axis_grade.axis)
        quote = next((short_quote(e.quote) for e in axis_grade.evidence if e.quote), fallback_quote)
        state = "no evidence" if axis_grade.score is None else f"scored {axis_grade.score}/5"
        for probe in axis.probes:
            found.append(Gap(f"axis:{axis.id}", f"{axis.name}: {state}", probe, quote))
    for point in grade.missed_points[:3]:
        text = point.text.rstrip(".")
        found.append(
            Gap(
                "key_point",
                f"missed key point: {text}",
                'You said "{quote}". What about ' + _lower_first(text) + "? How would that fit into your approach?",
                fallback_quote,
            )
        )
    if question.probing:
        found.append(
            Gap(
                "probing",
                f"what the panel probes: {question.probing}",
                'You said "{quote}". The panel will want to hear about '
                + _lower_first(question.probing.rstrip("."))
                + ". Can you take me through that?",
                fallback_quote,
            )
        )
    return found


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def fill(gap: Gap) -> str:
    text = gap.template.replace("{quote}", gap.quote)
    if "{quote}" not in gap.template and gap.quote:
        text = f'You said "{gap.quote}". {text}'
    return text


def choose_offline(question: Question, grade: Grade, already_asked: list[str]) -> tuple[str, Gap] | None:
    """The first gap whose filled question has not been asked yet in this exchange."""
    asked = {normalize_for_match(a) for a in already_asked}
    asked_targets = {normalize_for_match(a)[:60] for a in already_asked}
    for gap in gaps(question, grade):
        text = fill(gap)
        if normalize_for_match(text) not in asked and normalize_for_match(text)[:60] not in asked_targets:
            return text, gap
    return None
