"""Builds the product's parts from settings, once, at an entry point (CLI, app, benchmarks).

The chat model is chosen by its backend id; the grader is the offline engine, or the LLM engine
with the offline engine as its visible fallback. Nothing below this module reads settings itself.
"""

from __future__ import annotations

from interviewer.corpus import question_bank
from interviewer.grading.grade import Grade
from interviewer.grading.offline import grade_answer
from interviewer.index import Index
from interviewer.interview import Grader, Interviewer
from interviewer.llm import ChatModel, build_chat_model
from interviewer.questions import Question
from interviewer.session_log import SessionLog
from interviewer.settings import Settings


def make_grader(index: Index, model: ChatModel | None) -> Grader:
    def grade(question: Question, answer: str, level: str) -> tuple[Grade, list[str]]:
        if model is None:
            return grade_answer(question.text, answer, index, level), []
        from interviewer.grading.llm_engine import grade_with_llm

        result = grade_with_llm(question.text, answer, index, model, level)
        return result.grade, result.notes

    return grade


def session_log(settings: Settings) -> SessionLog:
    return SessionLog(settings.home / "sessions")


def build_interviewer(settings: Settings, index: Index, backend: str | None = None) -> Interviewer:
    model = build_chat_model(backend or settings.backend, settings)
    from interviewer.storybank import story_hint

    bank, _ = question_bank(settings)
    # Follow-ups are chosen from the offline judgement even when an LLM grades: one LLM call per turn, not two.
    judge = make_grader(index, None) if model is not None else None
    return Interviewer(
        bank,
        make_grader(index, model),
        session_log(settings),
        model,
        judge,
        settings.follow_up_timeout,
        story_hint=story_hint(settings, index),
    )
