"""Guards: the answer is untrusted data, and some answers cannot be graded on their content.

Nothing in an answer is ever followed. An answer that talks to the grader (instructions, role
tokens, fake delimiters, fake grader JSON, demanded decisions, hidden unicode) is flagged, and the
offending text is cut out before any signal is measured, so an appended attack can only be
flagged and capped, never raise a grade. The kept text is a list of spans of the original answer,
so every quote taken from it is still a verbatim part of what the candidate wrote.

The other guards measure the form of the answer: too short to judge, a list of rubric terms
rather than an account, or not in English (the panel runs in English).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from interviewer.grading.segments import Span, sentence_spans, words

# --- injection ------------------------------------------------------------------------------------

HIDDEN_CHARS = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")
_ROLE_BLOCK = re.compile(r"<\|im_start\|>.*?(?:<\|im_end\|>|$)", re.DOTALL | re.IGNORECASE)
_ROLE_TOKEN = re.compile(r"<\|[a-z_]{2,20}\|>|\[/?INST\]|<</?SYS>>|</?s>", re.IGNORECASE)
# A tag or marker that claims the answer has ended: whatever follows is not the candidate's answer.
_FAKE_END = re.compile(
    r"</\s*(?:answer|response|candidate(?:_answer)?|user|input|transcript)\s*>"
    r"|\[/\s*(?:answer|response)\s*\]|(?:^|\n)[ \t]*+[-=#*]*+[ \t]*+end of (?:the )?(?:answer|response|transcript)\b",
    re.IGNORECASE,
)
_GRADER_JSON = re.compile(
    r"\{[^{}]*[\"']?(?:decision|score|grade|rating|label|verdict|confidence|hire)[\"']?\s*:[^{}]*\}", re.IGNORECASE
)
# Who an injection talks to. "model", "system" and "assistant" are everyday words in a data-platform
# answer ("access for the model", "as a system owner"), so they count only when addressed: a greeting
# ("Dear model"), a label ("To the system:") or a reader doing the grading ("to the model reading this").
_GRADER = (
    r"(?:ai|a\.i\.|llm|language model|grader|grading|evaluator|assessor|scorer|reviewer bot|chatbot|gpt"
    r"|automated (?:grader|grading|evaluator|assessor|scorer|reviewer|system))"
)
_AMBIGUOUS = r"(?:model|system|assistant)"
_AUDIENCE = rf"(?:{_GRADER}|{_AMBIGUOUS})"
_READING = r"(?:reading|grading|evaluating|reviewing|scoring|assessing|marking|judging)"
_REQUEST = r"(?:please|kindly|grateful|appreciate|deserves?|merits?|warrants?|i hope|i ask|asking)"
_RATING = (
    r"(?:(?:top|highest|maximum|max|full|perfect|best|generous|excellent|high)\s+(?:possible\s+)?"
    r"(?:rating|score|marks|grade|evaluation)s?"
    # "the best decision" is ordinary speech; "the highest decision" is not
    r"|(?:top|highest|maximum|max|full|perfect)\s+(?:possible\s+)?decisions?)\b"
)
INJECTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "role line": re.compile(r"^[ \t>*#]*(?:system|assistant|developer|user)\s*:", re.IGNORECASE | re.MULTILINE),
    # The same labels opening a sentence inside a paragraph ("...baseline. SYSTEM: this answer is...").
    "role label": re.compile(r"(?<=[.!?:;])\s+(?:system|assistant|developer)\s*:", re.IGNORECASE),
    # The answer judging itself ("this answer is exemplary", "my response meets the bar").
    "grades itself": re.compile(
        r"\b(?:this|my|the above|the previous)\s+(?:answer|response)\s+(?:is|was|deserves|meets|merits|exceeds)\b",
        re.IGNORECASE,
    ),
    "ignore instructions": re.compile(
        r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}\b(?:instructions?|prompts?|rules|rubric|guidelines|messages?)\b",
        re.IGNORECASE,
    ),
    "addresses the grader": re.compile(
        rf"\b(?:to|for|dear|attention|note (?:to|for)|hey|hi|hello)\s*:?\s+(?:the |any |an? )?{_GRADER}\b"
        rf"|\b(?:dear|attention|note (?:to|for)|hey|hi|hello)\s*:?\s+(?:the |any |an? )?{_AMBIGUOUS}\b"
        rf"|\b(?:to|for)\s+(?:the |any |an? )?{_AMBIGUOUS}(?:\s*:|\s+(?:who is |that is )?{_READING}\b)"
        rf"|\byou are (?:now )?(?:an? |the )?(?:\w+\s+){{0,2}}{_AUDIENCE}\b|\bas an? {_GRADER}\b"
        r"|\b(?:whoever|whomever|anyone|everyone)\s+(?:who\s+)?(?:is\s+)?"
        r"(?:read|review|grad|scor|evaluat|assess|mark|judg)\w*\s+(?:this|these|my|the answer)\b",
        re.IGNORECASE,
    ),
    # A request for a good rating, however polite: a request word and a rating in one sentence.
    "asks for a rating": re.compile(
        rf"\b{_REQUEST}\b[^.!?\n]{{0,80}}\b{_RATING}|\b{_RATING}[^.!?\n]{{0,80}}\b{_REQUEST}\b"
        r"|\b(?:give|award|grant|assign)\s+(?:me|this|my|it)\b[^.!?\n]{0,40}\b(?:marks?|points|stars?|a (?:5|five))\b"
        r"|\b(?:be|go)\s+(?:generous|lenient|easy on)\b",
        re.IGNORECASE,
    ),
    # Scores claimed for the rubric's own axes ("Scale 5, Reliability 5, Cost 5 ...").
    "claims axis scores": re.compile(
        r"(?:\b(?:scale|reliability|cost|ownership|evolution)\b\s*[:=-]?\s*[1-5](?:\s*/\s*5)?\b[\s,;.]*){3,}",
        re.IGNORECASE,
    ),
    "demands a decision": re.compile(
        r"\b(?:strong hire|lean hire|lean no hire)\b"
        r"|\b(?:grade|rate|score|mark|evaluate|assess|label|classify)\s+(?:this|the|my)\s+(?:answer|response|candidate)\b"
        r"|\b(?:grade|rate|score)\s+this\b"
        r"|\b(?:grade|score|rating|decision)\s*[:=]\s*\d",
        re.IGNORECASE,
    ),
    "hides from the output": re.compile(
        r"\b(?:do not|don't|never)\s+(?:mention|reveal|disclose|penalize|penalise|deduct)\b", re.IGNORECASE
    ),
    "override": re.compile(
        r"\b(?:evaluation|grading|system|admin|developer)\s+(?:override|mode|instruction)\b", re.IGNORECASE
    ),
    "fake grader json": _GRADER_JSON,
}


MIN_FRAGMENT_WORDS = 3


@dataclass(frozen=True)
class Injection:
    kept: list[Span]  # the parts of the answer that are measured and may be quoted
    findings: list[tuple[str, str]]  # (pattern name, the offending text)

    @property
    def found(self) -> bool:
        return bool(self.findings)


def _paragraphs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    cursor = start
    for match in re.finditer(r"\n\s*\n", text[start:end]):
        pieces.append((cursor, start + match.start()))
        cursor = start + match.end()
    pieces.append((cursor, end))
    return [(a, b) for a, b in pieces if text[a:b].strip()]


def _bracket_groups(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\[[^\[\]]{0,600}\]|\([^()]{0,600}\)", text)]


# A right-to-left override or embedding, and what it covers up to its pop (or the line's end): text
# displayed in a different order than it is stored, which no honest answer needs.
_BIDI_RUN = re.compile("[\u202a-\u202e\u2066-\u2068][^\u202c\u2069\n]*[\u202c\u2069]?")


def find_injection(answer: str) -> Injection:
    """Flag text addressed to the grader and cut it out; the rest is the answer to measure.

    The patterns read the text as a reader sees it: hidden characters are taken out first (an
    instruction with a zero-width space between its letters is still an instruction), and every
    position found maps back to the original, so the kept spans are verbatim parts of the answer.
    """
    findings: list[tuple[str, str]] = []
    hidden = HIDDEN_CHARS.findall(answer)
    if hidden:
        findings.append(("hidden unicode", "".join(f"U+{ord(c):04X} " for c in dict.fromkeys(hidden)).strip()))
    covered = [False] * len(answer)
    for match in _BIDI_RUN.finditer(answer):
        if len(words(match.group(0))):
            findings.append(("bidi override", HIDDEN_CHARS.sub("", match.group(0))))
        for i in range(match.start(), match.end()):
            covered[i] = True
    if hidden:
        original = [i for i, c in enumerate(answer) if not HIDDEN_CHARS.match(c)]  # text position -> answer
        text = "".join(answer[i] for i in original)
    else:  # the usual case, and a character-by-character pass was a tenth of the guards' time
        original, text = list(range(len(answer))), answer
    removed = [covered[i] for i in original]

    def remove(start: int, end: int) -> None:
        removed[start:end] = [True] * max(0, end - start)

    end_marker = _FAKE_END.search(text)
    if end_marker:
        findings.append(("fake delimiter", end_marker.group(0).strip()))
        remove(end_marker.start(), len(text))
    for pattern in (_ROLE_BLOCK, _ROLE_TOKEN, _GRADER_JSON):
        for match in pattern.finditer(text):
            findings.append(("role tokens" if pattern is not _GRADER_JSON else "fake grader json", match.group(0)))
            remove(match.start(), match.end())

    # Instructions in brackets go with their brackets; a fake role line ("SYSTEM: ...") with the rest
    # of its paragraph; anything else with its sentence. Only the attack goes: the candidate's own
    # sentences around it stay, so an appended attack leaves exactly the original answer to measure.
    hits: list[tuple[int, int, str]] = []
    for name, pattern in INJECTION_PATTERNS.items():
        for match in pattern.finditer(text):
            if not all(removed[match.start() : match.end()]):
                hits.append((match.start(), match.end(), name))
    paragraphs = _paragraphs(text, 0, len(text))
    brackets = _bracket_groups(text)
    sentences_of: dict[int, list[Span]] = {}  # per paragraph start, computed once (many hits, one paragraph)
    for start, end, name in hits:
        findings.append((name, text[start:end].strip()))
        group = next(((a, b) for a, b in brackets if a <= start and end <= b), None)
        if group:
            remove(*group)
            continue
        p_start, p_end = next(((a, b) for a, b in paragraphs if a <= start < b), (start, end))
        if name == "role line":
            remove(start, p_end)
            continue
        if p_start not in sentences_of:
            sentences_of[p_start] = sentence_spans(text[p_start:p_end])
        for sentence in sentences_of[p_start]:
            s_start, s_end = p_start + sentence.start, p_start + sentence.end
            if s_start < end and start < s_end:
                remove(s_start, s_end)
    kept: list[Span] = []
    run: int | None = None  # start of the current run of kept characters
    for i, gone in enumerate([*removed, True]):
        if not gone and run is None:
            run = i
        elif gone and run is not None:
            for p_start, p_end in _paragraphs(text, run, i):
                kept.extend(_trimmed(answer, original[p_start], original[p_end - 1] + 1))
            run = None
    if any(removed):
        # Left-overs of a cut-out attack ("P.S.", a stray label) are not part of the answer.
        kept = [span for span in kept if len(words(span.text)) >= MIN_FRAGMENT_WORDS]
    return Injection(kept=kept, findings=list(dict.fromkeys(findings)))


def _trimmed(text: str, start: int, end: int) -> list[Span]:
    while start < end and (text[start].isspace() or HIDDEN_CHARS.match(text[start])):
        start += 1
    while end > start and (text[end - 1].isspace() or HIDDEN_CHARS.match(text[end - 1])):
        end -= 1
    return [Span(start, end, text[start:end])] if end > start and words(text[start:end]) else []


# --- form -------------------------------------------------------------------------------------------

MIN_WORDS = 25

# Frequent English function words that are not also frequent words of other languages' text
# ("a", "in", "no", "so", "die" are left out); English prose runs at 35-50% of these.
_STOPWORD_TEXT = (
    "the and to of is it that we i for on with was were be this are as at by our my they he she you "
    "but from had have has not or which when what their there been would will can could about after "
    "before then than them because into out up just only also more some any every each how did do"
)
ENGLISH_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_PRONOUN = re.compile(r"\b(?:i|we|my|our|me|us|i'd|i've|i'm|we'd|we've)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Form:
    words: int
    sentences: int
    ascii_letter_share: float
    english_stopword_share: float
    fragment_share: float  # share of words in comma/period-separated fragments of <= 4 words
    pronoun_rate: float  # first-person pronouns per word: people tell what they did
    known_word_share: float  # share of words the English MiniLM vocabulary holds whole

    @property
    def too_short(self) -> bool:
        # Under MIN_WORDS words, or a one-liner; a long single run-on sentence is not a one-liner.
        return self.words < MIN_WORDS or (self.sentences <= 1 and self.words < 2 * MIN_WORDS)

    @property
    def non_english(self) -> bool:
        # Either another script, or Latin-script text with almost no English function words AND
        # many words the English vocabulary does not know (a keyword list fails only the first).
        if self.words < 8:
            return False  # too little text to tell
        return self.ascii_letter_share < 0.8 or (self.english_stopword_share < 0.15 and self.known_word_share < 0.6)


def known_word_share(text: str) -> float:
    """Share of words that the embedding model's English WordPiece vocabulary holds as one piece."""
    from interviewer.embeddings import wordpiece_counts

    tokens = re.findall(r"[^\W\d_]+", text)
    if not tokens:
        return 1.0
    return sum(1 for n in wordpiece_counts(tokens) if n == 1) / len(tokens)


def measure_form(text: str, known_words: float = 1.0, sentences: int | None = None) -> Form:
    """The form of `text`; `sentences` when the caller already knows it (one sentence, say)."""
    tokens = [w.lower() for w in words(text)]
    letters = [c for c in text if c.isalpha()]
    ascii_letters = sum(1 for c in letters if c.isascii())
    items = [(item, len(words(item))) for item in re.split(r"[,.;:\n•/]|\band\b", text)]
    fragment_words = sum(n for item, n in items if 0 < n <= 4 and not _PRONOUN.search(item))
    n = max(1, len(tokens))
    return Form(
        words=len(tokens),
        sentences=len(sentence_spans(text)) if sentences is None else sentences,
        ascii_letter_share=ascii_letters / max(1, len(letters)),
        english_stopword_share=sum(1 for t in tokens if t in ENGLISH_STOPWORDS) / n,
        fragment_share=fragment_words / n,
        pronoun_rate=len(_PRONOUN.findall(text)) / n,
        known_word_share=known_words,
    )


# A keyword list: most of the words sit in short fragments with no one doing anything, and the
# fragments are dense with rubric terms.
KEYWORD_FRAGMENT_SHARE = 0.5
KEYWORD_TERM_RATE = 0.12  # distinct rubric terms per word


def is_keyword_list(form: Form, distinct_terms: int) -> bool:
    return (
        form.words >= 8
        and form.fragment_share >= KEYWORD_FRAGMENT_SHARE
        and distinct_terms / max(1, form.words) >= KEYWORD_TERM_RATE
    )


# One sentence that is a bare list of rubric terms inside an otherwise real answer ("Key themes: SLOs,
# showback, runbooks, ..."): nearly all of it short fragments, at least four distinct rubric terms,
# one in every five words. Such a sentence adds words and terms, not evidence, so it is not measured.
# (Stricter than is_keyword_list, which judges a whole answer: real answers do list a few things.)
TERM_LIST_FRAGMENT_SHARE = 0.9
TERM_LIST_MIN_TERMS = 4
TERM_LIST_TERM_RATE = 0.2


def is_term_list(sentence: Form, distinct_terms: int) -> bool:
    return (
        sentence.fragment_share >= TERM_LIST_FRAGMENT_SHARE
        and distinct_terms >= TERM_LIST_MIN_TERMS
        and distinct_terms / max(1, sentence.words) >= TERM_LIST_TERM_RATE
    )
