"""Generated attacks on the grader: the padding a real candidate (or a script) would try.

Every generator takes a `random.Random`, so a seed fixes the output and a different seed gives a
different draw; nothing here is a fixed list of sentences to memorise. Each family composes templates
with vocabularies and random numbers, so thousands of distinct sentences come out:

- `padding`: content-free sentences in the first person, past tense, with numbers and units
  ("I held 4 weekly meetings of 30 minutes", "We tracked 8 items on a board"). They have the grammar
  and the numbers of evidence and say nothing about any question.
- `platitudes`: generic claims built from the question's own words ("When it comes to schema drift,
  I always focus on what matters most"): on topic by vocabulary, empty by content.
- `buzzwords`: leadership and engineering buzzwords (and the open-source rubric's own evidence terms)
  inside sentence frames, so the padding reads as prose rather than a term list.
- `neighbour_*`: a strong answer (Hire or Strong Hire) to a different question, nearest to this one by
  question embedding: a few of its sentences appended, all of it appended, or substituted outright.
  Real evidence, about the wrong question.
- `interleave`: a strong answer with a filler sentence after each of its sentences. The evidence is all
  still there; the grader should not lose it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

# --- content-free padding ------------------------------------------------------------------------

# Slots: {n} small count, {k} another count, {mins} minutes, {hours} hours, {pages}, {rows}, {room},
# {hour}, {km}; words from the vocabularies below. Each template is one first-person, past-tense
# sentence with at least one number and nothing a panel could score.
PADDING_TEMPLATES: tuple[str, ...] = (
    "I held {n} {cadence} meetings of {mins} minutes.",
    "We tracked {n} items on a {board}.",
    "I sent {n} emails to {people} on {weekday}.",
    "We met in room {room} for {mins} minutes every {weekday}.",
    "I wrote {pages} pages of notes over {k} weeks.",
    "I spent {hours} hours reading the {doc} in week {k}.",
    "We ran {n} sessions with {people} in {month}.",
    "I updated the {board} {n} times a day.",
    "Our team had {n} people and {k} open seats in {month}.",
    "I booked {n} calls of {mins} minutes with {people}.",
    "We moved {n} cards to the next column on {weekday}.",
    "I reviewed {n} documents of about {pages} pages each.",
    "We kept {n} spreadsheets with {rows} rows each.",
    "I travelled to the {city} office {n} times in {month}.",
    "We ordered {n} pizzas for the team lunch in week {k}.",
    "I scheduled {n} one-on-ones of {mins} minutes every {period}.",
    "We created {n} channels in {chat} over {k} days.",
    "I drew {n} diagrams on the whiteboard in room {room}.",
    "We printed {n} copies of the {doc} for {people}.",
    "I took {n} days off in {month} and came back on a {weekday}.",
    "We renamed {n} folders on the shared drive in {mins} minutes.",
    "I answered {n} messages before {hour} a.m. each day.",
    "We collected {rows} sticky notes during a {mins}-minute session.",
    "I counted {n} attendees at the {cadence} all-hands.",
    "We spent {hours} hours in {n} workshops during {month}.",
    "I filled in {n} forms for {people} in week {k}.",
    "Our stand-up lasted {mins} minutes on {n} days in a row.",
    "I walked {km} kilometres between buildings on {weekday}.",
    "We labelled {rows} boxes during the office move in {month}.",
    "I joined {n} video calls with {people} on {weekday}.",
    "We drank {n} pots of coffee during a {hours}-hour planning day.",
    "I archived {rows} old pages in the wiki over {k} evenings.",
    "We shared {n} slides with {people} at {hour} p.m.",
    "I tidied {n} calendar invites for {people} in {mins} minutes.",
    "We had {n} agenda items for a {mins}-minute sync in {month}.",
    "I read {n} chapters of a management book over {k} weekends.",
    "We booked {n} meeting rooms for {hours} hours on {weekday}.",
    "I opened {n} tabs and closed {k} of them by {hour} p.m.",
)
PADDING_VOCAB: dict[str, tuple[str, ...]] = {
    "cadence": ("weekly", "daily", "monthly", "fortnightly", "quarterly", "biweekly"),
    "board": ("board", "wall", "whiteboard", "tracker", "kanban board", "shared sheet"),
    "people": ("the team", "my manager", "two peers", "the group", "everyone involved", "the other leads"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "doc": ("handbook", "team wiki", "onboarding guide", "meeting notes", "quarterly plan", "minutes"),
    "month": ("January", "March", "April", "June", "September", "October", "November"),
    "city": ("London", "Berlin", "Austin", "Dublin", "Toronto", "Singapore"),
    "period": ("week", "two weeks", "month"),
    "chat": ("Slack", "Teams", "the chat tool", "our messenger"),
}
PADDING_NUMBERS: dict[str, Callable[[random.Random], int | str]] = {
    "n": lambda r: r.randint(2, 40),
    "k": lambda r: r.randint(2, 12),
    "mins": lambda r: r.choice((10, 15, 20, 25, 30, 45, 60, 90)),
    "hours": lambda r: r.randint(2, 9),
    "pages": lambda r: r.randint(3, 60),
    "rows": lambda r: r.randint(20, 900),
    "room": lambda r: r.randint(101, 612),
    "hour": lambda r: r.randint(7, 11),
    "km": lambda r: r.choice(("1.5", "2", "3", "4.5", "6")),
}
_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, rng: random.Random, extra: dict[str, str] | None = None) -> str:
    def value(m: re.Match[str]) -> str:
        slot = m.group(1)
        if extra and slot in extra:
            return extra[slot]
        if slot in PADDING_NUMBERS:
            return str(PADDING_NUMBERS[slot](rng))
        return rng.choice(PADDING_VOCAB[slot])

    return _SLOT.sub(value, template)


def padding_sentence(rng: random.Random) -> str:
    return _fill(rng.choice(PADDING_TEMPLATES), rng)


# --- platitudes from the question's own words ------------------------------------------------------

PLATITUDE_TEMPLATES: tuple[str, ...] = (
    "When it comes to {topic}, I always focus on what matters most.",
    "For me, {topic} has always been about people and trust.",
    "I have always believed that {topic} deserves real attention.",
    "{Topic} is something I care deeply about as a leader.",
    "In my experience, {topic} comes down to communication.",
    "I made sure {topic} stayed a priority for everyone.",
    "I always try to bring the right mindset to {topic}.",
    "Getting {topic} right was important to me and to the team.",
    "I think {topic} is ultimately about doing the right thing.",
    "We always kept {topic} front and centre in everything we did.",
    "I learned a lot about {topic} over the years.",
    "{Topic} was never easy, but I always stayed focused on the goal.",
    "My philosophy on {topic} is simple: keep everyone aligned.",
    "I brought a lot of energy and passion to {topic}.",
    "Balancing {topic} with everything else was a key part of my role.",
    "I see {topic} as a journey rather than a destination.",
)
STOPWORDS = frozenset(
    re.findall(
        r"\S+",
        "a an the and or but if then so of to in on at by for with from into about over under as is are was "
        "were be been being do does did doing have has had having you your yours we our us i me my they them "
        "their it its this that these those what which who whom whose when where why how would could should "
        "will can may might must shall not no yes than too very just also still more most less least such own "
        "same other each every any some all both few many much one two three first last tell describe walk "
        "give example time explain approach handle say get make made think thought way ve re ll s t "
        # common verbs of questions: "wants", "shows" are not topics
        "want wants need needs show shows run runs lead leads build builds keep know find take come asked ask "
        "says said like going went use used work worked help helped "
        "between across after before during without within through against among while because around behind "
        "beyond despite toward towards upon via per versus ",
    )
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def question_topics(question: str) -> list[str]:
    """Phrases of the question's own content words: runs of 1-3 consecutive non-stopwords."""
    runs: list[list[str]] = [[]]
    for match in _WORD.finditer(question):
        word = match.group(0)
        if word.lower() in STOPWORDS or len(word) < 3:
            runs.append([])
        else:
            runs[-1].append(word if word.isupper() else word.lower())
    phrases: list[str] = []
    for run in runs:
        for size in (3, 2):
            phrases += [" ".join(run[i : i + size]) for i in range(len(run) - size + 1)]
        phrases += [w for w in run if len(w) >= 6]  # a single word only when it is long enough to name a topic
    return list(dict.fromkeys(phrases)) or [w for run in runs for w in run] or ["this"]


def platitude_sentence(rng: random.Random, question: str) -> str:
    topic = rng.choice(question_topics(question))
    return _fill(rng.choice(PLATITUDE_TEMPLATES), rng, {"topic": topic, "Topic": topic[:1].upper() + topic[1:]})


# --- paraphrased buzzwords -----------------------------------------------------------------------

BUZZWORDS: tuple[str, ...] = (
    "alignment",
    "synergy",
    "an ownership culture",
    "accountability",
    "operational excellence",
    "customer obsession",
    "data-driven decision-making",
    "scalability",
    "resilience",
    "observability",
    "cost efficiency",
    "psychological safety",
    "a growth mindset",
    "cross-functional collaboration",
    "stakeholder management",
    "continuous improvement",
    "best practices",
    "a north-star vision",
    "engineering velocity",
    "platform thinking",
    "technical excellence",
    "a bias for action",
    "radical transparency",
    "empowerment",
    "agility",
    "innovation",
    "end-to-end ownership",
    "a blameless culture",
    "world-class reliability",
    "strategic alignment",
    "value delivery",
    "long-term thinking",
)
BUZZWORD_FRAMES: tuple[str, ...] = (
    "We drove {a} and {b} across the organisation.",
    "I championed {a}, which really unlocked {b}.",
    "Our approach was built on {a}, {b} and {c}.",
    "I always led with {a} and {b}.",
    "The team embraced {a} and, with it, {b}.",
    "I put {a} at the heart of how we worked, alongside {b}.",
    "Everything we did came back to {a} and {c}.",
    "I fostered {a} while never losing sight of {b}.",
    "We doubled down on {a} and {b} every quarter.",
    "My leadership style centred on {a}, {b} and {c}.",
    "I worked hard to build {a} and {b} into our DNA.",
    "We made {a} a core value and {b} a habit.",
    "By leaning into {a}, we created real {b}.",
    "I kept pushing for {a}, {b} and, above all, {c}.",
)


def buzzword_sentence(rng: random.Random, extra_terms: Sequence[str] = ()) -> str:
    """A frame filled with buzzwords; `extra_terms` (the rubric's own evidence terms) join the pool."""
    pool = list(dict.fromkeys([*BUZZWORDS, *extra_terms]))
    a, b, c = rng.sample(pool, 3)
    return rng.choice(BUZZWORD_FRAMES).format(a=a, b=b, c=c)


def rubric_terms() -> list[str]:
    """The evidence terms the open-source rubric publishes: an attacker can read them."""
    from interviewer.grading.rubric import rubric

    return rubric().all_evidence_terms()


# --- composing and placing -----------------------------------------------------------------------


def sentences(make: Callable[[], str], count: int) -> str:
    """`count` distinct generated sentences, as one paragraph."""
    out: list[str] = []
    for _ in range(count * 20):
        if len(out) == count:
            break
        s = make()
        if s not in out:
            out.append(s)
    return " ".join(out)


def split_sentences(text: str) -> list[str]:
    from interviewer.grading.segments import sentence_spans

    return [s.text for s in sentence_spans(text)]


def interleave(strong: str, filler: Callable[[], str]) -> str:
    """The strong answer's sentences, each followed by one filler sentence (the answer's words intact)."""
    return " ".join(f"{s} {filler()}" for s in split_sentences(strong))


def neighbour_excerpt(rng: random.Random, answer: str, count: int) -> str:
    """`count` consecutive sentences of an answer, from a random start."""
    parts = split_sentences(answer)
    if len(parts) <= count:
        return " ".join(parts)
    start = rng.randrange(len(parts) - count + 1)
    return " ".join(parts[start : start + count])


@dataclass(frozen=True)
class Source:
    """A strong answer an attacker can borrow from, and its question."""

    id: str
    question: str
    answer: str
    similarity: float | None = None  # to the attacked question, when chosen as its neighbour


def nearest_neighbours(questions: Sequence[str], pool: Sequence[Source]) -> dict[str, Source | None]:
    """For each question, the pool's answer to the nearest *different* question by MiniLM embedding.

    "Different" means another question text whose embedding is below the grader's twin threshold: a
    near-duplicate wording of the same question would be a fair answer, not an attack."""
    from interviewer.grading.evidence import TWIN_QUESTION
    from interviewer.grading.reference import encode

    unique = list(dict.fromkeys(questions))
    pool_questions = list(dict.fromkeys(s.question for s in pool))
    if not unique or not pool_questions:
        return dict.fromkeys(unique)
    sims = encode(unique) @ encode(pool_questions).T
    by_question: dict[str, list[Source]] = {}
    for s in pool:
        by_question.setdefault(s.question, []).append(s)
    found: dict[str, Source | None] = {}
    for i, q in enumerate(unique):
        order = sorted(range(len(pool_questions)), key=lambda j: -sims[i, j])
        best = next((j for j in order if pool_questions[j] != q and sims[i, j] < TWIN_QUESTION), None)
        found[q] = (
            replace(by_question[pool_questions[best]][0], similarity=round(float(sims[i, best]), 4))
            if best is not None
            else None
        )
    return found


__all__ = [
    "BUZZWORDS",
    "BUZZWORD_FRAMES",
    "PADDING_TEMPLATES",
    "PLATITUDE_TEMPLATES",
    "Source",
    "buzzword_sentence",
    "interleave",
    "nearest_neighbours",
    "neighbour_excerpt",
    "padding_sentence",
    "platitude_sentence",
    "question_topics",
    "rubric_terms",
    "sentences",
    "split_sentences",
]
