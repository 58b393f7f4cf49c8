"""LLM faults end to end: real interview turns on the openai: backend against the loopback stub.

Each fault is injected two ways: `persistent` (every request fails the same way: the client retries,
then the offline engine takes over and the transcript or grade says so) and `transient` (the first
follow-up request and the first grade request fail, then the endpoint recovers: the retry, in the
SDK for transport faults or in the grader's re-ask for bad content, gets the LLM's answer). Both the
follow-up writer and the LLM grader talk to the stub. After every case the session is resumed from
its log by a fresh Interviewer and every submitted answer must be there verbatim.

Nothing is asserted before the case is tallied: each case collects its problems, records them in
TALLY, then fails if there were any. A case "lost anything" when a submitted answer is missing from
the log, a turn raised or did not end with the next question, follow-up or grade, or the offline
engine stood in without a visible note. `test_tally` (last in the module) prints the count of cases
run and of cases that lost anything (and of answers lost), and writes them with every case's
problems, notes and turn times to <pytest basetemp>/fault_tally.json.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

from interviewer.assemble import build_interviewer
from interviewer.grading import warm_up
from interviewer.grading.rubric import rubric
from interviewer.index import Index
from interviewer.interview import Interviewer
from interviewer.prompts import render_prompt
from interviewer.session import SessionConfig, SessionState
from interviewer.settings import Settings
from interviewer.web import build_app
from tests.openai_stub import OpenAIStub, Reply
from tests.test_session import FOLLOW_UP_ANSWER, STRONG
from tests.test_web import said

BACKEND = "openai:stub"
TIMEOUT = 1.0  # seconds per attempt
RETRIES = 1
RETRY_AFTER = 1.2  # above the SDK's first backoff (0.5 s at most), so waiting this long means it was honoured
LLM_FOLLOW_UP = "How did finance and the domain owners agree on which datasets were worth keeping?"
QUOTE = "I owned the platform budget"  # verbatim in STRONG
ANSWERS = [STRONG, FOLLOW_UP_ANSWER, STRONG]  # answer, follow-up answer (graded, next question), answer


def grade_json(score: Any = 4, **changes: Any) -> str:
    body = {
        "axes": [
            {"axis": a.id, "feedback": f"{a.name}: concrete.", "score": score, "quotes": [QUOTE], "citations": [1]}
            for a in rubric().axes
        ],
        "star": {e.id: True for e in rubric().star},
        "red_flags": [],
        "strengths": [{"text": "Moved cost ownership to domains", "quotes": [QUOTE], "citations": [1]}],
        "risks": [],
        "summary": "Owned the budget and made the change permanent.",
        "recommendation": "Proceed.",
    }
    return json.dumps({**body, **changes})


TRANSPORT = {
    "timeout": Reply(LLM_FOLLOW_UP, delay=TIMEOUT + 0.6),
    "connection_reset": Reply(reset=True),
    "429_retry_after": Reply(status=429, retry_after=str(RETRY_AFTER)),
    "500": Reply(status=500),
    "truncated": Reply(grade_json(), truncate_stream=True),  # the connection drops half-way through the body
}
CONTENT = {
    "malformed_json": Reply('{"axes": [{"axis": "scale", "feedback": "Clear scale'),
    "json_wrong_shape": Reply(json.dumps({"decision": "Strong Hire", "scores": [5, 5, 5]})),
    "json_out_of_range_scores": Reply(grade_json(score=9)),
    "empty_reply": Reply(""),
}
FAULTS = {**TRANSPORT, **CONTENT}
MODES = ("persistent", "transient")

TALLY: dict[str, Any] = {"cases_run": 0, "cases_lost_anything": 0, "answers_submitted": 0, "answers_lost": 0}
CASES: dict[str, dict[str, Any]] = {}


def record(case: str, problems: list[str], answers: int, lost_answers: int, **extra: Any) -> None:
    TALLY["cases_run"] += 1
    TALLY["cases_lost_anything"] += bool(problems)
    TALLY["answers_submitted"] += answers
    TALLY["answers_lost"] += lost_answers
    CASES[case] = {"lost_anything": bool(problems), "problems": problems, **extra}


GRADE_SYSTEM = render_prompt("grade_system.md.j2")


WRITE_UP_SYSTEM = render_prompt("panel_write_up_system.md.j2")
WRITE_UP = (
    '{"summary": "Clear cost ownership with numbers. Evolution plan is thin.", "recommendation": "Pair with Finance."}'
)


def kind_of(body: dict) -> str:
    system = body["messages"][0]["content"]
    return "grade" if system == GRADE_SYSTEM else "write_up" if system == WRITE_UP_SYSTEM else "follow_up"


def responder(fault: Reply, mode: str) -> Callable[[dict], Reply]:
    """Persistent: every request gets the fault. Transient: the first request of each kind does."""
    seen = {"grade": 0, "follow_up": 0, "write_up": 0}
    lock = threading.Lock()
    good = {"grade": Reply(grade_json()), "follow_up": Reply(LLM_FOLLOW_UP), "write_up": Reply(WRITE_UP)}

    def answer(body: dict) -> Reply:
        kind = kind_of(body)
        with lock:
            seen[kind] += 1
            first = seen[kind] == 1
        return fault if mode == "persistent" or first else good[kind]

    return answer


@pytest.fixture(scope="module")
def index(corpus_index: Index) -> Index:
    warm_up(corpus_index)  # the grader's caches, so turn times measure faults, not start-up
    return corpus_index


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub()
    yield server
    server.close()


def settings_for(home: Path, stub: OpenAIStub) -> Settings:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        home=home,
        backend=BACKEND,
        openai_base_url=stub.base_url,
        openai_api_key="sk-test-faults",  # type: ignore[arg-type]
        llm_timeout=TIMEOUT,
        llm_max_retries=RETRIES,
    )
    assert settings.openai_base_url == stub.base_url and settings.backend == BACKEND  # really pointed at the stub
    return settings


def check_answers_kept(settings: Settings, index: Index, state: SessionState, submitted: list[str]) -> list[str]:
    """Every submitted answer, verbatim and in order, in the session replayed by a fresh Interviewer."""
    fresh = build_interviewer(settings, index, "offline")  # another process: it shares only the log
    resumed = fresh.resume(state.id)
    logged = [t.text for t in resumed.transcript if t.role == "candidate" and t.kind == "answer"]
    problems = [f"answer {n + 1} not in the log verbatim" for n, a in enumerate(submitted) if a not in logged]
    if logged != submitted:
        problems.append(f"log has {len(logged)} answers, {len(submitted)} were submitted (or order differs)")
    if resumed.model_dump() != state.model_dump():
        problems.append("the resumed session differs from the live one")
    return problems


def notes_in(state: SessionState) -> list[str]:
    return [t.text for t in state.transcript if t.kind == "note"]


def expect_turn(state: SessionState, n: int, llm_follow_up: bool, llm_grade: bool) -> list[str]:
    """What turn n (0-based, over ANSWERS) must have left behind."""
    problems: list[str] = []
    last = state.transcript[-1]
    if n in (0, 2):  # an answer with a follow-up to come: the follow-up is asked
        if last.kind != "follow_up" or not last.text.strip():
            return [f"turn {n + 1}: no follow-up asked (last turn: {last.kind})"]
        note = state.transcript[-2] if state.transcript[-2].kind == "note" else None
        if llm_follow_up:  # what the LLM wrote, after the panel interviewer's lead-in
            if state.exchanges[state.current].follow_ups[-1] != LLM_FOLLOW_UP or note is not None:
                problems.append(f"turn {n + 1}: expected the LLM's follow-up, got {last.text[:60]!r} / note {note}")
        elif note is None or "offline engine" not in note.text or BACKEND not in note.text:
            problems.append(f"turn {n + 1}: offline follow-up without a visible note that the LLM failed")
    else:  # the follow-up answer: graded, and the next question asked
        ex = state.exchanges[0]
        if ex.grade is None:
            return [f"turn {n + 1}: no grade"]
        if not last.text.startswith("Question 2 of 2"):
            problems.append(f"turn {n + 1}: next question not asked (last turn: {last.kind})")
        if ex.grade.answer != f"{STRONG}\n\n{FOLLOW_UP_ANSWER}":
            problems.append(f"turn {n + 1}: the grade is not of the whole answer")
        failed = [x for x in ex.notes if "graded by the offline engine" in x]
        if llm_grade and (ex.grade.engine != BACKEND or failed):
            problems.append(f"turn {n + 1}: expected the LLM's grade, got {ex.grade.engine} {ex.notes}")
        if not llm_grade and (ex.grade.engine != "offline" or not failed or BACKEND not in failed[0]):
            problems.append(f"turn {n + 1}: offline grade without a note that the LLM failed: {ex.notes}")
    return problems


def run_case(interviewer: Interviewer, fault: str, mode: str) -> tuple[SessionState, list[str], list[str], list]:
    """Submit ANSWERS; returns (state, submitted, problems, seconds per turn). Never raises for a turn."""
    transient_content = mode == "transient" and fault in CONTENT
    state = interviewer.start(SessionConfig(track="data-platform", questions=2, follow_ups=1, seed=3, backend=BACKEND))
    submitted: list[str] = []
    problems: list[str] = []
    seconds = []
    for n, text in enumerate(ANSWERS):
        started = time.perf_counter()
        try:
            submitted.append(text)
            state = interviewer.submit(state, text)
        except Exception as exc:  # a turn that raises has lost the candidate's turn: tallied, not hidden
            problems.append(f"turn {n + 1} raised {type(exc).__name__}: {exc}")
            break
        seconds.append(round(time.perf_counter() - started, 2))
        llm_up = mode == "transient" and not (transient_content and n == 0)  # the follow-up writer never re-asks
        problems += expect_turn(state, n, llm_follow_up=llm_up, llm_grade=mode == "transient")
    else:
        state = interviewer.submit(state, "/end")  # the second question's follow-up is still pending
        if not (state.ended and state.debrief):
            problems.append("/end did not give a debrief")
        elif state.exchanges[1].grade is None or state.debrief["per_question"][1]["decision"] == "not reached":
            problems.append("/end left the answer to the second question ungraded")
        elif any(u["engine"] != BACKEND and not u["notes"] for u in state.debrief["write_ups"]):
            problems.append("a panel write-up fell back to the offline one without a note")
    return state, submitted, problems, seconds


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_turns_complete_and_keep_every_answer(fault: str, mode: str, index: Index, stub: OpenAIStub, tmp_path):
    stub.script(Reply("unused"))
    stub.responder = responder(FAULTS[fault], mode)
    settings = settings_for(tmp_path / "home", stub)
    interviewer = build_interviewer(settings, index)
    state, submitted, problems, seconds = run_case(interviewer, fault, mode)
    kept = check_answers_kept(settings, index, state, submitted)
    problems += kept

    # The LLM was really tried, and retried: one SDK retry per call for transport faults; for bad
    # content the grader re-asks once. Follow-ups are chosen offline, so the LLM is asked to word the
    # first follow-up, grade the first exchange, word the second follow-up, and grade the answer /end cuts off.
    requests = [(kind_of(r["body"]), r["at"]) for r in stub.requests]
    grades = sum(k == "grade" for k, _ in requests)
    follow_ups = sum(k == "follow_up" for k, _ in requests)
    if mode == "persistent":
        want = (4, 4 if fault in TRANSPORT else 2)
        if (grades, follow_ups) != want:
            problems.append(f"requests (grade, follow-up) = {(grades, follow_ups)}, expected {want}")
        if fault == "429_retry_after":
            gap = requests[1][1] - requests[0][1]
            if gap < RETRY_AFTER - 0.05:
                problems.append(f"Retry-After {RETRY_AFTER}s not honoured: retried after {gap:.2f}s")
    problems += [f"stub error: {e}" for e in stub.errors]
    notes = notes_in(state) + [x for ex in state.exchanges for x in ex.notes]
    case = f"{fault}/{mode}"
    record(
        case,
        problems,
        answers=len(submitted),
        lost_answers=sum("not in the log" in p for p in kept),
        seconds_per_turn=seconds,
        requests={"grade": grades, "follow_up": follow_ups},
        notes=notes,
    )
    assert not problems, case + ": " + "; ".join(problems)


def test_web_turn_with_a_failing_llm_keeps_the_answer_and_shows_the_note(
    index: Index, stub: OpenAIStub, tmp_path_factory: pytest.TempPathFactory
):
    """The launched Gradio app on the openai backend while the endpoint answers 500 to everything."""
    stub.script(Reply("unused"))
    stub.responder = responder(FAULTS["500"], "persistent")
    settings = settings_for(tmp_path_factory.mktemp("web-faults"), stub)
    interviewer = build_interviewer(settings, index)
    demo = build_app(settings, index, interviewer)
    demo.queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=None, share=False, prevent_thread_lock=True, quiet=True)
    problems: list[str] = []
    submitted: list[str] = []
    try:
        client = Client(demo.local_url, verbose=False)
        chat, *_ = client.predict("data-platform", "Senior EM", 2, 1, 3, api_name="/start")
        submitted.append(STRONG)
        chat, feedback, _debrief, _transcript, _box = client.predict(STRONG, api_name="/answer")
        texts = [said(m) for m in chat]
        if STRONG not in texts:
            problems.append("the answer is not in the chat")
        if not texts[-1].startswith("Follow-up:"):
            problems.append(f"no follow-up asked: {texts[-1][:80]!r}")
        if not any(t.startswith("Note:") and "offline engine" in t for t in texts):
            problems.append("no note in the chat that the LLM failed and the offline follow-up is used")
        submitted.append(FOLLOW_UP_ANSWER)
        chat, feedback, _debrief, transcript, _box = client.predict(FOLLOW_UP_ANSWER, api_name="/answer")
        if not said(chat[-1]).startswith("Question 2 of 2"):
            problems.append("the next question was not asked")
        if "Decision:" not in feedback or "Note:" not in feedback or "graded by the offline engine" not in feedback:
            problems.append("the feedback has no grade, or no note that the LLM failed")
        if transcript is None or STRONG not in Path(transcript).read_text(encoding="utf-8"):
            problems.append("the transcript download does not have the answer")
    except Exception as exc:
        problems.append(f"the web turn raised {type(exc).__name__}: {exc}")
    finally:
        demo.close()
    (session_id,) = interviewer.log.ids()
    kept = check_answers_kept(settings, index, interviewer.resume(session_id), submitted)
    problems += kept
    record(
        "web/500/persistent",
        problems,
        answers=len(submitted),
        lost_answers=sum("not in the log" in p for p in kept),
    )
    assert not problems, "; ".join(problems)


def test_tally(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]):
    """Runs last: the real figures from the cases above, printed and written to fault_tally.json."""
    if not TALLY["cases_run"]:
        pytest.skip("no fault case ran in this session")
    path = tmp_path_factory.getbasetemp() / "fault_tally.json"
    path.write_text(json.dumps({**TALLY, "cases": CASES}, indent=1), encoding="utf-8")
    with capsys.disabled():
        print(
            f"\nLLM fault cases run: {TALLY['cases_run']}, cases that lost anything: "
            f"{TALLY['cases_lost_anything']}, answers submitted: {TALLY['answers_submitted']}, "
            f"answers lost: {TALLY['answers_lost']} ({path})"
        )
        for case, row in CASES.items():
            status = "LOST: " + "; ".join(row["problems"]) if row["lost_anything"] else "ok"
            print(f"  {case}: {status} {row.get('seconds_per_turn', '')}")
    assert TALLY["cases_lost_anything"] == 0 and TALLY["answers_lost"] == 0
