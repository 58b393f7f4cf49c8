"""Runs interviews: decides which events happen, appends them to the log, returns the new state.

Everything impure is here: grading, writing follow-ups (offline templates or the LLM), and the
durable log. The order of operations is what keeps a candidate's words safe: an answer is appended
to the log before anything else happens, so a crash or an LLM failure afterwards loses nothing.

Nothing answered is dropped by a command either: /skip after an answer grades what was said before
moving on, /end grades the exchange it interrupts before the debrief, and a grader that raises
leaves a visible note and an ungraded exchange that `catch_up` (run on resume and at the end)
grades later, instead of an exception that would lose the turn.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from typing import Any

from interviewer.debrief import compose
from interviewer.followups import Gap, choose_offline
from interviewer.grading.grade import Grade
from interviewer.llm import ChatModel, LLMError
from interviewer.panel import panel
from interviewer.panel_writer import rewrite as rewrite_write_ups
from interviewer.prompts import render_prompt
from interviewer.questions import Question
from interviewer.session import SessionConfig, SessionState, Turn, apply, new_state, plan_questions, replay
from interviewer.session_log import SessionLog

# (question, answer, the level the candidate interviews for) -> (grade, notes such as "LLM fell back")
Grader = Callable[[Question, str, str], tuple[Grade, list[str]]]
# question -> what to say to /story: the candidate's best-fitting stories (storybank.story_hint)
StoryHint = Callable[[Question], str]

# /quit and /exit are what people type to leave a terminal program: they end the interview too.
COMMANDS = {
    "/skip": "skip",
    "/repeat": "repeat",
    "/clarify": "clarify",
    "/story": "story",  # which of my own stories fits this question (storybank.py)
    "/end": "end",
    "/quit": "end",
    "/exit": "end",
}
MAX_ANSWER_CHARS = 20_000
FOLLOW_UP_TIMEOUT = 10.0  # seconds the LLM gets to word a follow-up before the offline wording is used
MAX_QUESTION_CHARS = 1_000  # a drilled question the candidate typed
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))  # zero-width characters and the BOM
_log = logging.getLogger(__name__)


def command_of(text: str) -> str | None:
    """The command `text` is ("skip", "repeat", "clarify", "end"), or None: then it is an answer.

    A command is one of COMMANDS alone: any letter case, any whitespace or line breaks around it,
    zero-width characters or a byte-order mark around it (pasted or piped text), and full-width
    forms from an input method ("／ｓｋｉｐ", through NFKC). Anything more ("/skip please", "skip",
    "/skip." or an answer that ends with a line "/end") is an answer.
    """
    if len(text) > 64:  # every command is a few characters: a long text is an answer
        return None
    word = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).strip().casefold()
    return COMMANDS.get(word)


class InterviewError(ValueError):
    """A request that cannot be acted on; the message says what to do instead."""


class Interviewer:
    def __init__(
        self,
        bank: list[Question],
        grader: Grader,
        log: SessionLog,
        model: ChatModel | None = None,
        judge: Grader | None = None,
        follow_up_timeout: float = FOLLOW_UP_TIMEOUT,
        story_hint: StoryHint | None = None,
    ):
        self.bank = bank
        self.grader = grader
        self.log = log
        self.model = model
        # The interim judgement that picks a follow-up: offline (cheap, deterministic) even when the
        # final grade is an LLM's. Without one, the grader itself is used (tests script it).
        self.judge = judge or grader
        self.follow_up_timeout = follow_up_timeout
        self.story_hint = story_hint

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, config: SessionConfig, plan: list[Question] | None = None) -> SessionState:
        """`plan`: these questions instead of a seeded plan from the bank (a review session, review.py)."""
        if config.question is not None:
            drilled = " ".join(config.question.split())
            if not drilled:
                raise InterviewError("the question to drill is empty: pick one from the bank or type your own")
            if len(drilled) > MAX_QUESTION_CHARS:
                raise InterviewError(f"that question is {len(drilled):,} characters; the limit is {MAX_QUESTION_CHARS}")
            config = config.model_copy(update={"question": drilled, "questions": 1})
        plan = plan_questions(self.bank, config) if plan is None else plan
        if not plan:
            raise InterviewError(f"no questions for track {config.track!r}; pick another track")
        askers = panel().rotation(len(plan), config.seed)
        session_id = self.log.new_id()
        first = self.log.append(
            session_id,
            {
                "type": "started",
                "config": config.model_dump(),
                "plan": [q.model_dump() for q in plan],
                "askers": askers,
            },
        )
        state = new_state(session_id, first)
        return self._emit(
            state,
            {
                "type": "asked",
                "index": 0,
                "kind": "question",
                "text": _ask(plan[0], 1, len(plan)),
                "speaker": askers[0],
            },
        )

    def resume(self, session_id: str) -> SessionState:
        return replay(session_id, self.log.read(session_id))

    def submit(self, state: SessionState, text: str) -> SessionState:
        """One thing the candidate typed: an answer, or a command (see `command_of`)."""
        if state.ended:
            raise InterviewError("this interview has ended; start a new one")
        command = command_of(text)
        if command == "end":
            return self._finish(state, early=True)
        ex = state.exchange
        assert ex is not None  # not ended means there is a current exchange
        if command == "skip":
            # Logged first, so the intent survives a crash while grading (catch_up finishes the move).
            state = self._emit(state, {"type": "skipped", "index": state.current})
            if state.exchanges[state.current].moved_on:  # something was answered: grade it, then move on
                state = self._grade(state, state.current)
            return self._advance(state)
        if command == "repeat":
            last = _last_asked_turn(state)
            return self._emit(
                state,
                {"type": "asked", "index": state.current, "kind": "repeat", "text": last.text, "speaker": last.speaker},
            )
        if command == "clarify":
            return self._emit(
                state,
                {
                    "type": "asked",
                    "index": state.current,
                    "kind": "clarify",
                    "text": _clarify(ex.question),
                    "speaker": ex.asker,
                },
            )
        if command == "story":
            return self._emit(
                state, {"type": "asked", "index": state.current, "kind": "story", "text": self._story(ex.question)}
            )
        if not text.strip():
            raise InterviewError("empty answer: type your answer, or /skip, /repeat, /clarify, /story, /end")
        if len(text) > MAX_ANSWER_CHARS:
            raise InterviewError(
                f"that answer is {len(text):,} characters; the limit is {MAX_ANSWER_CHARS:,}. "
                "Shorten it (a panel answer is a few minutes of speech); your text is still in the box."
            )
        # The answer is durable before any grading or LLM call can fail.
        state = self._emit(state, {"type": "answered", "index": state.current, "text": text})
        return self._respond(state)

    def catch_up(self, state: SessionState) -> SessionState:
        """Finish what an interrupted turn or a failed grade left undone; resuming a session runs this.

        Answered exchanges without a grade are graded (the grader raised, the process died while
        grading, or a log written before /skip graded what was answered skipped it); a /skip or a last question
        whose advance was never logged moves on; an answer logged without its follow-up or grade gets
        one; an ended interview gets its debrief, recomposed when a grade was added.
        """
        regraded = False
        for index in state.ungraded:
            state = self._grade(state, index)
            regraded = regraded or state.exchanges[index].grade is not None
        if state.ended:
            if regraded or state.debrief is None:
                state = self._emit(state, {"type": "debrief", "debrief": self._compose(state)})
            return state
        ex = state.exchange
        if ex is None:  # advanced past the last question; the end was not logged
            return self._finish(state, early=False)
        if ex.finished or ex.moved_on:  # left this exchange; the advance was not logged
            if ex.moved_on and ex.grade is None:
                state = self._grade(state, state.current)
            return self._advance(state)
        if ex.answers and not state.awaiting_answer:  # an answer with no follow-up or grade after it
            return self._respond(state)
        return state

    # --- steps -------------------------------------------------------------------------------

    def _story(self, question: Question) -> str:
        if self.story_hint is None:
            return "The story bank is not available in this session."
        try:
            return self.story_hint(question)
        except Exception as exc:  # a hint is a help, never a reason to lose the turn
            _log.error("story hint for session question %r failed", question.id, exc_info=exc)
            return f"The story bank could not be read ({type(exc).__name__}); answer from memory."

    def _emit(self, state: SessionState, event: dict[str, Any]) -> SessionState:
        return apply(state, self.log.append(state.id, event))

    def _respond(self, state: SessionState) -> SessionState:
        """After an answer is logged: the next follow-up, or the grade and the next question."""
        ex = state.exchange
        assert ex is not None
        if len(ex.follow_ups) < state.config.follow_ups:
            try:
                follow_up = self._follow_up(state)
            except Exception as exc:  # LLM failures fall back inside; this is anything else
                return self._advance(self._failed(state, state.current, exc))
            if follow_up is not None:
                text_, gap, note = follow_up
                if note:  # the LLM failed: say so in the transcript, before the offline follow-up
                    state = self._emit(state, {"type": "asked", "index": state.current, "kind": "note", "text": note})
                return self._emit(state, _spoken_follow_up(state, text_, gap.target))
        return self._advance(self._grade(state, state.current))

    def _grade(self, state: SessionState, index: int) -> SessionState:
        """Grade everything said in one exchange; a grader that raises is logged as grade_failed."""
        ex = state.exchanges[index]
        try:
            grade, notes = self.grader(ex.question, ex.combined_answer, state.config.level)
        except Exception as exc:  # the answer is already in the log: keep the turn alive, grade it later
            return self._failed(state, index, exc)
        return self._emit(state, {"type": "graded", "index": index, "grade": grade.model_dump(), "notes": notes})

    def _failed(self, state: SessionState, index: int, exc: Exception) -> SessionState:
        # The log and the candidate get the exception's type only: its message may hold a path or a
        # payload; the operator's stderr gets the traceback.
        _log.error("grading question %d of session %s failed", index + 1, state.id, exc_info=exc)
        return self._emit(state, {"type": "grade_failed", "index": index, "error": type(exc).__name__})

    def _advance(self, state: SessionState) -> SessionState:
        nxt = state.current + 1
        state = self._emit(state, {"type": "advanced", "to": nxt})
        if nxt >= len(state.exchanges):
            return self._finish(state, early=False)
        ex = state.exchanges[nxt]
        return self._emit(
            state,
            {
                "type": "asked",
                "index": nxt,
                "kind": "question",
                "text": _ask(ex.question, nxt + 1, len(state.exchanges)),
                "speaker": ex.asker,
            },
        )

    def _finish(self, state: SessionState, early: bool) -> SessionState:
        # Ended first, so a crash while grading resumes into catch_up's grade-then-debrief.
        state = self._emit(state, {"type": "ended", "early": early})
        for index in state.ungraded:  # the exchange /end interrupted, and any whose grading failed
            state = self._grade(state, index)
        return self._emit(state, {"type": "debrief", "debrief": self._compose(state)})

    def _compose(self, state: SessionState) -> dict[str, Any]:
        """The debrief; with an LLM, the panel's write-ups in its words (the decisions stay the rubric's)."""
        debrief = compose(state)
        return debrief if self.model is None else rewrite_write_ups(debrief, self.model)

    def _follow_up(self, state: SessionState) -> tuple[str, Gap, str | None] | None:
        """(follow-up, the gap it probes, a note when the LLM failed and the offline one is used).

        The gap is chosen from the offline judgement of everything said for this question; an LLM only
        rewords it, within `follow_up_timeout`, and its wording is validated (see `_usable`)."""
        ex = state.exchange
        assert ex is not None
        interim, _ = self.judge(ex.question, ex.combined_answer, state.config.level)
        asked_targets = [
            t.target for t in state.transcript if t.kind == "follow_up" and t.question == state.current and t.target
        ]
        chosen = choose_offline(ex.question, interim, asked_targets, ex.follow_ups, ex.answers[-1])
        if chosen is None:
            return None
        if self.model is None:
            return chosen.text, chosen.gap, None
        gap = chosen.gap
        model = self.model
        model_id = model.id
        messages = [
            ("system", render_prompt("follow_up_system.md.j2")),
            (
                "user",
                render_prompt(
                    "follow_up.md.j2",
                    question=ex.question.text,
                    answer=ex.combined_answer[-6000:],
                    gap=gap.reason,
                    quote=gap.quote,
                    asked=ex.follow_ups,
                ),
            ),
        ]
        try:
            written = _within(self.follow_up_timeout, lambda: model.complete(messages, max_tokens=200))
        except (LLMError, TimeoutError) as exc:
            why = f"no reply within {self.follow_up_timeout:g}s" if isinstance(exc, TimeoutError) else exc
            return chosen.text, gap, _fell_back(model_id, why)  # the offline follow-up is always there
        written = " ".join(written.split())
        if _usable(written, ex.combined_answer, ex.question.text):
            return written, gap, None
        return chosen.text, gap, _fell_back(model_id, "its reply was not a usable follow-up question")


def _fell_back(model_id: str, why: object) -> str:
    return f"Note: {model_id} could not write this follow-up ({why}); the offline engine's follow-up is used."


def _within(seconds: float, call: Callable[[], str]) -> str:
    """`call()`, or TimeoutError after `seconds`. A daemon thread: an endpoint that accepts the connection
    and never answers holds neither the turn nor the process's exit."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["reply"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="follow-up-writer", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return str(box["reply"])


_QUOTED = re.compile(r'"([^"]{4,})"|“([^”]{4,})”')


def _usable(written: str, answer: str, question: str) -> bool:
    """One question, of a speakable length, that reveals no judgement, and whose quotes are the
    candidate's (or the question's) own words: a reworded quote would put words in their mouth."""
    if not (10 <= len(written) <= 400 and written.endswith("?")):
        return False
    if re.search(r"(?i)\b(score|grade|graded|hire|rubric)\b", written):
        return False
    said = " ".join(answer.split()).casefold()
    asked = " ".join(question.split()).casefold()
    for match in _QUOTED.finditer(written):
        quoted = " ".join((match.group(1) or match.group(2)).split()).casefold().strip(" .,;:!?…")
        if quoted not in said and quoted not in asked:
            return False
    return True


def _last_asked_turn(state: SessionState) -> Turn:
    """The question or follow-up the candidate is answering: never a clarification, a note or a repeat."""
    return next(
        t
        for t in reversed(state.transcript)
        if t.role == "interviewer" and t.kind in ("question", "follow_up") and t.question == state.current
    )


def _spoken_follow_up(state: SessionState, text: str, target: str) -> dict[str, Any]:
    """The follow-up event with who asks it (the owner of its gap, else the question's asker) and
    their lead-in. Sessions logged before the panel (no asker) keep speaking with no name."""
    ex = state.exchange
    assert ex is not None
    event: dict[str, Any] = {
        "type": "asked",
        "index": state.current,
        "kind": "follow_up",
        "text": text,
        "target": target,
    }
    if ex.asker is None:
        return event
    speaker = panel().speaker_for(target, ex.asker)
    lead_in = panel().lead_in(speaker, target, state.current + len(ex.follow_ups))
    return {**event, "speaker": speaker, **({"lead_in": lead_in} if lead_in else {})}


def _ask(question: Question, n: int, total: int) -> str:
    """Bank entries that are topics rather than questions ("Underperformers") are asked as questions."""
    text = question.text
    asking = text.rstrip().endswith("?") or re.match(r"(?i)^(describe|explain|tell|walk|design|give|share)", text)
    if not asking and len(text.split()) <= 6:
        text = f"Let's talk about {text[:1].lower() + text[1:]}. How do you approach it? Use a real example."
    elif not asking:
        text = f"Tell me about a time that shows this: {text}."
    return f"Question {n} of {total}: {text}"


def _clarify(question: Question) -> str:
    probing = f" The panel is probing: {question.probing}." if question.probing else ""
    section = question.section.split(" > ")[-2] if " > " in question.section else question.section
    return (
        f"This question comes from “{section}”.{probing} A strong answer takes one real example: the situation "
        "and its scale, what you owned, what you did, the measurable result, and what changed permanently. "
        "Name the trade-offs on scale, reliability, cost, ownership and evolution."
    )
