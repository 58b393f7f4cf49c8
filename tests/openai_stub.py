"""A real HTTP server on loopback that speaks the OpenAI chat-completions API, with scripted faults.

Tests queue replies; each request takes the next one (the last one repeats). Or they set `responder`,
a function from the request body to a reply, to answer by what is asked (a follow-up or a grade).
The real openai client (through langchain) talks to it, so retries, timeouts and streaming are
exercised for real.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    text: str = ""
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering (exceed the client timeout to time out)
    retry_after: str | None = None
    reset: bool = False  # close the connection without answering
    truncate_stream: bool = False  # stop a stream mid-way without [DONE]; a plain reply: half its body
    # A leaky proxy: an error's message echoes the request's headers and body; a reply's text gets
    # {authorization} / {headers} replaced by what was sent (the headers as JSON appended if neither).
    echo: bool = False


@dataclass
class OpenAIStub:
    replies: list[Reply] = field(default_factory=lambda: [Reply("ok")])
    requests: list[dict[str, Any]] = field(default_factory=list)
    responder: Callable[[dict[str, Any]], Reply] | None = None  # when set, used instead of `replies`
    errors: list[str] = field(default_factory=list)  # exceptions raised while answering (not hang-ups)

    def __post_init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append(
                    {"path": self.path, "body": body, "headers": dict(self.headers), "at": time.monotonic()}
                )
                if stub.responder is not None:
                    reply = stub.responder(body)
                else:
                    reply = stub.replies.pop(0) if len(stub.replies) > 1 else stub.replies[0]
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.connection.close()
                    return
                if reply.status != 200:
                    message = f"scripted {reply.status}"
                    if reply.echo:
                        message += f"; you sent headers {dict(self.headers)} and body {json.dumps(body)[:2000]}"
                    payload = json.dumps({"error": {"message": message, "type": "x"}}).encode()
                    self.send_response(reply.status)
                    if reply.retry_after:
                        self.send_header("retry-after", reply.retry_after)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if reply.echo:  # a reply that repeats what it was sent: see Reply.echo
                    reply = replace(reply, text=self._echoed(reply.text))
                if body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._complete(body, reply)

            def _echoed(self, text: str) -> str:
                headers = json.dumps({"you_sent": dict(self.headers)})
                if "{authorization}" not in text and "{headers}" not in text:
                    return f"{text} {headers}"
                return text.replace("{authorization}", self.headers.get("authorization", "")).replace(
                    "{headers}", headers
                )

            def _complete(self, body: dict, reply: Reply) -> None:
                payload = json.dumps(
                    {
                        "id": "chatcmpl-stub",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "stub"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply.text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if reply.truncate_stream:  # the connection drops half-way through the body
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(payload)

            def _stream(self, body: dict, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                words = reply.text.split(" ")
                if reply.truncate_stream:
                    words = words[: max(1, len(words) // 2)]
                for i, word in enumerate(words):
                    piece = word if i == 0 else " " + word
                    event = {
                        "id": "chatcmpl-stub",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": body.get("model", "stub"),
                        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                    }
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                if reply.truncate_stream:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                done = {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": body.get("model", "stub"),
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
                self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                error = sys.exc_info()[1]
                if not isinstance(error, (ConnectionError, TimeoutError)):  # a client that hung up is scripted
                    stub.errors.append(repr(error))  # anything else is a bug in the stub or a responder

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.responder = None
        self.requests.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
