"""Capacity: how many candidates one machine serves with turn p95 <= 1 s when each thinks 60 s ± 20 s.

Run from the project root (offline, loopback only, bounded in time):

    .venv/bin/python benchmarks/capacity.py                          # 25, 50, 100, 200, 400 candidates
    .venv/bin/python benchmarks/capacity.py --candidates 50,100 --level-s 90 --json

The app is `app.py` as shipped, in a subprocess (benchmarks/load.py's `app_process`). Each simulated
candidate is its own gradio_client session: it starts an interview, then repeatedly thinks for a
uniform 60 ± 20 s and submits a real answer from the dev set (so grading costs what it costs), and
starts a new interview after the debrief. A turn is timed from submit to the final update.

Think time is compressed by `--time-scale` (default 10): a level of N candidates is run as N / scale
clients that each think (60 ± 20) / scale s. They submit turns at the same rate as N candidates would
(N / 60 per second), which is what loads the server; what this does not reproduce is N open
connections and N sessions' memory (both small here: a session is a few KB of state). With
`--time-scale 1` every candidate is a client of its own, in real time.

For each level it prints the turn p50/p95/max, errors, the machine's load average and the app
process's CPU share; the capacity is the largest level whose p95 is within the target with no error.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.load import PROJECT_DIR, app_process, percentile, said

TARGET_P95_S = 1.0
DEV_SET = PROJECT_DIR / "evals" / "grader_dev.jsonl"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Level:
    candidates: int
    clients: int
    seconds: float
    turns: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    loadavg_end: list[float] = field(default_factory=list)
    app_cpu_share: float = 0.0  # app process CPU seconds / (wall × CPUs)

    def summary(self) -> dict[str, Any]:
        ms = [t * 1000 for t in self.turns]
        return {
            "candidates": self.candidates,
            "clients": self.clients,
            "seconds": round(self.seconds, 1),
            "turns": len(ms),
            "turns_per_s": round(len(ms) / self.seconds, 2) if self.seconds else 0.0,
            "p50_ms": round(percentile(ms, 50), 1),
            "p95_ms": round(percentile(ms, 95), 1),
            "max_ms": round(max(ms, default=float("nan")), 1),
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "loadavg_end": self.loadavg_end,
            "app_cpu_share": round(self.app_cpu_share, 3),
            "meets_target": bool(ms) and not self.errors and percentile(ms, 95) <= TARGET_P95_S * 1000,
        }


def answers() -> list[str]:
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["answer"] for r in rows if r.get("kind") == "normal"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def candidate(
    url: str, n: int, texts: list[str], think: tuple[float, float], stop_at: float, level: Level, lock: threading.Lock
) -> None:
    """One client: interviews back to back until `stop_at`, thinking before every answer."""
    from gradio_client import Client

    rng = random.Random(n)
    try:
        client = Client(url, verbose=False)
    except Exception as exc:  # a figure, not a crash
        with lock:
            level.errors.append(f"client {n}: connect: {exc!r}"[:300])
        return
    time.sleep(rng.uniform(0, think[0] + think[1]))  # candidates do not all arrive at once
    while time.monotonic() < stop_at:
        try:
            client.submit("mixed", "Senior EM", 3, 1, n, api_name="/start").result(timeout=120)
            while True:
                pause = rng.uniform(think[0] - think[1], think[0] + think[1])
                if time.monotonic() + pause >= stop_at:
                    return
                time.sleep(pause)
                start = time.perf_counter()
                chat, _feedback, debrief, *_ = client.submit(rng.choice(texts), api_name="/answer").result(timeout=120)
                elapsed = time.perf_counter() - start
                with lock:
                    level.turns.append(elapsed)
                if "Debrief" in str(debrief) or not chat or not said(chat[-1]):
                    break  # the interview is over: the candidate starts another one
        except Exception as exc:
            with lock:
                level.errors.append(f"client {n}: {exc!r}"[:300])
            return


def run_level(url: str, app_pid: int, candidates: int, scale: float, seconds: float, texts: list[str]) -> Level:
    clients = max(1, round(candidates / scale))
    think = (60.0 / scale, 20.0 / scale)
    level = Level(candidates=candidates, clients=clients, seconds=seconds)
    lock = threading.Lock()
    cpu_start, wall_start = cpu_seconds(app_pid), time.monotonic()
    stop_at = wall_start + seconds
    threads = [
        threading.Thread(target=candidate, args=(url, n, texts, think, stop_at, level, lock), daemon=True)
        for n in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 300)
    wall = time.monotonic() - wall_start
    level.seconds = wall
    level.app_cpu_share = (cpu_seconds(app_pid) - cpu_start) / (wall * (os.cpu_count() or 1))
    level.loadavg_end = [round(x, 2) for x in os.getloadavg()]
    return level


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--candidates", default="25,50,100,200,400", help="levels to try, in order")
    parser.add_argument("--time-scale", type=float, default=10.0, help="think-time compression (default 10)")
    parser.add_argument("--level-s", type=float, default=120.0, help="seconds per level (default 120)")
    parser.add_argument("--home", type=Path, default=None, help="an INTERVIEWER_HOME whose index is built")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import tempfile

    args = parse_args(argv)
    levels = [int(x) for x in args.candidates.split(",") if x.strip()]
    texts = answers()
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="interviewer-capacity-") as tmp:
        home = args.home or Path(tmp) / "home"
        with app_process(home) as (url, side):
            for n in levels:
                print(f"level {n} candidates ...", file=sys.stderr, flush=True)
                summary = run_level(url, side.pid, n, args.time_scale, args.level_s, texts).summary()
                results.append(summary)
                print(json.dumps(summary), file=sys.stderr, flush=True)
                if not summary["meets_target"]:
                    break  # the next level is only worse
    met = [r["candidates"] for r in results if r["meets_target"]]
    report = {
        "target": f"turn p95 <= {TARGET_P95_S:.0f} s, no errors, think 60 ± 20 s",
        "time_scale": args.time_scale,
        "cpus": os.cpu_count(),
        "loadavg_start": loadavg_start,
        "levels": results,
        "capacity": max(met) if met else 0,
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"target: {report['target']}; think time compressed {args.time_scale:g}x; load at start {loadavg_start}")
        print(
            f"{'candidates':>10} {'clients':>8} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
            f"{'errors':>6} {'app CPU':>8}  load avg"
        )
        for r in results:
            print(
                f"{r['candidates']:>10} {r['clients']:>8} {r['turns']:>6} {r['p50_ms']:>8} {r['p95_ms']:>8} "
                f"{r['max_ms']:>8} {r['errors']:>6} {r['app_cpu_share']:>8}  {r['loadavg_end']}"
            )
        print(f"capacity: {report['capacity']} candidates with turn p95 <= {TARGET_P95_S:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
