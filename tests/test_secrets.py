"""Secrets and exposure: the API key never leaves the request; the app stays on loopback unless told.

A distinctive fake key goes through an interview, its transcript export, and `interviewer eval grade`
against the loopback stub playing a leaky proxy: 401 and 500 errors whose bodies echo the request's
headers (the key included), and replies that repeat the Authorization header in a follow-up, in a
grade's summary and in invalid grade JSON. Then logs (DEBUG), stdout/stderr, the CLI's output, error
messages and every file written under the settings home and the eval's --out folder are searched.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

from interviewer import serve
from interviewer.assemble import build_interviewer
from interviewer.evals import commands
from interviewer.grading import warm_up
from interviewer.index import Index
from interviewer.llm import LLMError, OpenAICompatibleModel
from interviewer.session import SessionConfig
from interviewer.settings import Settings
from interviewer.transcript import to_json, to_markdown
from tests.openai_stub import OpenAIStub, Reply
from tests.test_faults import LLM_FOLLOW_UP, kind_of
from tests.test_faults import grade_json as grade_reply
from tests.test_session import FOLLOW_UP_ANSWER, STRONG

KEY = f"sk-test-SECRET-{uuid.uuid4().hex}"
CORE = KEY.removeprefix("sk-test-")  # a leak that masked only the prefix is still a leak


def leaky_responder() -> Callable[[dict], Reply]:
    """Each kind of request cycles through faults that echo the key, and replies that quote it.

    In a two-question interview (follow-ups are chosen offline; the LLM only words them): follow-up 1
    gets a 401 (offline, with a note), grade 1 500 twice (offline, with a note), follow-up 2 an LLM
    follow-up quoting the key, grade 2 invalid JSON then a valid grade quoting the key.
    """
    follow_ups = itertools.cycle(
        [
            Reply(status=401, echo=True),  # not retried: an auth error that names what was sent
            Reply("You sent {authorization}. " + LLM_FOLLOW_UP, echo=True),  # a usable follow-up quoting it
        ]
    )
    grades = itertools.cycle(
        [
            Reply(status=500, echo=True),  # retried once by the SDK, then LLMError: offline grade
            Reply(status=500, echo=True),
            Reply(echo=True),  # the headers as JSON: valid JSON, not a grade; the grader re-asks
            Reply(grade_reply(summary="Graded for {authorization}."), echo=True),  # a valid grade quoting it
            Reply(status=429, retry_after="0", echo=True),  # rate-limited, retried, then a grade
            Reply(grade_reply()),
        ]
    )
    lock = threading.Lock()

    def answer(body: dict) -> Reply:
        with lock:
            return next(grades if kind_of(body) == "grade" else follow_ups)

    return answer


def leaks(text: str) -> bool:
    return KEY in text or CORE in text


@pytest.fixture
def stub():
    server = OpenAIStub()
    yield server
    server.close()


def test_the_stub_really_echoes_the_key(stub: OpenAIStub):
    """Without this, the searches below could pass because nothing ever carried the key back."""
    stub.script(Reply(status=401, echo=True))
    response = httpx.post(
        f"{stub.base_url}/chat/completions", headers={"authorization": f"Bearer {KEY}"}, json={"messages": []}
    )
    assert response.status_code == 401 and KEY in response.text
    stub.script(Reply("x {authorization} y", echo=True))
    response = httpx.post(
        f"{stub.base_url}/chat/completions", headers={"authorization": f"Bearer {KEY}"}, json={"messages": []}
    )
    assert f"x Bearer {KEY} y" in response.text


def test_llm_errors_carry_no_key_and_no_chained_original(stub: OpenAIStub):
    model = OpenAICompatibleModel(
        "m", base_url=stub.base_url, api_key=SecretStr(KEY), timeout=2, max_retries=0, max_tokens=50
    )
    for reply in (Reply(status=401, echo=True), Reply(status=500, echo=True), Reply(status=400, echo=True)):
        stub.script(reply)
        with pytest.raises(LLMError) as info:
            model.complete([("user", "hello")])
        error = info.value
        assert "Error code" in str(error) and "***" in str(error)  # the body was echoed, and scrubbed
        assert not leaks(str(error)) and not leaks(repr(error))
        # The SDK's exception (with the unscrubbed body) is not reachable from the error.
        assert error.__cause__ is None and error.__context__ is None
        assert not leaks("".join(traceback.format_exception(error)))
    stub.script(Reply("{authorization}: what changed?", echo=True))
    assert model.complete([("user", "hello")]) == "Bearer ***: what changed?"
    assert "".join(model.stream([("user", "hello")])) == "Bearer ***: what changed?"


def run_eval_grade(index: Index, out: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(commands, "open_index", lambda settings: index)
    cli = typer.Typer()
    sub = typer.Typer()
    cli.add_typer(sub, name="eval")
    commands.register(sub)
    items = out.parent / "items.jsonl"
    rows = [
        {"id": "a1", "question": "How do you control the cost of a data platform?", "answer": STRONG, "label": "Hire"},
        {"id": "a2", "question": "How do you run cost reviews?", "answer": FOLLOW_UP_ANSWER, "label": "Lean Hire"},
        {"id": "a3", "question": "Tell me about owning a budget.", "answer": STRONG, "label": "Hire"},
    ]
    items.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return CliRunner().invoke(cli, ["eval", "grade", str(items), "--engine", "openai:stub", "--out", str(out)])


def test_the_key_appears_nowhere(
    corpus_index: Index,
    stub: OpenAIStub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
):
    caplog.set_level(logging.DEBUG)  # the openai SDK, httpx and httpcore log requests at DEBUG
    warm_up(corpus_index)
    home = tmp_path / "home"
    for name, value in {
        "INTERVIEWER_HOME": str(home),
        "INTERVIEWER_OPENAI_API_KEY": KEY,
        "INTERVIEWER_OPENAI_BASE_URL": stub.base_url,
        "INTERVIEWER_LLM_TIMEOUT": "2",
        "INTERVIEWER_LLM_MAX_RETRIES": "1",
        "INTERVIEWER_BACKEND": "openai:stub",
    }.items():
        monkeypatch.setenv(name, value)
    stub.responder = leaky_responder()

    # An interview to the end: follow-ups and grades through the stub, then the transcript export.
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.openai_api_key is not None and settings.openai_api_key.get_secret_value() == KEY
    assert not leaks(repr(settings)) and not leaks(str(settings.model_dump()))
    interviewer = build_interviewer(settings, corpus_index)
    state = interviewer.start(SessionConfig(track="data-platform", questions=2, follow_ups=1, seed=3))
    for text in (STRONG, FOLLOW_UP_ANSWER, STRONG, FOLLOW_UP_ANSWER):
        state = interviewer.submit(state, text)
    assert state.ended and state.debrief
    exports = home / "exports"
    exports.mkdir()
    (exports / f"{state.id}.md").write_text(to_markdown(state), encoding="utf-8")
    (exports / f"{state.id}.json").write_text(to_json(state), encoding="utf-8")

    # The faults really happened and really carried the key back: errors became notes, echoes were scrubbed.
    transcript = to_json(state)
    notes = [n for ex in state.exchanges for n in ex.notes] + [t.text for t in state.transcript if t.kind == "note"]
    assert any("Error code: 401" in n for n in notes) and any("Error code: 500" in n for n in notes)
    assert "Bearer ***" in transcript  # an echo in a follow-up or a grade, scrubbed
    sent = [{k.lower(): v for k, v in r["headers"].items()}.get("authorization") for r in stub.requests]
    assert sent and all(auth == f"Bearer {KEY}" for auth in sent)  # the key was really in use

    # The batch eval through the same leaky endpoint, writing its results and reports.
    out = tmp_path / "eval-run"
    result = run_eval_grade(corpus_index, out, monkeypatch)
    assert result.exit_code == 0, result.output
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.name for p in written} >= {"results.jsonl", "summary.json"}
    results = (out / "results.jsonl").read_text(encoding="utf-8")
    assert "***" in results or "Error code" in results  # the leaky replies reached the eval too

    # Nowhere: logs, captured output, the CLI's output, every file written.
    assert caplog.records, "nothing was logged: the DEBUG capture is not working"
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert not leaks(logged)
    captured = capfd.readouterr()
    assert not leaks(captured.out) and not leaks(captured.err)
    assert not leaks(result.output) and not leaks(getattr(result, "stderr", "") or "")
    files = [p for p in [*home.rglob("*"), *written] if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in files) and any(p.suffix == ".md" for p in files)
    leaked = [str(p) for p in files if leaks(p.read_bytes().decode("utf-8", errors="replace"))]
    assert not leaked, f"the key is in {leaked}"


# --- exposure: where the app listens ------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_module() -> ModuleType:
    """What `python app.py` and `interviewer serve` run."""
    return serve


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "INTERVIEWER_SERVER_NAME",
        "GRADIO_SERVER_NAME",
        "INTERVIEWER_SERVER_PORT",
        "GRADIO_SERVER_PORT",
        "INTERVIEWER_AUTH_USERNAME",
        "INTERVIEWER_AUTH_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_default_is_loopback_without_share_or_warning(app_module: ModuleType, clean_env):
    listen = app_module.listen_options(Settings(_env_file=None))  # type: ignore[call-arg]
    assert listen.server_name == "127.0.0.1" and listen.share is False
    assert listen.auth is None and listen.warning is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_names_need_no_password(app_module: ModuleType, clean_env, host: str):
    clean_env.setenv("INTERVIEWER_SERVER_NAME", host)
    listen = app_module.listen_options(Settings(_env_file=None))  # type: ignore[call-arg]
    assert listen.warning is None and listen.share is False


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.20", "interviewer.example.com"])
def test_listening_elsewhere_without_credentials_warns(app_module: ModuleType, clean_env, host: str):
    clean_env.setenv("INTERVIEWER_SERVER_NAME", host)
    listen = app_module.listen_options(Settings(_env_file=None))  # type: ignore[call-arg]
    assert listen.warning and "WITHOUT A PASSWORD" in listen.warning and "INTERVIEWER_AUTH_PASSWORD" in listen.warning
    assert listen.server_name == host and listen.share is False and listen.auth is None


def test_gradio_env_var_counts_as_configuring_elsewhere(app_module: ModuleType, clean_env):
    clean_env.setenv("GRADIO_SERVER_NAME", "0.0.0.0")  # common in container images
    listen = app_module.listen_options(Settings(_env_file=None))  # type: ignore[call-arg]
    assert listen.server_name == "0.0.0.0" and listen.warning


def test_credentials_silence_the_warning_and_stay_out_of_repr(app_module: ModuleType, clean_env):
    # The server fields are set through their environment names (Settings ignores them by field name).
    clean_env.setenv("INTERVIEWER_SERVER_NAME", "0.0.0.0")
    password = f"pw-{uuid.uuid4().hex}"
    settings = Settings(_env_file=None, auth_username="panel", auth_password=SecretStr(password))  # type: ignore[call-arg]
    listen = app_module.listen_options(settings)
    assert listen.auth == ("panel", password) and listen.warning is None and listen.share is False
    assert password not in repr(listen)
    half = Settings(_env_file=None, auth_username="panel")  # type: ignore[call-arg]
    assert app_module.listen_options(half).warning  # a username alone is not a login
    empty = Settings(_env_file=None, auth_username="panel", auth_password=SecretStr(""))  # type: ignore[call-arg]
    assert app_module.listen_options(empty).warning


def test_main_warns_loudly_and_launches_with_the_decided_options(
    app_module: ModuleType, clean_env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    launched: dict[str, Any] = {}

    class FakeIndex:
        def __init__(self, settings: Settings):
            pass

        def count(self) -> int:
            return 1

        def warm_up(self) -> None:
            pass

    class FakeDemo:
        def queue(self, **kwargs: Any) -> None:
            pass

        def launch(self, **kwargs: Any) -> None:
            launched.update(kwargs)

    monkeypatch.setattr(app_module, "Index", FakeIndex)
    monkeypatch.setattr(app_module, "warm_up_grader", lambda index: None)
    monkeypatch.setattr(app_module, "build_interviewer", lambda settings, index: None)
    monkeypatch.setattr(app_module, "build_app", lambda settings, index, interviewer: FakeDemo())
    monkeypatch.setattr(app_module, "Settings", lambda: Settings(_env_file=None))  # type: ignore[call-arg]
    clean_env.setenv("INTERVIEWER_SERVER_NAME", "0.0.0.0")
    with caplog.at_level(logging.WARNING, logger="interviewer.app"):
        app_module.main()
    assert launched == {"server_name": "0.0.0.0", "server_port": 7860, "share": False, "auth": None}
    assert any(r.levelno == logging.WARNING and "WITHOUT A PASSWORD" in r.getMessage() for r in caplog.records)
    caplog.clear()
    launched.clear()
    clean_env.delenv("INTERVIEWER_SERVER_NAME")
    app_module.main()
    assert launched["server_name"] == "127.0.0.1" and launched["share"] is False
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
