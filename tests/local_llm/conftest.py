"""Fixtures for the real-local-model tests: settings for the llama.cpp server, a recorder of every call
the product makes to the model, and the report written at the end of the session.

Collected only when INTERVIEWER_LOCAL_LLM_URL is set (tests/conftest.py), i.e. by scripts/local_llm.sh.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from interviewer.llm import LLMError, Messages, OpenAICompatibleModel
from interviewer.settings import Settings
from tests.conftest import PROJECT_DIR

URL = os.environ.get("INTERVIEWER_LOCAL_LLM_URL", "")
MODEL = os.environ.get("INTERVIEWER_LOCAL_LLM_MODEL", "smollm2-135m")
BACKEND = f"openai:{MODEL}"
REPORT = Path(os.environ.get("INTERVIEWER_LOCAL_LLM_REPORT", PROJECT_DIR / ".interviewer/local-llm/report.json"))
# The grading prompt is ~4.6k tokens: 35-110 s of prompt evaluation on one shared core (seen here), and
# llama.cpp keeps working on a request whose client timed out, so a short timeout cascades.
TIMEOUT = float(os.environ.get("INTERVIEWER_LOCAL_LLM_TIMEOUT", "600"))
MAX_TOKENS = int(os.environ.get("INTERVIEWER_LOCAL_LLM_MAX_TOKENS", "1500"))

# Filled by the tests and the recorder, written to REPORT when the session ends.
REPORT_DATA: dict[str, Any] = {}


def local_settings(home: Path) -> Settings:
    """Settings for the local server. No transport retries: a request the single-threaded server has
    already accepted keeps running after a client timeout, so a retry would only queue behind it."""
    return Settings(
        home=home,
        openai_base_url=URL,
        openai_api_key=SecretStr("not-needed"),
        llm_timeout=TIMEOUT,
        llm_max_retries=0,
        llm_max_tokens=MAX_TOKENS,
    )


def server_alive() -> bool:
    """The llama.cpp server still answers (a run where it died measured the fallbacks, not the model)."""
    try:
        with urllib.request.urlopen(f"{URL}/models", timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


def local_env() -> dict[str, str]:
    """The same settings as environment variables, for the CLI (which reads Settings() itself)."""
    return {
        "INTERVIEWER_OPENAI_BASE_URL": URL,
        "INTERVIEWER_OPENAI_API_KEY": "not-needed",
        "INTERVIEWER_LLM_TIMEOUT": str(TIMEOUT),
        "INTERVIEWER_LLM_MAX_RETRIES": "0",
        "INTERVIEWER_LLM_MAX_TOKENS": str(MAX_TOKENS),
    }


# --- what the model was asked and how it answered -------------------------------------------------


@dataclass
class Call:
    purpose: str  # grade | follow_up | other
    retry: bool  # a grade's second attempt (the invalid reply and the validation error were sent back)
    seconds: float
    prompt_chars: int
    reply_chars: int = 0
    error: str | None = None  # LLMError: transport, timeout, empty reply, context overflow
    verdict: str = ""  # for grades: valid, or why the reply was invalid; for follow-ups: usable or why not
    reply_head: str = ""


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for purpose in sorted({c.purpose for c in self.calls}):
            calls = [c for c in self.calls if c.purpose == purpose]
            seconds = sorted(c.seconds for c in calls)
            out[purpose] = {
                "calls": len(calls),
                "retries": sum(c.retry for c in calls),
                "errors": sum(c.error is not None for c in calls),
                "verdicts": dict(Counter(c.verdict for c in calls).most_common()),
                "seconds_total": round(sum(seconds), 1),
                "seconds_median": round(seconds[len(seconds) // 2], 2) if seconds else None,
                "seconds_max": round(seconds[-1], 2) if seconds else None,
                "mean_reply_chars": round(sum(c.reply_chars for c in calls) / len(calls)) if calls else 0,
            }
        return out


def classify_grade_reply(reply: str) -> str:
    """`valid`, or the first reason the grading engine's own parser refuses the reply."""
    from interviewer.grading.llm_engine import parse_reply

    try:
        parse_reply(reply)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
        kind = first["type"]
        if kind in ("less_than_equal", "greater_than_equal") and where.endswith("score"):
            return "score out of range"
        if kind == "missing":
            return f"missing field {where}"
        if kind == "value_error":
            message = str(first.get("msg", ""))
            for pattern, reason in (
                ("axes must be exactly", "wrong or missing axes"),
                ("star is missing", "STAR elements missing"),
                ("unknown red flags", "unknown red flag"),
                ("star values", "STAR values not booleans"),
            ):
                if pattern in message:
                    return reason
        return f"{kind} at {where or 'top level'}"
    except json.JSONDecodeError:
        return "malformed JSON"
    except ValueError as exc:
        return str(exc)  # "no JSON object in the reply"
    return "valid"


def classify_follow_up(reply: str) -> str:
    """The interviewer's own test for a usable follow-up (interview.py), with the reason it fails."""
    written = " ".join(reply.split())
    if not 10 <= len(written) <= 400:
        return "too short" if len(written) < 10 else "too long"
    if not written.endswith("?"):
        return "not a question"
    if re.search(r"(?i)\b(score|grade|hire)\b", written):
        return "mentions score/grade/hire"
    return "usable"


def _purpose(messages: Messages) -> str:
    system = next((text for role, text in messages if role == "system"), "")
    if "grade ONE answer" in system:
        return "grade"
    if "follow-up question" in system:
        return "follow_up"
    return "other"


@pytest.fixture(scope="session")
def recorder() -> Iterator[Recorder]:
    """Wraps OpenAICompatibleModel.complete for the session: every call is timed and classified."""
    rec = Recorder()
    original = OpenAICompatibleModel.complete

    def complete(self: OpenAICompatibleModel, messages: Messages, *, max_tokens: int | None = None) -> str:
        purpose = _purpose(messages)
        call = Call(
            purpose=purpose,
            retry=purpose == "grade" and len(messages) > 2,
            seconds=0.0,
            prompt_chars=sum(len(text) for _, text in messages),
        )
        started = time.perf_counter()
        try:
            reply = original(self, messages, max_tokens=max_tokens)
        except LLMError as exc:
            call.seconds = time.perf_counter() - started
            call.error = str(exc)[:300]
            call.verdict = "error: " + _error_kind(str(exc))
            rec.calls.append(call)
            raise
        call.seconds = time.perf_counter() - started
        call.reply_chars = len(reply)
        call.reply_head = reply[:200]
        if purpose == "grade":
            call.verdict = classify_grade_reply(reply)
        elif purpose == "follow_up":
            call.verdict = classify_follow_up(reply)
        rec.calls.append(call)
        return reply

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(OpenAICompatibleModel, "complete", complete)
        yield rec
    REPORT_DATA["llm_calls"] = rec.summary()
    REPORT_DATA["llm_call_log"] = [asdict(c) for c in rec.calls]


def _error_kind(message: str) -> str:
    lowered = message.lower()
    for needle, kind in (
        ("empty reply", "empty reply"),
        ("timed out", "timeout"),
        ("timeout", "timeout"),
        ("context", "context window exceeded"),
        ("connection", "connection"),
    ):
        if needle in lowered:
            return kind
    return "other"


# --- the report ------------------------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not REPORT_DATA:
        return
    REPORT_DATA.setdefault("model", BACKEND)
    REPORT_DATA.setdefault("server", URL)
    REPORT_DATA["settings"] = {"llm_timeout": TIMEOUT, "llm_max_retries": 0, "llm_max_tokens": MAX_TOKENS}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(REPORT_DATA, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT_DATA:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"local model report: {BACKEND}")
    rows: list[tuple[str, str]] = []
    interview = REPORT_DATA.get("interview")
    if interview:
        rows += [
            (
                "interview: turns submitted / completed",
                f"{interview['turns_submitted']} / {interview['turns_completed']}",
            ),
            ("interview: questions graded", str(interview["grades"]["total"])),
            (
                "interview: grades from the LLM / fell back",
                f"{interview['grades']['from_llm']} / {interview['grades']['fell_back']}",
            ),
            (
                "interview: follow-ups by the LLM / fell back",
                f"{interview['follow_ups']['written_by_llm']} / {interview['follow_ups']['fell_back']}",
            ),
            ("interview: debrief decision", str(interview["debrief_decision"])),
            ("interview: seconds", str(interview["seconds"])),
        ]
    batch = REPORT_DATA.get("batch")
    if batch:
        rows += [
            ("batch: answers in / results out", f"{batch['items']} / {batch['results']}"),
            ("batch: grades valid from the LLM / fell back", f"{batch['valid_from_llm']} / {batch['fell_back']}"),
            ("batch: invalid replies (all attempts)", str(batch["invalid_replies"])),
            ("batch: grading errors", str(batch["errors"])),
            ("batch: flagged needs_review", str(batch["needs_review"])),
            ("batch: dropped quotes / citations", f"{batch['dropped_quotes']} / {batch['dropped_citations']}"),
            ("batch: seconds", str(batch["seconds"])),
        ]
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        write(f"  {key:<{width}}  {value}")
    for purpose, figures in REPORT_DATA.get("llm_calls", {}).items():
        write(
            f"  {purpose} calls: {figures['calls']} ({figures['retries']} retries, {figures['errors']} errors), "
            f"median {figures['seconds_median']}s, max {figures['seconds_max']}s"
        )
        for verdict, count in figures["verdicts"].items():
            write(f"      {count:>3}  {verdict}")
    for section in ("interview", "batch"):
        reasons = (REPORT_DATA.get(section) or {}).get("fallback_reasons")
        if reasons:
            write(f"  {section} fallback reasons (as the product's notes give them):")
            for reason, count in reasons.items():
                write(f"      {count:>3}  {reason}")
    write(f"  report: {REPORT}")
