"""The command line, driven in-process (typer's runner) and as a fresh process for start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from interviewer.cli import app
from tests.conftest import PROJECT_DIR

runner = CliRunner()


def test_questions_filter_by_track(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("INTERVIEWER_HOME", str(tmp_path))
    result = runner.invoke(app, ["questions", "--track", "leadership", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 10 and {r["track"] for r in rows} == {"leadership"}
    table = runner.invoke(app, ["questions"])
    assert table.exit_code == 0 and "questions:" in table.output


def test_commands_without_embeddings_do_not_import_torch():
    code = (
        "import sys; from typer.testing import CliRunner; from interviewer.cli import app;"
        "r = CliRunner().invoke(app, ['questions']); assert r.exit_code == 0, r.output;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0;"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'chromadb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR, check=True)
    assert out.stdout.strip() == "[]"


def test_ingest_search_and_refusal(tmp_path: Path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("# Notes\n\n## Showback\n\nPublish cost per domain and per SLA tier.\n")
    monkeypatch.setenv("INTERVIEWER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INTERVIEWER_CORPUS_DIR", str(corpus))
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    good = tmp_path / "fine.md"
    good.write_text("# Fine\n\nA perfectly good note.\n")
    refused = runner.invoke(app, ["ingest", str(good), str(bad)])
    assert refused.exit_code == 1 and "unsupported file type '.png'" in refused.output
    assert "index is unchanged" in refused.output and not (tmp_path / "home" / "documents").exists()
    ok = runner.invoke(app, ["ingest"])
    assert ok.exit_code == 0 and "embedded 1 chunks" in ok.output
    found = runner.invoke(app, ["search", "cost per team dashboard", "-k", "1"])
    assert found.exit_code == 0 and "notes.md#notes/showback:0" in found.output
    empty_home = runner.invoke(app, ["search", "x"], env={"INTERVIEWER_HOME": str(tmp_path / "empty")})
    assert empty_home.exit_code == 1 and "interviewer ingest" in empty_home.output
