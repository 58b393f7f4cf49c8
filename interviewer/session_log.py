"""Durable sessions: an append-only JSONL event log per session, fsync'd as each event happens.

A session's state is never stored, only derived by replaying its events, so a crash loses at most an
event that was still being written (a torn last line is detected and skipped when reading). The
candidate's answer is appended before any grading starts, so nothing typed is lost.
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
        line = json.dumps(event, ensure_ascii=False) + "\n"
        with open(self.path(session_id), "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        return event

    def read(self, session_id: str) -> list[dict[str, Any]]:
        path = self.path(session_id)
        if not path.exists():
            raise SessionNotFound(session_id)
        events = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn final line from a crash mid-write; every complete event is kept
        return events

    def ids(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted((p.stem for p in self.directory.glob("*.jsonl")), reverse=True)
