"""The one chat-model interface, and the backends behind it, picked by a string id.

`offline` means no LLM at all: the grader and the interviewer use their deterministic engines.
`openai:<model>` reaches any OpenAI-compatible endpoint (OpenAI, Azure OpenAI, vLLM, Ollama,
llama.cpp server, LM Studio) through langchain's ChatOpenAI and the openai SDK beneath it, which
retries 429/5xx/connection errors with exponential backoff and honours Retry-After. Constructors
store configuration only; nothing touches the network until a message is sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from interviewer.settings import Settings

Messages = Sequence[tuple[str, str]]  # (role, content), role in system | user | assistant


class LLMError(RuntimeError):
    """The model could not produce a reply. The message is safe to show (never contains a key)."""


class EmptyReply(LLMError):
    """The model answered, with nothing. Unlike a transport error (the SDK has retried those), asking
    again may help."""


@runtime_checkable
class ChatModel(Protocol):
    id: str

    def complete(self, messages: Messages, *, max_tokens: int | None = None) -> str: ...

    def stream(self, messages: Messages, *, max_tokens: int | None = None) -> Iterator[str]: ...


class OpenAICompatibleModel:
    """Chat completions at temperature 0 against any OpenAI-compatible server."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None,
        api_key: SecretStr | None,
        timeout: float,
        max_retries: int,
        max_tokens: int,
    ):
        self.id = f"openai:{model}"
        self.model = model
        self.base_url = base_url
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self._chat: Any = None

    def _client(self, max_tokens: int) -> Any:
        from langchain_openai import ChatOpenAI

        if self._chat is None:
            key = self._api_key.get_secret_value() if self._api_key else "not-needed"
            self._chat = ChatOpenAI(
                model=self.model,
                base_url=self.base_url,
                api_key=SecretStr(key),
                temperature=0,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        # langchain sends max_completion_tokens, which llama.cpp's server ignores: send max_tokens too.
        return self._chat.bind(max_tokens=max_tokens, extra_body={"max_tokens": max_tokens})

    def _scrub(self, text: str) -> str:
        """`text` without the API key (an error body or a leaky proxy may echo the request's headers)."""
        secret = self._api_key.get_secret_value() if self._api_key else ""
        return text.replace(secret, "***") if secret else text

    def _safe(self, exc: Exception) -> LLMError:
        return LLMError(f"{self.id} failed: {self._scrub(f'{type(exc).__name__}: {exc}')[:500]}")

    def complete(self, messages: Messages, *, max_tokens: int | None = None) -> str:
        failure: LLMError | None = None
        try:
            reply = self._client(max_tokens or self.max_tokens).invoke(list(messages))
        except Exception as exc:  # the SDK has already retried; report one clear error
            failure = self._safe(exc)
        if failure is not None:  # raised outside `except`: no __context__ holding the unscrubbed error
            raise failure
        content = reply.content if isinstance(reply.content, str) else str(reply.content)
        if not content.strip():
            raise EmptyReply(f"{self.id} returned an empty reply")
        return self._scrub(content)

    def stream(self, messages: Messages, *, max_tokens: int | None = None) -> Iterator[str]:
        received = finished = False
        failure: LLMError | None = None
        try:
            for chunk in self._client(max_tokens or self.max_tokens).stream(list(messages)):
                finished = finished or bool(chunk.response_metadata.get("finish_reason"))
                piece = chunk.content if isinstance(chunk.content, str) else str(chunk.content)
                if piece:
                    received = True
                    yield self._scrub(piece)
        except Exception as exc:
            failure = self._safe(exc)
        if failure is not None:
            raise failure
        if not received:
            raise EmptyReply(f"{self.id} returned an empty reply")
        if not finished:
            # The connection closed mid-reply: what arrived is kept by the caller, but it is partial.
            raise LLMError(f"{self.id} stream ended before the reply was complete")


def build_chat_model(backend: str, settings: Settings) -> ChatModel | None:
    """The chat model for a backend id; None for `offline`. Unknown ids are an error, not a default."""
    if backend == "offline":
        return None
    prefix, _, model = backend.partition(":")
    if prefix == "openai" and model.strip():
        return OpenAICompatibleModel(
            model.strip(),
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
            max_tokens=settings.llm_max_tokens,
        )
    raise ValueError(f"unknown backend {backend!r}: use 'offline' or 'openai:<model>'")
