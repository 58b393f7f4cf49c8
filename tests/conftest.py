"""Shared fixtures. The real MiniLM model loads once per session; indexes live in temp dirs."""

from __future__ import annotations

import os

# Before anything imports transformers/chromadb/gradio: no hub, no telemetry, no analytics.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from pathlib import Path

import pytest

from interviewer.settings import BUNDLED_CORPUS_DIR, Settings

PROJECT_DIR = Path(__file__).resolve().parent.parent

# One ONNX export of the embedding model for every test (and every test subprocess, which inherits
# the variable), kept where `make run` keeps its own, so it is made once per checkout, not per test
# home. Tests of the export itself use their own directories.
os.environ.setdefault("INTERVIEWER_MODELS_DIR", str(PROJECT_DIR / ".interviewer" / "models"))

# tests/local_llm talks to a real llama.cpp server: only `make test-local-llm` (which starts one and
# sets this variable) collects it; the default `pytest -q` never does.
collect_ignore = [] if os.environ.get("INTERVIEWER_LOCAL_LLM_URL") else ["local_llm"]


@pytest.fixture
def tmp_settings(tmp_path: Path) -> Settings:
    """Settings with a private home, reading the bundled corpus."""
    return Settings(home=tmp_path / "home")


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory):
    """The bundled corpus ingested once per session into a temporary embedded Chroma."""
    from interviewer.index import Index

    settings = Settings(home=tmp_path_factory.mktemp("corpus-index"), corpus_dir=BUNDLED_CORPUS_DIR)
    index = Index(settings)
    report = index.sync()
    assert report.chunks_embedded > 0
    return index


@pytest.fixture
def eval_cli(corpus_index, monkeypatch: pytest.MonkeyPatch):
    """The real `interviewer` CLI, whose eval commands grade against the session's index."""
    from interviewer import cli
    from interviewer.evals import commands
    from interviewer.grading import warm_up

    warm_up(corpus_index)
    monkeypatch.setattr(commands, "open_index", lambda settings: corpus_index)
    monkeypatch.setenv("INTERVIEWER_HOME", str(corpus_index.settings.home))
    return cli.app
