"""The package as a user installs it: a wheel built from this tree, installed (not editable) in a new
venv, run from a folder that is not the checkout.

Reinstalling torch, gradio and chromadb would take minutes, so the new venv sees the project
venv's site-packages through a .pth line and the wheel is installed with --no-deps. A directory
named in a .pth file is only appended to sys.path (its own .pth files are not run), so the project's
editable install is not active there: `interviewer` can only come from the wheel, which each test
checks by where the module and every bundled file it reads actually are.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR
from tests.test_session import STRONG

pytestmark = pytest.mark.slow  # ingest, grading and the app load the embedding model

QUESTION = "Tell me about a time you improved the reliability of a platform other teams depend on."
DECISIONS = ("Strong Hire", "Hire", "Lean Hire", "Lean No Hire", "No Hire")


@dataclass(frozen=True)
class Installed:
    venv: Path
    site_packages: Path
    workdir: Path  # an empty folder: no checkout, no .env
    home: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTERVIEWER_") and k != "PYTHONPATH"}
        env.update(
            INTERVIEWER_HOME=str(self.home),
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            ANONYMIZED_TELEMETRY="False",
            GRADIO_ANALYTICS_ENABLED="False",
            PYTHONDONTWRITEBYTECODE="1",
        )
        # The ONNX export every other test serves from (conftest.py): exporting and verifying it again
        # here would add about a minute and test nothing about packaging. On a clean checkout that export
        # is made from nothing by the first test that needs it; its safety is tested in test_embeddings_onnx.py.
        env["INTERVIEWER_MODELS_DIR"] = os.environ["INTERVIEWER_MODELS_DIR"]
        return env

    def run(self, *args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.workdir,
            env=self.env(),
            timeout=timeout,
        )
        assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        return proc


def build_wheel(out: Path) -> Path:
    """A wheel from a copy of what the wheel is built from, so the build leaves nothing in the checkout."""
    src = out / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT_DIR / name, src / name)
    shutil.copytree(PROJECT_DIR / "interviewer", src / "interviewer", ignore=shutil.ignore_patterns("__pycache__"))
    # No isolation: the build backend is the project venv's setuptools, so nothing is downloaded.
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out / "dist"), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (out / "dist").glob("interviewer-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    workdir = root / "work"
    workdir.mkdir()
    return Installed(venv, site, workdir, root / "home")


@pytest.fixture(scope="module")
def ingested(installed: Installed) -> Installed:
    out = installed.run("interviewer", "ingest", timeout=600)
    said = " ".join(out.stdout.split())  # rich wraps lines at 80 columns when stdout is not a terminal
    assert "added 5, changed 0, removed 0, unchanged 0 documents" in said, out.stdout
    chunks = re.search(r"embedded (\d+) chunks; (\d+) chunks in the index", said)
    assert chunks and int(chunks[1]) == int(chunks[2]) > 100, out.stdout
    return installed


def test_the_installed_package_reads_its_own_bundled_files(installed: Installed):
    code = (
        "import json, interviewer\n"
        "from interviewer.settings import BUNDLED_CORPUS_DIR, Settings\n"
        "from interviewer.prompts import PROMPTS_DIR, prompt_names\n"
        "from interviewer.grading.rubric import RUBRIC_PATH, rubric\n"
        "from interviewer.grading.calibration import CALIBRATION_PATH, load_calibration\n"
        "load_calibration()\n"
        "print(json.dumps({'module': interviewer.__file__, 'corpus': str(Settings().corpus_dir),\n"
        "  'corpus_files': sorted(p.name for p in BUNDLED_CORPUS_DIR.iterdir()), 'prompts': str(PROMPTS_DIR),\n"
        "  'prompt_names': prompt_names(), 'rubric': str(RUBRIC_PATH), 'axes': len(rubric().axes),\n"
        "  'calibration': str(CALIBRATION_PATH)}))\n"
    )
    got = json.loads(installed.run("python", "-c", code).stdout)
    for key in ("module", "corpus", "prompts", "rubric", "calibration"):
        assert Path(got[key]).is_relative_to(installed.site_packages / "interviewer"), (key, got[key])
    bundled = PROJECT_DIR / "interviewer" / "bundled"
    assert got["corpus_files"] == sorted(p.name for p in (bundled / "corpus").iterdir())
    assert got["prompt_names"] == sorted(p.name for p in (bundled / "prompts").glob("*.j2"))
    assert got["axes"] == 5


def test_grade_prints_a_grade_citing_the_bundled_corpus(ingested: Installed):
    answer = ingested.workdir / "answer.txt"
    answer.write_text(STRONG, encoding="utf-8")
    out = ingested.run("interviewer", "grade", "--question", QUESTION, "--answer-file", str(answer), "--json")
    grade = json.loads(out.stdout)
    assert grade["decision"] in DECISIONS
    assert grade["citations"], "no corpus passage was cited"


def test_eval_grade_writes_a_report(ingested: Installed):
    answers = ingested.workdir / "answers.jsonl"
    rows = [
        {"id": "strong", "question": QUESTION, "answer": STRONG, "label": "Hire"},
        {"id": "weak", "question": QUESTION, "answer": "I would use a tool for that.", "label": "No Hire"},
    ]
    answers.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out_dir = ingested.workdir / "run"
    ingested.run("interviewer", "eval", "grade", str(answers), "--out", str(out_dir))
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["metrics"]["graded"] == 2
    assert (out_dir / "report.html").is_file() and (out_dir / "report.md").is_file()


def test_practice_runs_an_interview_from_a_pipe(ingested: Installed):
    out = ingested.run(
        "interviewer",
        "practice",
        "--track",
        "leadership",
        "--questions",
        "1",
        "--follow-ups",
        "0",
        stdin=f"{STRONG}\n\n",
    )
    decisions = [line.split(": ", 1)[1] for line in out.stdout.splitlines() if line.startswith("Decision: ")]
    assert len(decisions) == 1 and decisions[0] in DECISIONS, out.stdout


def test_serve_answers_on_loopback(ingested: Installed):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**ingested.env(), "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    log = ingested.workdir / "serve.log"
    with log.open("wb") as output:
        proc = subprocess.Popen(
            [str(ingested.venv / "bin" / "interviewer"), "serve"],
            cwd=ingested.workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            page = ""
            deadline = time.monotonic() + 300  # a deadline for a hung start, not a measurement
            while not page and proc.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
                        page = reply.read().decode("utf-8", "replace")
                except OSError:
                    time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert page, f"the app did not answer (exit {proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}"
    assert "gradio" in page.lower()
