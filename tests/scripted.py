"""A Grade built by hand, for the scripted fake graders of the engine, session and eval tests.

Every such grader needs the same required fields filled with placeholders (engine, score, summary, the
uncapped decision equal to the decision, no axes, STAR or retrieval); a test names only what it scripts.
"""

from __future__ import annotations

from typing import Any

from interviewer.grading.grade import Grade


def scripted_grade(question: str, answer: str, decision: str = "Hire", **fields: Any) -> Grade:
    """A valid Grade with `decision` (also its uncapped decision); `fields` set or override the rest."""
    values: dict[str, Any] = {
        "engine": "scripted",
        "score": 2.0,
        "summary": "scripted",
        "axes": [],
        "star": [],
        "retrieved": [],
        **fields,
    }
    return Grade(question=question, answer=answer, decision=decision, uncapped_decision=decision, **values)
