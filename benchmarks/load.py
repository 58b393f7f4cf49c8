"""Load: concurrent interviews through gradio_client against one app on loopback.

Run from the project root:

    .venv/bin/python benchmarks/load.py                    # 20 clients against `python app.py`
    .venv/bin/python benchmarks/load.py --clients 40 --json
    .venv/bin/python benchmarks/load.py --home PATH        # an INTERVIEWER_HOME whose index is built
    .venv/bin/python benchmarks/load.py --app inprocess --concurrency 2

Every client is its own `gradio_client.Client`, so its own Gradio session with its own `gr.State`, as
separate browsers would be. All clients connect first, then run their interviews at the same time:
start, then the scripted turns (default: answer, follow-up answer, answer, /skip, /end), each turn
timed from submit to final update, as the user waits for it. Every answer carries a token unique to
its client. Afterwards every session's event log, chat history, feedback, debrief and transcript is
checked:

- errors: exceptions, time-outs, and responses that are not what the turn should produce;
- cross-talk: another client's token anywhere a client can see or in its session's log, a session
  whose config, plan, answers or asked questions are not its own client's, sessions missing or extra.

By default the app is `app.py` as shipped, in a subprocess (its own queue settings, index sync and
grader warm-up; offline; on a free loopback port) with a temporary INTERVIEWER_HOME unless `--home`
is given. `--app inprocess` builds it with `build_app()` in this process instead (what
tests/test_load.py does), with the shipped app's queue `default_concurrency_limit` (interviewer/serve.py) unless
`--concurrency` is given; there the clients share the server's interpreter and GIL.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
}.items():
    os.environ.setdefault(_key, _value)  # before anything imports transformers, chromadb or gradio

if TYPE_CHECKING:
    from interviewer.index import Index
    from interviewer.questions import Question
    from interviewer.session_log import SessionLog

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Every temporary home serves the checkout's one ONNX export of the embedding model (the one
# `make run` makes) instead of exporting its own.
os.environ.setdefault("INTERVIEWER_MODELS_DIR", str(PROJECT_DIR / ".interviewer" / "models"))
DEFAULT_CLIENTS = 20
DEFAULT_STEPS = ("answer", "answer", "answer", "skip", "end")
QUESTIONS = 3
FOLLOW_UPS = 1
TURN_TIMEOUT_S = 180.0
TOKEN = re.compile(r"\bzq\d{3}[0-9a-f]{6}\b")  # a client's token: zq + client number + random hex

ANSWERS = (
    "I owned the move of our ingestion from nightly batch to streaming for 40 teams; p99 freshness went "
    "from 6 hours to 9 minutes and I wrote the runbook myself.",
    "The trade-off was cost: about 20% more compute, paid back within two quarters by retiring the batch "
    "cluster. I got finance to agree by showing the incident cost we avoided.",
    "After a bad outage I ran the review, we added SLOs with error budgets, and pages dropped by half in "
    "three months; the on-call rota and the budget policy are still in place.",
)


def app_concurrency() -> int | None:
    """The `default_concurrency_limit` the shipped app (interviewer/serve.py) gives the queue."""
    from interviewer.serve import QUEUE_CONCURRENCY

    return QUEUE_CONCURRENCY


# The line naming the panel interviewer who speaks ("**Priya Raman** · Hiring manager"), above their text.
SPEAKER_HEADER = re.compile(r"^\*\*[^*\n]+\*\* · [^\n]*\n\n")


def said(message: dict[str, Any]) -> str:
    """A chat message's text without its speaker line (Gradio 6 returns content as a list of typed parts)."""
    content = message["content"]
    text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
    return SPEAKER_HEADER.sub("", text, count=1)


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100] (NaN for no values)."""
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


# --- one client ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    n: int
    token: str
    track: str
    level: str
    seed: int
    questions: int
    follow_ups: int
    steps: tuple[str, ...]

    def answer(self, k: int) -> str:
        return f"[{self.token}] {ANSWERS[(self.n + k) % len(ANSWERS)]}"


@dataclass
class ClientRun:
    script: Script
    client: Any = None
    session_id: str | None = None
    sent: list[str] = field(default_factory=list)  # what the candidate typed, in order (answers only)
    expected_user: list[str] = field(default_factory=list)  # the candidate turns the chat should show
    turns: list[tuple[str, float]] = field(default_factory=list)  # (kind, seconds)
    seen: list[str] = field(default_factory=list)  # every text the client was shown
    questions_shown: list[str] = field(default_factory=list)  # "Question k of N: ..." as shown, in order
    follow_ups: int = 0  # answers that were followed up rather than graded
    transcript: str | None = None
    errors: list[str] = field(default_factory=list)


def make_scripts(bank: list[Question], clients: int, steps: tuple[str, ...] = DEFAULT_STEPS) -> list[Script]:
    from interviewer.session import LEVELS, MIXED

    tracks = [MIXED, *sorted({q.track for q in bank})]
    salt = uuid.uuid4().hex[:6]
    return [
        Script(
            n=n,
            token=f"zq{n:03d}{salt}",
            track=tracks[n % len(tracks)],
            level=LEVELS[n % len(LEVELS)],
            seed=1000 + n,
            questions=QUESTIONS,
            follow_ups=FOLLOW_UPS,
            steps=steps,
        )
        for n in range(clients)
    ]


def connect(url: str, run: ClientRun) -> ClientRun:
    from gradio_client import Client

    try:
        run.client = Client(url, verbose=False)
    except Exception as exc:  # every failure is a figure, not a crash
        run.errors.append(f"client {run.script.n}: connect: {exc!r}")
    return run


def drive(run: ClientRun, timeout: float = TURN_TIMEOUT_S) -> ClientRun:
    """The client's interview, every response checked as it arrives; stops at the first error."""
    if run.client is None:
        return run
    s = run.script
    asked = 0  # the question number on screen
    total = 0

    def turn(kind: str, *args: Any, api_name: str) -> tuple[list[dict[str, Any]], str, str, str | None]:
        start = time.perf_counter()
        job = run.client.submit(*args, api_name=api_name)
        out = job.result(timeout=timeout)
        run.turns.append((kind, time.perf_counter() - start))
        for partial in job.outputs():  # the streamed updates too, not only the final one
            shown = partial[0] if isinstance(partial[0], list) else []  # not a gr.update()
            run.seen += [said(m) for m in shown] + [str(partial[1]), str(partial[2])]
        chat, feedback, debrief, transcript, _box = out
        if transcript:
            run.transcript = str(transcript)
        if str(feedback).startswith("**"):
            raise AssertionError(f"{kind}: refused: {feedback[:200]}")
        users = [said(m) for m in chat if m["role"] == "user"]
        if [html.unescape(u) for u in users] != run.expected_user:
            raise AssertionError(f"{kind}: candidate turns shown {users!r}, sent {run.expected_user!r}")
        return chat, str(feedback), str(debrief), transcript

    def question_shown(chat: list[dict[str, Any]], number: int) -> None:
        last = said(chat[-1])
        if not last.startswith(f"Question {number} of {total}"):
            raise AssertionError(f"expected question {number} of {total}, got {last[:120]!r}")
        run.questions_shown.append(html.unescape(last))

    try:
        chat, _, _, transcript = turn("start", s.track, s.level, s.questions, s.follow_ups, s.seed, api_name="/start")
        match = re.match(r"Question 1 of (\d+)", said(chat[-1]))
        if transcript is None or match is None or len(chat) != 1:
            raise AssertionError(f"start: unexpected response {[said(m)[:80] for m in chat]!r}")
        run.session_id = Path(str(transcript)).stem
        total, asked = int(match.group(1)), 1
        run.questions_shown.append(html.unescape(said(chat[-1])))
        answers = 0
        answered_this_question = False  # /skip after an answer moves on (graded), before one it skips
        for step in s.steps:
            if step == "answer":
                text = s.answer(answers)
                answers += 1
                run.sent.append(text)
                run.expected_user.append(text)
                chat, _, debrief, _ = turn("answer", text, api_name="/answer")
                if said(chat[-1]).startswith("Follow-up:"):
                    run.follow_ups += 1
                    answered_this_question = True
                    continue
                answered_this_question = False
                if asked == total:
                    if "Debrief" not in debrief:
                        raise AssertionError("answer to the last question: no debrief")
                    break
                asked += 1
                question_shown(chat, asked)
            elif step == "skip":
                run.expected_user.append("(moved on to the next question)" if answered_this_question else "(skipped)")
                answered_this_question = False
                chat, _, debrief, _ = turn("skip", api_name="/skip")
                if asked == total:
                    if "Debrief" not in debrief:
                        raise AssertionError("skip of the last question: no debrief")
                    break
                asked += 1
                question_shown(chat, asked)
            elif step == "end":
                _, _, debrief, _ = turn("end", api_name="/end")
                if "Debrief" not in debrief:
                    raise AssertionError("end: no debrief")
                break
            else:
                raise ValueError(f"unknown step {step!r}")
    except Exception as exc:  # recorded: the run goes on, the report counts it
        run.errors.append(f"client {s.n} after {len(run.turns)} turn(s): {exc!r}"[:600])
    return run


# --- the checks after the run ----------------------------------------------------------------------


def cross_talk(
    runs: list[ClientRun], log: SessionLog, bank: list[Question], existing: set[str] | None = None
) -> list[str]:
    """Every way one client's interview could show up in another's, or a session not be its own.

    `existing`: the sessions the log held before the run (any other new session is a stray)."""
    from interviewer.session import SessionConfig, plan_questions

    problems: list[str] = []
    ids = [r.session_id for r in runs if r.session_id]
    if len(set(ids)) != len(ids):
        problems.append(f"clients share sessions: {sorted(ids)}")
    strays = sorted(set(log.ids()) - set(ids) - (existing or set()))
    if strays:
        problems.append(f"sessions no client started: {strays}")
    for run in runs:
        s = run.script
        if run.session_id is None:
            continue
        where = f"client {s.n} (session {run.session_id})"
        events = log.read(run.session_id)
        raw = log.path(run.session_id).read_text(encoding="utf-8")
        config = events[0].get("config", {}) if events and events[0].get("type") == "started" else {}
        wanted = {"track": s.track, "level": s.level, "questions": s.questions, "follow_ups": s.follow_ups}
        if {k: config.get(k) for k in [*wanted, "seed"]} != {**wanted, "seed": s.seed}:
            problems.append(f"{where}: the log's config {config} is not the client's")
            continue
        plan = events[0]["plan"]
        own = plan_questions(bank, SessionConfig.model_validate(config))
        if [q["id"] for q in plan] != [q.id for q in own]:
            problems.append(f"{where}: the plan is not the one its own config gives")
        answered = [e["text"] for e in events if e["type"] == "answered"]
        if answered != run.sent:
            problems.append(f"{where}: the log's answers {answered!r} are not the ones this client sent")
        asked = [e for e in events if e["type"] == "asked" and e["kind"] == "question"]
        for e in asked:
            if plan[e["index"]]["text"].lower() not in e["text"].lower():
                problems.append(f"{where}: asked {e['text'][:80]!r} for plan question {e['index'] + 1}")
        if [e["text"] for e in asked] != run.questions_shown:
            problems.append(f"{where}: questions shown {run.questions_shown!r} differ from its log")
        transcript = Path(run.transcript).read_text(encoding="utf-8") if run.transcript else ""
        for label, texts in (("log", [raw]), ("screen", run.seen), ("transcript", [transcript])):
            foreign = {t for text in texts for t in TOKEN.findall(text)} - {s.token}
            if foreign:
                problems.append(f"{where}: other clients' tokens in its {label}: {sorted(foreign)}")
        if run.sent and s.token not in transcript:
            problems.append(f"{where}: its own answers are missing from its transcript")
    return problems


# --- the whole run -------------------------------------------------------------------------------


@dataclass
class LoadReport:
    clients: int
    concurrency: int | None
    steps: tuple[str, ...]
    errors: list[str]
    cross_talk: list[str]
    turns: list[tuple[str, float]]  # every timed call but start, all clients
    starts: list[float]
    follow_ups: int  # follow-ups asked, all clients
    connect_s: float
    total_s: float
    runs: list[ClientRun] = field(default_factory=list, repr=False)

    def figures(self) -> dict[str, Any]:
        ms = [t * 1000 for _, t in self.turns]
        return {
            "clients": self.clients,
            "queue default_concurrency_limit": self.concurrency,
            "script per client": "start, " + ", ".join(self.steps),
            "turns timed (excluding start)": len(ms),
            "follow-ups asked": self.follow_ups,
            "errors": len(self.errors),
            "cross-talk problems": len(self.cross_talk),
            "turn latency p50 ms": round(percentile(ms, 50)),
            "turn latency p95 ms": round(percentile(ms, 95)),
            "turn latency max ms": round(max(ms)) if ms else float("nan"),
            "start latency p50 ms": round(percentile([t * 1000 for t in self.starts], 50)),
            "start latency p95 ms": round(percentile([t * 1000 for t in self.starts], 95)),
            "clients connected in s": round(self.connect_s, 2),
            "all interviews done in s": round(self.total_s, 2),
        }

    def by_kind(self) -> dict[str, dict[str, float]]:
        kinds = sorted({k for k, _ in self.turns})
        return {
            k: {
                "n": len(v := [t * 1000 for kind, t in self.turns if kind == k]),
                "p50_ms": round(percentile(v, 50)),
                "p95_ms": round(percentile(v, 95)),
                "max_ms": round(max(v)),
            }
            for k in kinds
        }


@contextlib.contextmanager
def launched(index: Index, sessions_dir: Path, concurrency: int | None) -> Iterator[tuple[str, Any]]:
    """The app on a free loopback port, built as app.py builds it; yields (url, interviewer)."""
    from interviewer.assemble import make_grader
    from interviewer.corpus import question_bank
    from interviewer.interview import Interviewer
    from interviewer.session_log import SessionLog
    from interviewer.web import build_app

    bank, _ = question_bank(index.settings)
    interviewer = Interviewer(bank, make_grader(index, None), SessionLog(sessions_dir))
    demo = build_app(index.settings, index, interviewer)
    demo.queue(default_concurrency_limit=concurrency)
    demo.launch(server_name="127.0.0.1", server_port=None, share=False, prevent_thread_lock=True, quiet=True)
    try:
        yield demo.local_url, interviewer
    finally:
        demo.close()


@dataclass
class AppSide:
    """What the checks read from the app's side: its session log and question bank."""

    log: SessionLog
    bank: list[Question]
    pid: int = 0  # the app process (benchmarks/capacity.py reads its CPU time)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def app_process(home: Path, ready_timeout_s: float = 900.0) -> Iterator[tuple[str, AppSide]]:
    """`python app.py` as shipped (its queue settings, index sync, warm-up) with INTERVIEWER_HOME=home,
    offline, without a password, on a free loopback port; yields (url, its log and bank) once it answers.

    Its sessions go to home/sessions; the clients run in this process, so client-side work (SSE
    parsing, file downloads) does not compete with the server for its GIL, as with real browsers."""
    from interviewer.assemble import session_log
    from interviewer.corpus import question_bank
    from interviewer.settings import Settings

    port = free_port()
    env = {
        **os.environ,
        "INTERVIEWER_HOME": str(home),
        "INTERVIEWER_SERVER_NAME": "127.0.0.1",
        "INTERVIEWER_SERVER_PORT": str(port),
        "INTERVIEWER_BACKEND": "offline",
        "INTERVIEWER_AUTH_USERNAME": "",
        "INTERVIEWER_AUTH_PASSWORD": "",
    }
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=PROJECT_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + ready_timeout_s
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        output.seek(0)
                        tail = output.read().decode("utf-8", "replace")[-3000:]
                        raise RuntimeError(f"app.py did not come up (exit {proc.poll()}):\n{tail}") from None
                    time.sleep(0.5)
            settings = Settings(home=home)
            yield url, AppSide(session_log(settings), question_bank(settings)[0], proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_against(
    url: str,
    interviewer: Any,
    clients: int = DEFAULT_CLIENTS,
    steps: tuple[str, ...] = DEFAULT_STEPS,
    concurrency: int | None = None,
) -> LoadReport:
    """`clients` interviews at once against the app at `url`, whose interviewer is `interviewer`.

    `concurrency` is only reported: it is whatever the launched app's queue was given."""
    existing = set(interviewer.log.ids())
    runs = [ClientRun(script) for script in make_scripts(interviewer.bank, clients, steps)]
    with ThreadPoolExecutor(max_workers=clients) as pool:
        start = time.perf_counter()
        runs = list(pool.map(lambda r: connect(url, r), runs))
        connect_s = time.perf_counter() - start
        start = time.perf_counter()
        runs = list(pool.map(drive, runs))
        total_s = time.perf_counter() - start
    return LoadReport(
        clients=clients,
        concurrency=concurrency,
        steps=steps,
        errors=[e for r in runs for e in r.errors],
        cross_talk=cross_talk(runs, interviewer.log, interviewer.bank, existing),
        turns=[t for r in runs for t in r.turns if t[0] != "start"],
        starts=[t for r in runs for kind, t in r.turns if kind == "start"],
        follow_ups=sum(r.follow_ups for r in runs),
        connect_s=connect_s,
        total_s=total_s,
        runs=runs,
    )


def run_load(
    index: Index,
    clients: int = DEFAULT_CLIENTS,
    steps: tuple[str, ...] = DEFAULT_STEPS,
    concurrency: int | None = None,
    warm: bool = True,
) -> LoadReport:
    """Launch the app (sessions in a temporary directory), run the interviews, check them, close it."""
    from interviewer.grading.reference import warm_up

    if concurrency is None:
        concurrency = app_concurrency()
    if warm:
        warm_up(index)  # as app.py does before it launches
    with (
        tempfile.TemporaryDirectory(prefix="interviewer-load-") as sessions,
        launched(index, Path(sessions), concurrency) as (url, interviewer),
    ):
        return run_against(url, interviewer, clients, steps, concurrency)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help="concurrent interviews (default 20)")
    parser.add_argument(
        "--steps",
        default=",".join(DEFAULT_STEPS),
        help=f"each client's turns after start, from answer, skip, end (default {','.join(DEFAULT_STEPS)})",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="with --app inprocess: the queue's default_concurrency_limit (default: the shipped app's)",
    )
    parser.add_argument(
        "--app",
        choices=("process", "inprocess"),
        default="process",
        help="process: run app.py as shipped in a subprocess (default); inprocess: build_app() in this process",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="use the index under this INTERVIEWER_HOME (with --app process, sessions are written to HOME/sessions)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from interviewer.index import Index
    from interviewer.settings import BUNDLED_CORPUS_DIR, Settings

    def note(message: str) -> None:
        print(f"[load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    steps = tuple(s.strip() for s in args.steps.split(",") if s.strip())
    with contextlib.ExitStack() as stack:
        home = args.home or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="interviewer-load-home-")))
        if args.app == "process":
            if args.concurrency is not None:
                raise SystemExit("--concurrency needs --app inprocess: app.py sets its own")
            note(f"starting app.py with INTERVIEWER_HOME={home} (index sync and warm-up)")
            url, side = stack.enter_context(app_process(home))
            note(f"{args.clients} clients against {url}")
            report = run_against(url, side, args.clients, steps, app_concurrency())
        else:
            index = Index(Settings(home=home) if args.home else Settings(home=home, corpus_dir=BUNDLED_CORPUS_DIR))
            note(f"syncing the index under {home}")
            index.sync()
            note(f"{args.clients} clients, app in this process")
            report = run_load(index, args.clients, steps, args.concurrency)
    figures = report.figures()
    if args.json:
        payload = {
            "app": args.app,
            "figures": figures,
            "by_kind": report.by_kind(),
            "errors": report.errors,
            "cross_talk": report.cross_talk,
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
        }
        print(json.dumps(payload, indent=1))
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
        for kind, row in report.by_kind().items():
            print(f"{'  ' + kind + ' turns':<{width}}  n={row['n']} p50={row['p50_ms']} ms p95={row['p95_ms']} ms")
        print(f"{'app':<{width}}  {'app.py in a subprocess' if args.app == 'process' else 'build_app() in-process'}")
        print(f"{'machine':<{width}}  {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        for line in [*report.errors, *report.cross_talk]:
            print(f"PROBLEM: {line}")
    return 1 if report.errors or report.cross_talk else 0


if __name__ == "__main__":
    sys.exit(main())
