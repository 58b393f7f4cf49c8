"""`benchmarks/bench.py --json` writes JSON and nothing else to stdout.

The whole benchmark takes minutes, so the sections are replaced by one that makes the noise they
make: a real Gradio app launched and closed (Gradio prints "Closing server running on port: N" on
close), a print, a write to file descriptor 1 and a child process that inherits it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import gradio as gr
import pytest

from benchmarks import bench


def noisy_section(args: argparse.Namespace, results: bench.Results, started: float) -> None:
    with gr.Blocks() as demo:
        gr.Markdown("bench")
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    demo.close()
    print("a library's print")
    os.write(1, b"a write to fd 1\n")
    subprocess.run([sys.executable, "-c", "print('a child process')"], check=True)
    results.add("0 noise", "figure", 1.5, "s", "<= 2 s", True)


def test_json_mode_prints_only_json_on_stdout(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]):
    monkeypatch.setattr(bench, "run_benchmarks", noisy_section)
    assert bench.main(["--json"]) == 0
    out, err = capfd.readouterr()
    payload = json.loads(out)  # fails on any line that is not the JSON
    assert [(f["section"], f["name"], f["value"]) for f in payload["figures"]] == [("0 noise", "figure", 1.5)]
    for noise in ("Closing server running on port", "a library's print", "a write to fd 1", "a child process"):
        assert noise in err and noise not in out
    # stdout is back where it was afterwards
    print("after")
    os.write(1, b"fd after\n")
    out, err = capfd.readouterr()
    assert out == "after\nfd after\n" and err == ""


def test_table_mode_still_prints_the_table_on_stdout(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(bench, "run_benchmarks", noisy_section)
    assert bench.main([]) == 0
    out, _ = capfd.readouterr()
    assert "0 noise" in out and "1/1 targets met" in out
