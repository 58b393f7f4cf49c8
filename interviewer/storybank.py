"""The story bank: the STAR stories in the candidate's own documents, and what the debrief checks across answers.

A story is a heading section (with the **Situation** / **Actions** / **Results** sub-labels it owns) or a
run of paragraphs that narrates a situation or task, what was done, and the result. Which sentences are
which STAR element is judged by the grader's own fitted sentence classifiers (the ones that grade
answers), not by cue words, so a story told in prose counts as well as one written as a template.

Before answering, `/story` ranks the bank against the question's profile: closeness of the story to the
question, how many of the model answer's key points some sentence of the story is close to, and how
strongly the story evidences the axes the question tests.

At the end, `consistency` reads every answer of the session: two answers to different questions that
tell the same story, and a number that changed between two answers about the same project ("cut spend
31%" in one, "spend fell 45%" in another): the same quantity (unit, what it measures, which way it
moved) said with a different value.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from interviewer.grading.segments import sentence_spans, words

if TYPE_CHECKING:
    from interviewer.index import Index
    from interviewer.profiles import Profiled
    from interviewer.questions import Question
    from interviewer.session import SessionState
    from interviewer.settings import Settings

# Sub-headings that label a part of the story above them rather than start a new one.
_STAR_LABEL = re.compile(r"^(?:situation|context|background|task|goal|actions?|results?|outcomes?|impact)$", re.I)
# The candidate's own labels ("Situation:" leading a line or a labelled sub-section) say which part of
# the story a sentence is: their structure, taken as written, beside the classifiers' judgement.
_LABELLED = re.compile(r"^(situation|context|background|task|goal|actions?|results?|outcomes?|impact)\s*:", re.I)
_LABEL_ELEMENT = {
    "situation": "situation",
    "context": "situation",
    "background": "situation",
    "task": "task",
    "goal": "task",
    "action": "action",
    "actions": "action",
    "result": "result",
    "results": "result",
    "outcome": "result",
    "outcomes": "result",
    "impact": "result",
}
_MARKUP = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+|\*\*|__|`")
STORY_ELEMENTS = ("situation", "task", "action", "result", "permanent_change")
# The story bank's ranking: closeness to the question, to its key points, and evidence on its tested axes.
# MiniLM cosines of a story to a question it fits are around 0.4-0.6, to one it does not around 0.1-0.3;
# the axis term is a probability. The weights favour what the question says over the model answer's
# wording (a candidate's story rarely shares it) and keep the axes as a tie-breaker.
RANK_WEIGHTS = {"question": 0.5, "key_points": 0.3, "axes": 0.2}
SHOWN_STORIES = 3
# Two answers to different questions are one story told twice at this cosine of their mean sentence
# vectors (the same events retold from another angle land around 0.75-0.9; two stories of one domain
# around 0.4-0.65), and about the same project at PROJECT (close enough that their numbers must agree).
SAME_STORY = 0.75
SAME_PROJECT = 0.6

NO_DOCUMENTS = (
    "There is no story bank yet: you have not added any documents of your own. Add your STAR stories "
    "(.md or .txt, one story per heading) with `interviewer ingest my-stories.md` or the app's "
    "“Your documents” tab, then type /story again."
)


@dataclass
class Story:
    source: str  # the document, "user/<file name>"
    title: str  # its heading path, " > "-joined ("" for a paragraph run before any heading)
    text: str  # the story as written (markup kept)
    sentences: list[str]
    vectors: np.ndarray  # one unit row per sentence
    vector: np.ndarray  # the story as a whole: title and sentences, averaged
    star: dict[str, bool]  # per STAR element: some sentence is it
    axes: dict[str, float]  # per axis: the strongest sentence's probability of evidencing it

    @property
    def name(self) -> str:
        if self.title:
            return self.title.split(" > ")[-1]
        first = self.sentences[0] if self.sentences else self.text
        return " ".join(first.split()[:10]) + ("…" if len(first.split()) > 10 else "")

    @property
    def file(self) -> str:
        return self.source.split("/", 1)[-1]


@dataclass
class Ranked:
    story: Story
    score: float
    question: float  # cosine of the whole story to the question
    key_points: float  # mean over key points of the best sentence cosine
    axes: float  # mean over tested axes of the story's evidence
    tested: list[str] = field(default_factory=list)


# --- judging sentences with the grader's own classifiers ---------------------------------------------


def judge_sentences(texts: list[str], vectors: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per STAR element and per axis, each sentence's probability, from the fitted sentence models.

    These classifiers read a sentence's vector, surface facts and cue counts; none of their inputs
    depends on a question, so they apply to a document's sentences as they do to an answer's."""
    from interviewer.grading.calibration import load_sentence_models
    from interviewer.grading.evidence import AXES, axis_rows, star_rows
    from interviewer.grading.features import axis_term_matrix, star_cue_matrix, surface_matrix

    n = len(texts)
    if n == 0:
        return {e: np.zeros(0) for e in STORY_ELEMENTS}, {a: np.zeros(0) for a in AXES}
    models = load_sentence_models()
    surf = surface_matrix(texts)[0]
    cues, terms = star_cue_matrix(texts), axis_term_matrix(texts)
    star_x, axis_x = star_rows(vectors, surf, cues), axis_rows(vectors, surf, terms)
    star = {e: models.star[e].probabilities(star_x)[:, 1] for e in STORY_ELEMENTS}
    axes = {a: models.axes[a].probabilities(axis_x)[:, 1] for a in AXES}
    return star, axes


def _star_thresholds() -> dict[str, float]:
    from interviewer.grading.calibration import load_calibration

    return load_calibration().star_thresholds


def is_story(star: dict[str, bool]) -> bool:
    """A situation or a task, something done about it, and how it came out."""
    return (star["situation"] or star["task"]) and star["action"] and star["result"]


# --- extracting stories from documents ---------------------------------------------------------------


def _units(document: Any) -> list[tuple[str, str]]:
    """(heading path, text) per section, with STAR-labelled sub-sections folded into the section above."""
    units: list[tuple[str, str]] = []
    for section in document.sections:
        if section.pseudo and _STAR_LABEL.match(section.title.strip()) and units:
            title, text = units[-1]
            units[-1] = (title, f"{text}\n\n{section.title}: {section.body}")
        else:
            title = " > ".join(section.path) if section.level > 0 else ""
            units.append((title, section.body))
    return units


def _paragraphs(text: str) -> list[str]:
    return [p.strip("\n") for p in re.split(r"\n\s*\n", text) if p.strip()]


def _clean(sentence: str) -> str:
    return " ".join(_MARKUP.sub("", sentence).split())


def extract_stories(documents: list[Any]) -> list[Story]:
    """Every story in the documents, in document order. One batched embedding call for all of them."""
    from interviewer.grading.reference import encode

    # Each paragraph of each unit, cut into clean sentences; all embedded and judged at once.
    plan: list[tuple[str, str, list[tuple[str, list[int]]]]] = []  # (source, title, [(paragraph, rows)])
    texts: list[str] = []
    for doc in documents:
        for title, body in _units(doc):
            paragraphs = []
            for paragraph in _paragraphs(body):
                rows = []
                for span in sentence_spans(paragraph):
                    clean = _clean(span.text)
                    if len(words(clean)) >= 3:
                        rows.append(len(texts))
                        texts.append(clean)
                if rows:
                    paragraphs.append((paragraph, rows))
            if paragraphs:
                plan.append((doc.source, title, paragraphs))
    if not texts:
        return []
    titles = sorted({title.split(" > ")[-1] for _, title, _ in plan if title})
    vectors = encode(texts + titles)
    title_vectors = dict(zip(titles, vectors[len(texts) :], strict=True))
    vectors = vectors[: len(texts)]
    star_p, axis_p = judge_sentences(texts, vectors)
    thresholds = _star_thresholds()
    present = {e: star_p[e] >= thresholds.get(e, 0.5) for e in STORY_ELEMENTS}
    for row, text in enumerate(texts):
        label = _LABELLED.match(text)
        if label:
            present[_LABEL_ELEMENT[label.group(1).lower()]][row] = True

    stories: list[Story] = []
    for source, title, paragraphs in plan:
        # Paragraphs run together into one story until a new situation starts after a result.
        runs: list[tuple[list[str], list[int]]] = []
        for paragraph, rows in paragraphs:
            opens = any(present["situation"][r] or present["task"][r] for r in rows)
            if runs and not (opens and any(present["result"][r] for r in runs[-1][1])):
                runs[-1][0].append(paragraph)
                runs[-1][1].extend(rows)
            else:
                runs.append(([paragraph], list(rows)))
        complete = [r for r in runs if is_story({e: bool(present[e][r[1]].any()) for e in STORY_ELEMENTS})]
        if title and len(complete) < 2:
            # A heading holds one story, however its parts are laid out (a Situation paragraph that
            # reads like a result does not cut it in two); only two complete ones under it are two.
            runs = [([p for p, _ in paragraphs], [r for _, rows in paragraphs for r in rows])]
        for run_text, rows in runs:
            star = {e: bool(present[e][rows].any()) for e in STORY_ELEMENTS}
            if not is_story(star):
                continue
            own = vectors[rows]
            whole = own.mean(axis=0)
            name = title.split(" > ")[-1]
            if len(runs) == 1 and name in title_vectors:
                whole = whole + title_vectors[name] / max(1, len(rows)) ** 0.5
            whole = whole / (np.linalg.norm(whole) + 1e-9)
            stories.append(
                Story(
                    source=source,
                    title=title if len(runs) == 1 else "",
                    text="\n\n".join(run_text),
                    sentences=[texts[r] for r in rows],
                    vectors=own,
                    vector=whole.astype(np.float32),
                    star=star,
                    axes={a: float(axis_p[a][rows].max()) for a in axis_p},
                )
            )
    return stories


def rank(stories: list[Story], profiled: Profiled) -> list[Ranked]:
    """The stories, best fit for this question first."""
    profile = profiled.profile
    q = profiled.question_vector
    points = profiled.point_vectors
    tested = list(profile.tested_axes)
    out = []
    for story in stories:
        to_question = float(story.vector @ q)
        to_points = float((points @ story.vectors.T).max(axis=1).mean()) if len(points) else to_question
        on_axes = float(np.mean([story.axes.get(a, 0.0) for a in tested])) if tested else 0.0
        score = (
            RANK_WEIGHTS["question"] * to_question
            + RANK_WEIGHTS["key_points"] * to_points
            + RANK_WEIGHTS["axes"] * on_axes
        )
        out.append(
            Ranked(story, round(score, 4), round(to_question, 4), round(to_points, 4), round(on_axes, 4), tested)
        )
    return sorted(out, key=lambda r: -r.score)


# --- the bank of one candidate's documents -----------------------------------------------------------


@dataclass
class StoryBank:
    documents: int  # how many of the candidate's documents were read
    stories: list[Story]
    problems: list[str] = field(default_factory=list)  # documents that could not be read, and why


_lock = threading.Lock()
_banks: dict[tuple[str, tuple[tuple[str, int, int], ...]], StoryBank] = {}


def load_bank(settings: Settings) -> StoryBank:
    """The story bank of the documents the candidate added (`<home>/documents`), re-read when they change."""
    from interviewer.corpus import USER_TRACK, document_files, parse_file
    from interviewer.documents import DocumentError

    files = [f for f in document_files(settings) if f.track == USER_TRACK]
    key = (
        str(settings.documents_dir),
        tuple((f.source, f.path.stat().st_mtime_ns, f.path.stat().st_size) for f in files),
    )
    with _lock:
        if key in _banks:
            return _banks[key]
    documents, problems = [], []
    for file in files:
        try:
            documents.append(parse_file(file, settings).document)
        except (DocumentError, OSError) as exc:
            problems.append(str(exc))
    bank = StoryBank(len(documents), extract_stories(documents), problems)
    with _lock:
        _banks.clear()  # one candidate's documents at a time
        _banks[key] = bank
    return bank


def hint_text(bank: StoryBank, ranked: list[Ranked]) -> str:
    """What the interviewer says to /story: the best-fitting stories, or why there are none."""
    if bank.documents == 0:
        return NO_DOCUMENTS
    if not ranked:
        return (
            f"None of your {bank.documents} document(s) holds a complete STAR story the interviewer can use "
            "(a situation or task, what you did, and the result). Write each story under its own heading, "
            "with the numbers, then type /story again."
        )
    from interviewer.grading.rubric import rubric

    names = {a.id: a.name for a in rubric().axes}
    lines = ["From your own documents, the stories that fit this question best:"]
    for n, r in enumerate(ranked[:SHOWN_STORIES], 1):
        missing = [e.replace("_", " ") for e in STORY_ELEMENTS if not r.story.star[e]]
        strong = [names.get(a, a) for a in r.tested if r.story.axes.get(a, 0.0) >= 0.5]
        parts = [f"{n}. “{r.story.name}” ({r.story.file}), fit {r.score:.2f}"]
        if strong:
            parts.append(f"shows {', '.join(strong)}, which this question tests")
        if missing:
            parts.append(f"add the {' and the '.join(missing)} when you tell it")
        lines.append("; ".join(parts) + ".")
    lines.append("\nTell the one that fits in your own words; the panel grades what you say, not the document.")
    return "\n".join(lines)


def story_hint(settings: Settings, index: Index) -> Any:
    """The /story hook for an Interviewer: question -> what to say."""

    def hint(question: Question) -> str:
        bank = load_bank(settings)
        if bank.documents == 0 or not bank.stories:
            return hint_text(bank, [])
        from interviewer.profiles import profile_question

        return hint_text(bank, rank(bank.stories, profile_question(question.text, index)))

    return hint


# --- across the answers of one session ---------------------------------------------------------------

_QUANTITY = re.compile(
    r"(?<![\w.$£€])(?P<cur>[$£€])?\s?(?P<num>\d+(?:[.,]\d+)?)\s?"
    r"(?P<unit>%|percent\b|x\b|×|k\b|m\b|bn\b|million\b|billion\b|ms\b|milliseconds?\b|seconds?\b|"
    r"minutes?\b|hours?\b|days?\b|weeks?\b|months?\b|quarters?\b|years?\b|[tgpm]b\b)?",
    re.IGNORECASE,
)
_SCALE = {"k": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_UNIT = {"percent": "%", "×": "x", "milliseconds": "ms", "millisecond": "ms"}


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_DOWN = _wordset(
    "cut cuts reduce reduced reducing lower lowered fell fall drop dropped dropping save saved saving savings down "
    "decrease decreased shrank shrink slashed trimmed less fewer"
)
_UP = _wordset("grew grow grown increase increased rose rise raised up doubled tripled more higher boosted")
_STOP = _wordset(
    "a an the of to in on at by for from with and or but we i our my us it its this that was were is are be been "
    "about over under into than then so as per each every all after before within across went had has have "
    "while end kept got made also just one two three four five six seven eight nine ten last first"
)
_WINDOW = 5  # words either side of a number that say what it measures


@dataclass(frozen=True)
class Quantity:
    answer: int  # the exchange it was said in
    value: float
    unit: str
    about: frozenset[str]  # the content words around it (what it measures)
    direction: str  # "down", "up" or ""
    quote: str  # the clause around it, verbatim


def quantities(index: int, answer: str) -> list[Quantity]:
    """Every number in an answer with its unit and what it measures."""
    out = []
    for span in sentence_spans(answer):
        tokens = list(re.finditer(r"\S+", span.text))
        for m in _QUANTITY.finditer(span.text):
            value = float(m.group("num").replace(",", ""))
            unit = (m.group("unit") or "").lower()
            if unit in _SCALE:
                value, unit = value * _SCALE[unit], ""
            unit = _UNIT.get(unit, unit).rstrip("s") if unit not in ("ms", "%") else unit
            if m.group("cur"):
                unit = m.group("cur") + unit
            at = next((i for i, t in enumerate(tokens) if t.end() > m.start()), 0)
            lo, hi = max(0, at - _WINDOW), min(len(tokens), at + _WINDOW + 1)
            near = [re.sub(r"[^\w-]", "", t.group().lower()) for t in tokens[lo:hi]]
            if not unit:  # a bare count: what follows names it ("120 tables")
                following = re.match(r"\s*([A-Za-z][\w-]*)", span.text[m.end() :])
                if following is None or following.group(1).lower() in _STOP or 1800 <= value <= 2100:
                    continue  # a number that names nothing, or a year
                unit = following.group(1).lower().rstrip("s")
            about = frozenset(w for w in near if w and not w[0].isdigit() and w not in _STOP | _DOWN | _UP)
            direction = "down" if _DOWN & set(near) else "up" if _UP & set(near) else ""
            start, end = _clause(span.text, m.start(), m.end())
            quote = answer[span.start + start : span.start + end]
            out.append(Quantity(index, value, unit, about - {unit}, direction, quote))
    return out


_CLAUSE_BREAK = re.compile(r"[,;:()]|\s(?:and|but|while|whereas|so)\s|\.(?=\s|$)")
MAX_QUOTE_WORDS = 12


def _clause(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The clause around sentence[start:end] (between punctuation or a conjunction), at most
    MAX_QUOTE_WORDS words around the number: a quote that says what the number is, verbatim."""
    lo = max((m.end() for m in _CLAUSE_BREAK.finditer(sentence, 0, start)), default=0)
    after = _CLAUSE_BREAK.search(sentence, end)
    hi = after.start() if after else len(sentence)
    clause = sentence[lo:hi]
    if len(clause.split()) > MAX_QUOTE_WORDS:  # a long clause: the words nearest the number
        tokens = list(re.finditer(r"\S+", sentence[lo:hi]))
        at = next((i for i, t in enumerate(tokens) if lo + t.end() > start), 0)
        first, last = max(0, at - 5), min(len(tokens) - 1, at + 5)
        lo, hi = lo + tokens[first].start(), lo + tokens[last].end()
    while lo < hi and sentence[lo].isspace():
        lo += 1
    while hi > lo and sentence[hi - 1] in " \t.,;:":
        hi -= 1
    return lo, hi


def _same_quantity(a: Quantity, b: Quantity) -> bool:
    return (
        a.unit == b.unit
        and bool(a.about & b.about)
        and (not a.direction or not b.direction or a.direction == b.direction)
    )


def consistency(state: SessionState) -> dict[str, list[dict[str, Any]]]:
    """Stories retold across questions, and numbers that contradict between answers about one project."""
    return compare_answers([(i + 1, e.combined_answer) for i, e in enumerate(state.exchanges)])


def compare_answers(answers: list[tuple[int, str]]) -> dict[str, list[dict[str, Any]]]:
    """`answers`: (question number, everything said for it). Empty answers are left out."""
    from interviewer.grading.evidence import visible
    from interviewer.grading.reference import encode

    answered = [(n, visible(text)) for n, text in answers if text.strip()]
    found: dict[str, list[dict[str, Any]]] = {"story_reuse": [], "contradictions": []}
    if len(answered) < 2:
        return found
    whole = {}
    for n, text in answered:
        v = encode([s.text for s in sentence_spans(text)] or [text]).mean(axis=0)
        whole[n] = v / (np.linalg.norm(v) + 1e-9)
    for k, (n, text_n) in enumerate(answered):
        for m, text_m in answered[k + 1 :]:
            similarity = float(whole[n] @ whole[m])
            if similarity >= SAME_STORY:
                found["story_reuse"].append({"questions": [n, m], "similarity": round(similarity, 3)})
            if similarity < SAME_PROJECT:
                continue
            mine = quantities(n, text_n)
            for b in quantities(m, text_m):
                same = [a for a in mine if _same_quantity(a, b)]
                if same and all(a.value != b.value for a in same):
                    found["contradictions"].append(
                        {"questions": [n, m], "first": same[0].quote, "second": b.quote, "unit": b.unit}
                    )
    return found


def risk_lines(found: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = []
    for r in found["story_reuse"]:
        q1, q2 = r["questions"]
        lines.append(
            f"Q{q1} and Q{q2} tell the same story; a panel hears that as a thin bank. Keep a different story "
            "ready for each question"
        )
    for c in found["contradictions"]:
        q1, q2 = c["questions"]
        lines.append(
            f'Q{q1} says "{c["first"]}" and Q{q2} says "{c["second"]}" about what reads as the same project; '
            "a panel will ask which number is true"
        )
    return lines
