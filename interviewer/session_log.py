"""Durable sessions: an append-only JSONL event log per session, fsync'd as each event happens.

A session's state is never stored, only derived by replaying its events, so a crash loses at most an
event that was still being written (a torn last line is detected and skipped when reading, and the
next append starts on a fresh line so it is not glued to the torn one). The candidate's answer is
appended before any grading starts, so nothing typed is lost.

Lines are split on "\n" only and decoded one at a time: an answer may contain U+2028 or other
characters that str.splitlines() treats as line breaks, and a torn line may end inside a UTF-8
sequence; neither may cost another event. Text UTF-8 cannot encode (a lone surrogate from a browser)
is written with "surrogatepass" and read back exactly, instead of failing the append.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{5,63}$")


class SessionNotFound(KeyError):
    pass


class SessionLog:
    def __init__(self, directory: Path):
        self.directory = directory

    def new_id(self) -> str:
        return time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:8]

    def path(self, session_id: str) -> Path:
        if not _ID.match(session_id):  # ids come from browsers and command lines: no path tricks
            raise SessionNotFound(session_id)
        return self.directory / f"{session_id}.jsonl"

    def append(self, session_id: str, event: dict[str, Any]) -> dict[str, Any]:
        event = {"at": round(time.time(), 3), **event}
        self.directory.mkdir(parents=True, exist_ok=True)
        # A lone surrogate (from a browser) is kept as is, in the 3-byte form "surrogatepass" writes;
        # JSON escapes would not do: json.loads joins an escaped pair into one character.
        data = (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        with open(self.path(session_id), "ab+") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    data = b"\n" + data  # end a line torn by a crash, so this event stands alone
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return event

    def read(self, session_id: str) -> list[dict[str, Any]]:
        path = self.path(session_id)
        if not path.exists():
            raise SessionNotFound(session_id)
        events = []
        for raw in path.read_bytes().split(b"\n"):
            if not raw.strip():
                continue
            try:
                event = json.loads(raw.decode("utf-8", "surrogatepass"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue  # a torn line from a crash mid-write; every complete event is kept
            if isinstance(event, dict):
                events.append(event)
        return events

    def ids(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted((p.stem for p in self.directory.glob("*.jsonl")), reverse=True)
