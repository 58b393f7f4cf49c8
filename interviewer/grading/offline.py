"""The offline grading engine: retrieval, signals and the fitted rule, assembled into a cited Grade.

Per answer the work is: cut out any injection, split the rest into sentences, embed them in one
call, measure (signals.py), score (rule.py), and write the feedback. Everything derivable from the
corpus, the model answer's key points and their embeddings included, comes from reference.py's
per-process caches. Every piece of feedback carries evidence: a verbatim quote of the candidate,
a citation of a retrieved chunk, or both; the Grade model refuses anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from interviewer.grading.grade import (
    AxisGrade,
    Evidence,
    Grade,
    KeyPointCheck,
    Point,
    RedFlagFound,
    Retrieved,
    StarCheck,
)
from interviewer.grading.reference import Reference, background, grounding, reference_for
from interviewer.grading.rubric import Source, axis_matcher, rubric
from interviewer.grading.rule import (
    CAP_REASONS,
    NOT_ASSESSED,
    Calibration,
    axis_scores,
    decide,
    features,
    load_calibration,
    reference_flags,
)
from interviewer.grading.segments import words
from interviewer.grading.signals import OUTCOME, SPECIFIC, AxisEvidence, Measurement, measure
from interviewer.index import Hit, Index

ENGINE = "offline"
MAX_QUOTES_PER_ITEM = 2
MAX_STRENGTHS = 5
MAX_RISKS = 6
MAX_MISSED_IN_RISKS = 2
PROBE_QUOTE_WORDS = 12


@dataclass
class _Citations:
    """The chunks a grade cites, recorded as they are used so the Grade's retrieved list is complete."""

    index: Index
    state: int | None = None
    retrieved: dict[str, Retrieved] = field(default_factory=dict)

    def add(self, hit: Hit, role: str) -> str:
        if hit.id not in self.retrieved:
            self.retrieved[hit.id] = Retrieved(
                id=hit.id,
                heading=hit.heading,
                kind=hit.kind,
                source=hit.source,
                role=role,  # type: ignore[arg-type]
            )
        return hit.id

    def rubric_source(self, sources: list[Source]) -> str | None:
        hit = grounding(self.index, sources, self.state)
        return self.add(hit, "rubric_source") if hit is not None else None


def grade_answer(
    question: str,
    answer: str,
    index: Index,
    calibration: Calibration | None = None,
) -> Grade:
    """Grade one answer to one question, offline and deterministically."""
    calibration = calibration or load_calibration()
    state = index.count()
    reference = reference_for(question, index, state)
    measurement = measure(answer, reference, background(index, state))
    return build_grade(question, answer, reference, measurement, calibration, index, state)


def prefetch(pairs: list[tuple[str, str]]) -> None:
    """Embed the questions and answer sentences of many (question, answer) pairs in one batched call,
    ahead of grading them one by one. Grades are unchanged; a batch just costs about what embedding
    its texts together costs, instead of one small call per answer."""
    from interviewer.grading.reference import prefetch as embed_ahead
    from interviewer.grading.signals import embedded_texts

    embed_ahead([q for q, _ in pairs] + [text for _, answer in pairs for text in embedded_texts(answer)])


def build_grade(
    question: str,
    answer: str,
    reference: Reference,
    m: Measurement,
    calibration: Calibration,
    index: Index,
    state: int | None = None,
) -> Grade:
    r = rubric()
    cites = _Citations(index, state)
    for hit in reference.model_chunks:
        cites.add(hit, "model_answer")
    for hit in reference.rubric_chunks:
        cites.add(hit, "rubric")

    scores = axis_scores(m)
    values = features(m, scores)
    raw_score = calibration.score(values)
    # The fitted coverage floor's flag joins the guards' flags (once: an LLM grade reuses this m).
    m.flags.extend(f for f in reference_flags(values, calibration) if f not in m.flags)  # type: ignore[misc]
    decision, score, uncapped = decide(raw_score, m.flags, calibration.thresholds)
    not_assessed = bool(NOT_ASSESSED & set(m.flags))

    def quote(i: int) -> str:
        return m.sentences[i].text

    # Axes.
    axes: list[AxisGrade] = []
    for axis in r.axes:
        ev = m.axes[axis.id]
        level = scores[axis.id]
        citation = cites.rubric_source(axis.sources)
        best = sorted(ev.sentences, key=lambda i: (-len(_terms_in(m, axis.id, i)), i))[:MAX_QUOTES_PER_ITEM]
        evidence = [Evidence(quote=quote(i), citation=citation) for i in sorted(best)]
        if level is None:
            why = "not assessed (answer not in English)" if not_assessed else f"nothing on: {axis.question}"
            feedback = f"Not enough evidence: {why}"
            evidence = [Evidence(citation=citation)] if citation else []
        else:
            feedback = f"Level {level}: {axis.levels[level]} ({_axis_facts(ev)})"
        axes.append(AxisGrade(axis=axis.id, name=axis.name, score=level, feedback=feedback, evidence=evidence))

    # STAR.
    star: list[StarCheck] = []
    for element in r.star:
        hits = [] if not_assessed else m.star.get(element.id, [])
        citation = cites.rubric_source(element.sources)
        star_evidence = [Evidence(quote=quote(i), citation=citation) for i in hits[:1]]
        if not hits and citation:
            star_evidence = [Evidence(citation=citation)]
        star.append(StarCheck(element=element.id, name=element.name, present=bool(hits), evidence=star_evidence))

    # Red flags.
    red_flags: list[RedFlagFound] = []
    for flag in r.red_flags:
        found = m.red_flags.get(flag.id)
        if not found:
            continue
        citation = cites.rubric_source(flag.sources)
        sentences = sorted({i for i, _ in found})[:MAX_QUOTES_PER_ITEM]
        red_flags.append(
            RedFlagFound(
                flag=flag.id, name=flag.name, evidence=[Evidence(quote=quote(i), citation=citation) for i in sentences]
            )
        )

    # Key points.
    key_points = [
        KeyPointCheck(
            text=reference.key_points[k.index].text,
            chunk_id=reference.key_points[k.index].chunk_id,
            similarity=round(k.similarity, 4),
            covered=k.sentence is not None,
            quote=quote(k.sentence) if k.sentence is not None else None,
        )
        for k in m.key_points
    ]

    strengths = [] if not_assessed else _strengths(m, axes, key_points)
    risks = _risks(m, axes, key_points, red_flags, star, reference, not_assessed)
    caps = [CAP_REASONS[f] for f in m.flags if f in CAP_REASONS]

    quotes = sorted(
        {e.quote for e in _all_evidence(axes, star, red_flags, strengths, risks) if e.quote}
        | {p.quote for p in key_points if p.quote},
        key=answer.find,
    )
    signals = {k: round(float(v), 4) for k, v in {**m.signals, **values}.items()}
    signals["raw_score"] = round(raw_score, 4)
    return Grade(
        question=question,
        answer=answer,
        engine=ENGINE,
        decision=decision,
        score=round(score, 4),
        uncapped_decision=uncapped,
        caps=caps,
        summary=_summary(decision, score, m, axes, key_points, caps, not_assessed),
        axes=axes,
        star=star,
        red_flags=red_flags,
        strengths=strengths,
        risks=risks,
        key_points=key_points,
        recommendation=_recommendation(decision, m, axes, reference, scores, quotes, not_assessed),
        retrieved=list(cites.retrieved.values()),
        quotes=quotes,
        flags=list(m.flags),
        signals=signals,
        model_answer_found_by=reference.found_by,
    )


def _terms_in(m: Measurement, axis_id: str, i: int) -> set[str]:
    return axis_matcher(axis_id).distinct(m.sentences[i].text)


def _axis_facts(ev: AxisEvidence) -> str:
    facts = [f"{len(ev.sentences)} sentence{'s' if len(ev.sentences) != 1 else ''} of evidence"]
    if ev.terms:
        facts.append("terms: " + ", ".join(ev.terms[:6]))
    facts.append("numbers: yes" if ev.specific else "numbers: none")
    facts.append("measured outcome: yes" if ev.outcome else "measured outcome: none")
    facts.append("lasting change: yes" if ev.permanent else "lasting change: none")
    return "; ".join(facts)


def _all_evidence(*groups: list) -> list[Evidence]:
    found: list[Evidence] = []
    for group in groups:
        for item in group:
            found.extend(item.evidence)
    return found


def _strengths(m: Measurement, axes: list[AxisGrade], key_points: list[KeyPointCheck]) -> list[Point]:
    points: list[Point] = []
    for axis in sorted(axes, key=lambda a: -(a.score or 0)):
        if (axis.score or 0) >= 4:
            ev = m.axes[axis.axis]
            reason = ", ".join(ev.terms[:4])
            points.append(Point(text=f"{axis.name} at level {axis.score} ({reason})", evidence=axis.evidence[:1]))
    outcome_sentences = [i for i, s in enumerate(m.sentences) if _is_quantified_outcome(s.text)][:MAX_QUOTES_PER_ITEM]
    if outcome_sentences:
        points.append(
            Point(
                text="States measured outcomes",
                evidence=[Evidence(quote=m.sentences[i].text) for i in outcome_sentences],
            )
        )
    lasting = m.star.get("permanent_change", [])
    if lasting:
        star_permanent = next((e for e in rubric().star if e.id == "permanent_change"), None)
        what = star_permanent.description.split("(")[0].strip() if star_permanent else ""
        text = "Says what changed permanently" + (f" ({what})" if what else "")
        points.append(Point(text=text, evidence=[Evidence(quote=m.sentences[lasting[0]].text)]))
    covered = [p for p in key_points if p.covered]
    for p in covered[:2]:
        points.append(
            Point(
                text=f"Covers the model answer's point: {p.text}",
                evidence=[Evidence(quote=p.quote, citation=p.chunk_id)],
            )
        )
    return points[:MAX_STRENGTHS]


def _is_quantified_outcome(text: str) -> bool:
    return bool(OUTCOME.search(text) and SPECIFIC.search(text))


def _expected_axes(reference: Reference) -> list[str]:
    """Axes the model answer itself talks about (two or more of their terms): what the question tests."""
    text = reference.question + "\n" + "\n".join(p.text for p in reference.key_points)
    return [a.id for a in rubric().axes if len(axis_matcher(a.id).distinct(text)) >= 2]


def _risks(
    m: Measurement,
    axes: list[AxisGrade],
    key_points: list[KeyPointCheck],
    red_flags: list[RedFlagFound],
    star: list[StarCheck],
    reference: Reference,
    not_assessed: bool,
) -> list[Point]:
    points: list[Point] = []
    for name, text in m.injection.findings[:2]:
        ev = [Evidence(quote=text)] if text and text in m.answer and name != "hidden unicode" else []
        points.append(Point(text=f"Possible prompt injection ({name}): ignored, and the decision capped", evidence=ev))
    for flag in m.flags:
        if flag in CAP_REASONS and flag != "possible_injection":
            first = [Evidence(quote=m.sentences[0].text)] if m.sentences else []
            points.append(Point(text=CAP_REASONS[flag][0].upper() + CAP_REASONS[flag][1:], evidence=first))
    for found in red_flags:
        description = next(f.description for f in rubric().red_flags if f.id == found.flag).split(".")[0]
        points.append(Point(text=f"Red flag, {found.name.lower()}: {description}", evidence=found.evidence))
    if not not_assessed:
        by_id = {a.axis: a for a in axes}
        for axis_id in _expected_axes(reference):
            axis = by_id[axis_id]
            if axis.score is None or axis.score <= 2:
                gap = "no evidence" if axis.score is None else f"only level {axis.score}"
                points.append(
                    Point(
                        text=f"{axis.name}: {gap} on what this question tests ({rubric().axis(axis_id).question})",
                        evidence=[e for e in axis.evidence if e.citation][:1] or axis.evidence[:1],
                    )
                )
        missing = [s for s in star if not s.present]
        if missing and len(missing) < len(star):
            names = ", ".join(s.name for s in missing)
            points.append(Point(text=f"STAR elements missing: {names}", evidence=missing[0].evidence[:1]))
        for p in [p for p in key_points if not p.covered][:MAX_MISSED_IN_RISKS]:
            points.append(
                Point(text=f"Misses the model answer's point: {p.text}", evidence=[Evidence(citation=p.chunk_id)])
            )
    return points[:MAX_RISKS]


def _summary(
    decision: str,
    score: float,
    m: Measurement,
    axes: list[AxisGrade],
    key_points: list[KeyPointCheck],
    caps: list[str],
    not_assessed: bool,
) -> str:
    definition = rubric().decision(decision).definition
    if not_assessed:
        return f"{decision}: {definition}. " + " ".join(c[0].upper() + c[1:] + "." for c in caps)
    covered = sum(1 for p in key_points if p.covered)
    scored = [f"{a.name} {a.score}" for a in axes if a.score is not None]
    parts = [
        f"{decision} ({definition}); score {score:.2f} on a 0–4 scale.",
        f"Covers {covered} of {len(key_points)} key points of the model answer." if key_points else "",
        f"Axis evidence: {', '.join(scored)}." if scored else "No evidence on any rubric axis.",
        f"{int(m.signals['specific_items'])} specific facts (numbers, money, time spans), "
        f"{int(m.signals['quantified_outcomes'])} measured outcomes; "
        f"STAR {int(m.signals['star_elements'])} of {len(rubric().star)}.",
    ]
    parts += [c[0].upper() + c[1:] + "." for c in caps]
    return " ".join(p for p in parts if p)


def _recommendation(
    decision: str,
    m: Measurement,
    axes: list[AxisGrade],
    reference: Reference,
    scores: dict[str, int | None],
    quotes: list[str],
    not_assessed: bool,
) -> str:
    if not_assessed:
        return "Ask the candidate to answer again in English; nothing in this answer was assessed."
    if "possible_injection" in m.flags:
        lead = "Treat the instructions in the answer as a conduct concern and re-ask the question."
    else:
        lead = {
            "Strong Hire": "Proceed.",
            "Hire": "Proceed; confirm the minor gaps below in another interview.",
            "Lean Hire": "Near bar: probe the risks below before deciding.",
            "Lean No Hire": "Below bar on this answer: probe once more before deciding.",
            "No Hire": "Does not meet the bar on this answer.",
        }[decision]
    expected = _expected_axes(reference) or [a.id for a in rubric().axes]
    weakest = min(expected, key=lambda a: (scores.get(a) or 0, expected.index(a)))
    axis = rubric().axis(weakest)
    probe = next((p for p in axis.probes if "{quote}" not in p), axis.probes[0] if axis.probes else "")
    if "{quote}" in probe:
        sentence = next((m.sentences[i].text for i in m.axes[weakest].sentences), quotes[0] if quotes else "")
        span = " ".join(words(sentence)[:PROBE_QUOTE_WORDS])
        probe = probe.replace("{quote}", span) if span and span in m.answer else ""
    return f"{lead} Next probe ({axis.name}): {probe}" if probe else lead
