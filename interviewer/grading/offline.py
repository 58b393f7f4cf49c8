"""The offline grading engine: the question's profile, sentence evidence, axis scores, the decision rule,
and feedback whose parts agree, assembled into a cited Grade.

    profile (profiles.py) ─▶ evidence per sentence (evidence.py) ─▶ axis scores (axes.py)
                          ─▶ decision at the level (decision.py) ─▶ Grade with feedback (this module)

Every piece of feedback carries evidence: a verbatim quote of the candidate, a citation of a retrieved
chunk, or both; the Grade model refuses anything else. Everything the feedback says is read off the
same judgements the decision came from, so the parts cannot disagree: a STAR element reported missing
is one the grader found no sentence for, a strength quotes a relevant sentence, a missed key point is
one no relevant sentence covers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from interviewer.grading.axes import AxisJudgement, judge_axes
from interviewer.grading.calibration import Calibration, load_calibration, load_sentence_models
from interviewer.grading.decision import CAP_REASONS, DEFAULT_LEVEL, Verdict, decide
from interviewer.grading.evidence import AXES, AnswerEvidence, KeyPointMatch, judge
from interviewer.grading.grade import (
    AxisGrade,
    Evidence,
    Grade,
    KeyPointCheck,
    Point,
    RedFlagFound,
    Retrieved,
    SentenceJudgement,
    StarCheck,
)
from interviewer.grading.reference import corpus_shingles, grounding
from interviewer.grading.rubric import Source, rubric
from interviewer.index import Hit, Index
from interviewer.profiles import Profiled, profile_question, profiles_for

ENGINE = "offline"
MAX_QUOTES_PER_ITEM = 2
MAX_STRENGTHS = 5
MAX_RISKS = 6
MAX_MISSED_IN_RISKS = 2
MAX_QUOTE_WORDS = 40
ROLE_AXIS = "ownership"  # the axis a story's stated role (its Task: "your role and decision rights") bears on


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


@dataclass
class Assessment:
    """What an engine judged, before the decision rule: the same structure offline and with an LLM."""

    scores: dict[str, int | None]
    axis_sentences: dict[str, list[int]]  # per axis, its evidence sentences, strongest first
    capped_by: dict[str, str | None]
    star: dict[str, list[int]]  # per STAR element, the sentences that show it
    red_flags: dict[str, list[int]]
    raw: dict[str, float] | None = None
    star_present: set[str] | None = None  # elements judged present (default: those with sentences)
    covered_points: set[int] | None = None  # key points judged covered (default: the offline matches)

    def present(self) -> set[str]:
        return self.star_present if self.star_present is not None else {e for e, s in self.star.items() if s}


def grade_answer(
    question: str,
    answer: str,
    index: Index,
    level: str | None = None,
    calibration: Calibration | None = None,
) -> Grade:
    """Grade one answer to one question, offline and deterministically, at the candidate's level."""
    calibration = calibration or load_calibration()
    state = index.count()
    store = profiles_for(index)
    profiled = profile_question(question, index, store)
    evidence = judge(answer, profiled, store, corpus_shingles(index, state), load_sentence_models())
    assessment = assess(evidence, calibration)
    return build_grade(question, answer, profiled, evidence, assessment, calibration, index, level, state, ENGINE)


def assess(evidence: AnswerEvidence, calibration: Calibration) -> Assessment:
    axes: dict[str, AxisJudgement] = judge_axes(evidence, calibration.axis_model)
    star = {e: evidence.star_sentences(e, calibration.star_thresholds.get(e, 0.5)) for e in calibration.star_thresholds}
    if "non_english" in evidence.flags:
        star = {e: [] for e in star}
    return Assessment(
        scores={a: j.score for a, j in axes.items()},
        axis_sentences={a: j.sentences for a, j in axes.items()},
        capped_by={a: j.capped_by for a, j in axes.items()},
        star=star,
        red_flags=dict(evidence.red_flags),
        raw={a: calibration.axis_model.continuous(j.raw) if j.score is not None else 0.0 for a, j in axes.items()},
    )


def prefetch(pairs: list[tuple[str, str]]) -> None:
    """Embed the answer sentences of many (question, answer) pairs in one batched call, ahead of grading
    them one by one. Grades are unchanged; a batch just costs about what embedding its texts together
    costs, instead of one small call per answer."""
    from interviewer.grading.evidence import embedded_texts
    from interviewer.grading.reference import prefetch as embed_ahead

    embed_ahead([text for _, answer in pairs for text in embedded_texts(answer)])


def verdict_for(
    profiled: Profiled, evidence: AnswerEvidence, assessment: Assessment, calibration: Calibration, level: str | None
) -> Verdict:
    profile = profiled.profile
    return decide(
        assessment.scores,
        profile.tested_axes,
        calibration.rule,
        level=level,
        story=profile.story,
        star=sorted(assessment.present()),
        red_flags=list(assessment.red_flags),
        flags=evidence.flags,
        raw=assessment.raw,
    )


def build_grade(
    question: str,
    answer: str,
    profiled: Profiled,
    evidence: AnswerEvidence,
    assessment: Assessment,
    calibration: Calibration,
    index: Index,
    level: str | None,
    state: int | None,
    engine: str,
    extra_flags: list[str] | None = None,
) -> Grade:
    r = rubric()
    profile = profiled.profile
    verdict = verdict_for(profiled, evidence, assessment, calibration, level)
    cites = _Citations(index, state)
    model_chunks = index.get_chunks(profile.model_chunk_ids) if profile.model_chunk_ids else {}
    for cid in profile.model_chunk_ids:
        if cid in model_chunks:
            cites.add(model_chunks[cid], "model_answer")
    not_assessed = "non_english" in evidence.flags
    sentences = evidence.sentences

    def quote(i: int) -> str:
        return sentences[i].text

    # STAR elements judged present, each with its sentences, the surest first.
    present = assessment.present()

    def star_sentences(element: str) -> list[int]:
        found = assessment.star.get(element, []) if element in present else []
        return sorted(found, key=lambda i: -sentences[i].star.get(element, 0.0))

    # Axes: the level, what the answer showed (quoted), and what the next level needs.
    axes: list[AxisGrade] = []
    for axis in r.axes:
        level_found = assessment.scores.get(axis.id)
        tested = axis.id in profile.tested_axes
        citation = cites.rubric_source(axis.sources)
        chosen = assessment.axis_sentences.get(axis.id, [])[:MAX_QUOTES_PER_ITEM]
        # Best first, as chosen: the first quote is the one `shown` names, so the Evidence section, the
        # strengths and the axis line all quote the same sentence for an axis.
        ev = [Evidence(quote=quote(i), citation=citation) for i in chosen]
        if level_found is None:
            role = star_sentences("task")[:1] if axis.id == ROLE_AXIS else []
            why = (
                "not assessed: the answer is not in English"
                if not_assessed
                # The story's Task is its role, and a role alone is not ownership; saying "nothing spoke
                # to it" beside "Task: I was the incident commander" reads as not listening.
                else f"a role is stated (“{_short(quote(role[0]))}”) but not what you owned or decided in it: "
                f"{axis.question}"
                if role
                else f"nothing in the answer spoke to it ({axis.question})"
            )
            shown = f"a stated role only, “{_short(quote(role[0]))}”" if role else ""
            missing = axis.levels[3]
            feedback = f"Not enough evidence{' — this question tests it' if tested else ''}: {why}."
            ev = [Evidence(quote=quote(role[0]), citation=citation)] if role else []
            ev = ev or ([Evidence(citation=citation)] if citation else [])
        else:
            facts = _facts(evidence, chosen[:1])  # what the quoted sentence itself holds, beside it
            shown = f"“{_short(quote(chosen[0]))}”" + (f" ({facts})" if facts else "") if chosen else ""
            nxt = level_found + 1
            missing = axis.levels.get(nxt, "")
            capped = assessment.capped_by.get(axis.id)
            feedback = f"Level {level_found}: {axis.levels[level_found]}"
            if shown:
                feedback += f" Shown: {shown}."
            if capped:
                feedback += f" Held at 2 by {capped.replace('_', ' ')}."
            if missing:
                feedback += f" For level {nxt}: {missing}"
        axes.append(
            AxisGrade(
                axis=axis.id,
                name=axis.name,
                score=level_found,
                feedback=feedback,
                evidence=ev,
                tested=tested,
                shown=shown,
                missing=missing,
                capped_by=assessment.capped_by.get(axis.id),
            )
        )

    # STAR, from the same judgement the decision used, each element quoted by the sentence most surely it
    # (the first above the line read "I was the incident commander" as the Action, beside "I froze the
    # deploys, set up a war room").
    star: list[StarCheck] = []
    for element in r.star:
        found = star_sentences(element.id)
        citation = cites.rubric_source(element.sources)
        star_ev = [Evidence(quote=quote(i), citation=citation) for i in found[:1]]
        if not found and citation:
            star_ev = [Evidence(citation=citation)]
        star.append(StarCheck(element=element.id, name=element.name, present=element.id in present, evidence=star_ev))

    red_flags: list[RedFlagFound] = []
    for flag in r.red_flags:
        if flag.id not in assessment.red_flags:
            continue
        showing = sorted(set(assessment.red_flags[flag.id]))[:MAX_QUOTES_PER_ITEM]
        citation = cites.rubric_source(flag.sources)
        flag_evidence = [Evidence(quote=quote(i), citation=citation) for i in showing]
        if not flag_evidence and citation:
            flag_evidence = [Evidence(citation=citation)]
        red_flags.append(RedFlagFound(flag=flag.id, name=flag.name, evidence=flag_evidence))

    def covered(k: int, sentence: int | None) -> bool:
        return (assessment.covered_points is not None and k in assessment.covered_points) or (
            assessment.covered_points is None and sentence is not None
        )

    def check(k: KeyPointMatch) -> KeyPointCheck:
        point = profile.key_points[k.index]
        told = covered(k.index, k.sentence)
        said_by = k.sentence if told else None
        if point.star_slot is not None:
            # A template's slot ("What broke", "Your role and decision rights") is told when the story
            # has the element it asks for, quoted from the sentence the STAR check quotes.
            told = point.star_slot in present
            said_by = next(iter(star_sentences(point.star_slot)), None)
        return KeyPointCheck(
            text=point.text,
            chunk_id=point.chunk_id,
            similarity=round(k.similarity, 4),
            covered=told,
            quote=quote(said_by) if said_by is not None else None,
            star_slot=point.star_slot,
        )

    key_points = [check(k) for k in evidence.key_points if profile.key_points[k.index].chunk_id in cites.retrieved]

    strengths = [] if not_assessed else _strengths(axes, star, key_points, sentences, assessment)
    risks = _risks(evidence, axes, key_points, red_flags, star, profile.story, not_assessed, verdict)
    quotes = sorted(
        {e.quote for e in _all_evidence(axes, star, red_flags, strengths, risks) if e.quote}
        | {p.quote for p in key_points if p.quote},
        key=lambda q: (answer.find(q), len(q), q),  # two quotes starting together came in set order
    )
    judged = [
        SentenceJudgement(
            text=s.text,
            relevance=round(s.relevance, 4),
            relevant=s.relevant,
            axes={a: round(s.on(a), 4) for a in AXES},
            star=next((e for e, found in assessment.star.items() if i in found), None),
            red_flag=s.red_flag,
            key_point=profile.key_points[s.key_point].text if s.key_point is not None else None,
        )
        for i, s in enumerate(sentences)
    ]
    flags = list(dict.fromkeys([*evidence.flags, *(extra_flags or [])]))
    return Grade(
        question=question,
        answer=answer,
        engine=engine,
        decision=verdict.decision,
        score=verdict.score,
        uncapped_decision=verdict.uncapped,
        caps=verdict.caps,
        summary=_summary(verdict, axes, key_points, profile.tested_axes, level, not_assessed),
        axes=axes,
        star=star,
        red_flags=red_flags,
        strengths=strengths,
        risks=risks,
        key_points=key_points,
        recommendation=_recommendation(verdict, axes, profile.tested_axes, evidence, not_assessed),
        retrieved=list(cites.retrieved.values()),
        quotes=quotes,
        flags=flags,  # type: ignore[arg-type]
        signals={
            "words": float(evidence.form.words),
            "sentences": float(len(sentences)),
            "relevant_sentences": float(len(evidence.relevant)),
            "tested_mean": verdict.tested_mean,
            "verbatim_share": round(evidence.verbatim_share, 4),
        },
        model_answer_found_by=profile.found_by,
        level=level or DEFAULT_LEVEL,
        level_defaulted=level is None,
        tested_axes=list(profile.tested_axes),
        story_question=profile.story,
        profile_inferred=profile.inferred,
        decision_steps=verdict.steps,
        sentences=judged,
    )


def _short(text: str) -> str:
    parts = text.split()
    return text if len(parts) <= MAX_QUOTE_WORDS else " ".join(parts[:MAX_QUOTE_WORDS]) + " …"


def _facts(evidence: AnswerEvidence, chosen: list[int]) -> str:
    facts = []
    if any(evidence.sentences[i].outcome for i in chosen):
        facts.append("a measured result")
    elif any(evidence.sentences[i].specific for i in chosen):
        facts.append("numbers")
    if any(evidence.sentences[i].permanent for i in chosen):
        facts.append("a lasting change")
    return ", ".join(facts)


def _all_evidence(*groups: list) -> list[Evidence]:
    found: list[Evidence] = []
    for group in groups:
        for item in group:
            found.extend(item.evidence)
    return found


def _strengths(
    axes: list[AxisGrade],
    star: list[StarCheck],
    key_points: list[KeyPointCheck],
    sentences: list,
    assessment: Assessment,
) -> list[Point]:
    points: list[Point] = []
    for axis in sorted(axes, key=lambda a: (-(a.score or 0), not a.tested)):
        if (axis.score or 0) >= 4 and axis.evidence:
            facts = axis.shown.rsplit("” (", 1)[1].rstrip(")") if "” (" in axis.shown else ""
            text = f"{axis.name} at level {axis.score}" + (f", with {facts}" if facts else "")
            points.append(Point(text=text, evidence=axis.evidence[:1]))
    # A strength is praise, so it says only what is true of its quote: a measured result is a sentence with
    # an outcome and a number, and it (like a lasting change) bears on the question asked ("I sent 9
    # emails on Tuesday" is a number, not a result of anything the question is about).
    result = next((c for c in star if c.element == "result" and c.present), None)
    measured = [i for i in assessment.star.get("result", []) if sentences[i].outcome and sentences[i].support > 0]
    if result is not None and measured:
        points.append(Point(text="States a measured result", evidence=[Evidence(quote=sentences[measured[0]].text)]))
    lasting = assessment.star.get("permanent_change", []) if "permanent_change" in assessment.present() else []
    lasting = [i for i in lasting if sentences[i].support > 0]
    if lasting:
        points.append(Point(text="Says what changed for good", evidence=[Evidence(quote=sentences[lasting[0]].text)]))
    # A template's slot is shown by its STAR line; a strength names a claim of the model answer.
    for p in [p for p in key_points if p.covered and p.star_slot is None][:2]:
        points.append(
            Point(
                text=f"Covers the model answer's point: {p.text}",
                evidence=[Evidence(quote=p.quote, citation=p.chunk_id)],
            )
        )
    return points[:MAX_STRENGTHS]


def _risks(
    evidence: AnswerEvidence,
    axes: list[AxisGrade],
    key_points: list[KeyPointCheck],
    red_flags: list[RedFlagFound],
    star: list[StarCheck],
    story: bool,
    not_assessed: bool,
    verdict: Verdict,
) -> list[Point]:
    points: list[Point] = []
    answer = evidence.answer
    for name, text in evidence.injection.findings[:2]:
        ev = [Evidence(quote=text)] if text and text in answer and name != "hidden unicode" else []
        points.append(
            Point(text=f"Text addressed to the grader ({name}): ignored, and graded as misconduct", evidence=ev)
        )
    first = [Evidence(quote=evidence.sentences[0].text)] if evidence.sentences else []
    for flag in evidence.flags:
        if flag in CAP_REASONS and flag != "possible_injection":
            points.append(Point(text=CAP_REASONS[flag][0].upper() + CAP_REASONS[flag][1:], evidence=first))
    for found in red_flags:
        description = next(f.description for f in rubric().red_flags if f.id == found.flag).split(".")[0]
        points.append(Point(text=f"Red flag, {found.name.lower()}: {description}", evidence=found.evidence))
    if not not_assessed:
        for axis in axes:
            if axis.tested and (axis.score is None or axis.score <= 2):
                gap = f"only level {axis.score}" if axis.score is not None else "no evidence"
                role_quote = next((e.quote for e in axis.evidence if e.quote), None) if axis.score is None else None
                if role_quote:  # a stated role, quoted as the STAR Task
                    gap += f" beyond a stated role (“{_short(role_quote)}”)"
                points.append(
                    Point(
                        text=f"{axis.name}, which this question tests: {gap}. The bar: {axis.missing.rstrip('.')}",
                        evidence=[Evidence(citation=e.citation) for e in axis.evidence if e.citation][:1],
                    )
                )
        missing = [s for s in star if not s.present]
        if story and missing:
            names = ", ".join(s.name for s in missing)
            points.append(
                Point(text=f"STAR elements missing from the story: {names}", evidence=missing[0].evidence[:1])
            )
        for p in [p for p in key_points if not p.covered][:MAX_MISSED_IN_RISKS]:
            points.append(
                Point(text=f"Misses the model answer's point: {p.text}", evidence=[Evidence(citation=p.chunk_id)])
            )
    return points[:MAX_RISKS]


def _summary(
    verdict: Verdict,
    axes: list[AxisGrade],
    key_points: list[KeyPointCheck],
    tested: list[str],
    level: str | None,
    not_assessed: bool,
) -> str:
    definition = rubric().decision(verdict.decision).definition
    at = level or f"{DEFAULT_LEVEL} (the default: no level was given)"
    lead = f"{verdict.decision} at {at}: {definition[:1].lower() + definition[1:]}."
    if verdict.caps and verdict.decision != verdict.uncapped:
        # The rubric's wording for the capped decision ("below bar on one critical axis") would name a
        # reason that is not this one: say what the axes gave, then the cap's own reason.
        lead = f"{verdict.decision} at {at}: the axes alone give {verdict.uncapped}, lowered by a cap."
    if not_assessed:
        return f"{lead} " + " ".join(c[0].upper() + c[1:] + "." for c in verdict.caps)
    by_id = {a.axis: a for a in axes}

    def level_of(a: str) -> str:
        return f"{by_id[a].score}/5" if by_id[a].score is not None else "no evidence"

    tested_text = ", ".join(f"{by_id[a].name} ({level_of(a)})" for a in tested)
    evidenced = [a.name for a in axes if a.score is not None and not a.tested]
    covered = sum(1 for p in key_points if p.covered)
    parts = [
        lead,
        f"The question tests {tested_text}." if tested_text else "",
        f"Also evidenced: {', '.join(evidenced)}." if evidenced else "",
        f"Covers {covered} of {len(key_points)} key points of the model answer." if key_points else "",
    ]
    parts += [c[0].upper() + c[1:] + "." for c in verdict.caps]
    return " ".join(p for p in parts if p)


def _recommendation(
    verdict: Verdict, axes: list[AxisGrade], tested: list[str], evidence: AnswerEvidence, not_assessed: bool
) -> str:
    if not_assessed:
        return "Ask the candidate to answer again in English; nothing in this answer was assessed."
    if "possible_injection" in evidence.flags:
        lead = "Treat the text addressed to the grader as a conduct concern and re-ask the question."
    else:
        lead = {
            "Strong Hire": "Proceed.",
            "Hire": "Proceed; confirm the minor gaps below in another interview.",
            "Lean Hire": "Near bar: probe the risks below before deciding.",
            "Lean No Hire": "Below bar on this answer: probe once more before deciding.",
            "No Hire": "Does not meet the bar on this answer.",
        }[verdict.decision]
    by_id = {a.axis: a for a in axes}
    candidates = tested or list(by_id)
    weakest = min(candidates, key=lambda a: (by_id[a].score or 0, candidates.index(a)))
    axis = rubric().axis(weakest)
    probe = next((p for p in axis.probes if "{quote}" not in p), "")
    return f"{lead} Next probe ({axis.name}): {probe}" if probe else lead
