"""The OpenAI-compatible backend: the real client against a loopback server speaking the API."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from interviewer.llm import LLMError, OpenAICompatibleModel, build_chat_model
from interviewer.settings import Settings
from tests.openai_stub import OpenAIStub, Reply

KEY = "sk-test-SECRET-0123456789"


@pytest.fixture
def stub():
    server = OpenAIStub()
    yield server
    server.close()


def model_for(stub: OpenAIStub, timeout: float = 5.0, retries: int = 2) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(
        "tiny", base_url=stub.base_url, api_key=SecretStr(KEY), timeout=timeout, max_retries=retries, max_tokens=64
    )


def test_backend_ids():
    settings = Settings(openai_base_url="http://127.0.0.1:9/v1")
    assert build_chat_model("offline", settings) is None
    model = build_chat_model("openai:gpt-x", settings)
    assert model is not None and model.id == "openai:gpt-x"
    for bad in ("openai:", "anthropic:claude", "gpt-4"):
        with pytest.raises(ValueError, match="use 'offline' or 'openai:<model>'"):
            build_chat_model(bad, settings)


def test_constructor_does_no_network_io():
    # An unroutable endpoint: constructing must not connect (it would hang or fail here).
    started = time.perf_counter()
    OpenAICompatibleModel("m", base_url="http://10.255.255.1/v1", api_key=None, timeout=1, max_retries=0, max_tokens=8)
    assert time.perf_counter() - started < 0.5


def test_complete_sends_temperature_zero_and_max_tokens(stub: OpenAIStub):
    stub.script(Reply("Tell me more about the canary rollout."))
    out = model_for(stub).complete([("system", "You are an interviewer."), ("user", "Hi")])
    assert out == "Tell me more about the canary rollout."
    body = stub.requests[0]["body"]
    assert body["temperature"] == 0 and body["max_tokens"] == 64 and body["model"] == "tiny"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    headers = {k.lower(): v for k, v in stub.requests[0]["headers"].items()}
    assert headers["authorization"] == f"Bearer {KEY}"


def test_streaming(stub: OpenAIStub):
    stub.script(Reply("What changed permanently after that incident?"))
    pieces = list(model_for(stub).stream([("user", "go")]))
    assert len(pieces) > 3 and "".join(pieces) == "What changed permanently after that incident?"
    assert stub.requests[0]["body"]["stream"] is True


def test_429_with_retry_after_then_success(stub: OpenAIStub):
    stub.script(Reply(status=429, retry_after="0"), Reply(status=500), Reply("recovered"))
    assert model_for(stub).complete([("user", "x")]) == "recovered"
    assert len(stub.requests) == 3


def test_persistent_500_gives_a_clear_error_without_the_key(stub: OpenAIStub):
    stub.script(Reply(status=500))
    with pytest.raises(LLMError) as info:
        model_for(stub, retries=1).complete([("user", "x")])
    assert "openai:tiny failed" in str(info.value) and KEY not in str(info.value)
    assert len(stub.requests) == 2  # one try plus one bounded retry


def test_timeout_is_bounded(stub: OpenAIStub):
    stub.script(Reply("late", delay=3))
    started = time.perf_counter()
    with pytest.raises(LLMError, match="Timeout"):
        model_for(stub, timeout=0.5, retries=0).complete([("user", "x")])
    assert time.perf_counter() - started < 2.5


def test_empty_reply_and_truncated_stream_are_errors(stub: OpenAIStub):
    stub.script(Reply(""))
    with pytest.raises(LLMError, match="empty reply"):
        model_for(stub).complete([("user", "x")])
    stub.script(Reply("one two three four five six", truncate_stream=True))
    pieces: list[str] = []
    with pytest.raises(LLMError, match="before the reply was complete"):
        for piece in model_for(stub, retries=0).stream([("user", "x")]):
            pieces.append(piece)
    assert "".join(pieces).startswith("one two")
