"""Team mode: ingest and search through a real `chroma run` server on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from interviewer.index import Index
from interviewer.settings import BUNDLED_CORPUS_DIR, Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path):
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        pytest.fail("the chroma CLI is missing from the environment")
    port = free_port()
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("chroma server did not start")
                time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_ingest_and_search_through_a_chroma_server(tmp_path: Path, chroma_server: int):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(BUNDLED_CORPUS_DIR / "leadership-systemic-qa.md", corpus)
    settings = Settings(home=tmp_path / "home", corpus_dir=corpus, chroma_mode="http", chroma_port=chroma_server)
    report = Index(settings).sync()
    assert report.added == ["leadership-systemic-qa.md"] and report.chunks_embedded > 10
    assert not settings.index_dir.exists()  # nothing embedded locally: the server holds the index

    # A second client (a teammate) sees the same manifest and embeds nothing.
    teammate = Index(settings)
    assert teammate.sync().chunks_embedded == 0
    hits = teammate.search("How do you run postmortems so incidents do not recur?", k=3)
    assert hits and any("incident reviews" in h.heading for h in hits)
