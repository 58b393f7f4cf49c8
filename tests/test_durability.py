"""Durability: kill -9 during ingest and during a session, and damaged index directories.

The ingest kills run a worker process doing `Index.sync()` on a temporary home and SIGKILL it at
random points: while it embeds (after a progress report) and while it writes to Chroma (after a
random document's write, plus a random delay so some kills land inside an upsert). The embedding is
a deterministic hash in those workers (Chroma's behaviour is what is under test, and the model
would cost ~10 s per process); one test kills the real `interviewer ingest` with the real model
mid-embedding. After every kill, a fresh `Index` on the same home must find the store consistent
or repair it, and one `sync()` must bring it to exactly the state a clean ingest produces.

INTERVIEWER_KILL_ROUNDS (default 6) sets how many random ingest kills run; the seed is printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import interviewer.embeddings
from interviewer.corpus import document_files, parse_file
from interviewer.index import Index, _forget_client
from interviewer.session import replay
from interviewer.session_log import SessionLog
from interviewer.settings import BUNDLED_CORPUS_DIR, Settings
from tests.conftest import PROJECT_DIR

KILL_ROUNDS = int(os.environ.get("INTERVIEWER_KILL_ROUNDS", "6"))
SEED = int(os.environ.get("INTERVIEWER_KILL_SEED", str(random.SystemRandom().randrange(10**6))))


# --- a deterministic stand-in for the embedding model --------------------------------------------


def fake_embed(texts, progress=None, batch_size: int = 32):
    out = np.zeros((len(texts), 384), dtype="float32")
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(384).astype("float32")
        out[i] = vector / np.linalg.norm(vector)
    if progress:
        for start in range(0, len(texts), 16):
            progress(min(16, len(texts) - start))
    return out


def fake_embed_one(text: str) -> list[float]:
    return fake_embed([text])[0].tolist()


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interviewer.embeddings, "embed", fake_embed)
    monkeypatch.setattr(interviewer.embeddings, "embed_one", fake_embed_one)


WORKER = r"""
import hashlib, os, sys, time
import numpy as np
from pathlib import Path
import interviewer.embeddings as E
from interviewer.index import Index
from interviewer.settings import Settings

def fake_embed(texts, progress=None, batch_size=32):
    out = np.zeros((len(texts), 384), dtype="float32")
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(384).astype("float32")
        out[i] = v / np.linalg.norm(v)
    for start in range(0, len(texts), 16):
        time.sleep(0.01)  # an embedding phase long enough to be killed in
        if progress:
            progress(min(16, len(texts) - start))
    return out

E.embed = fake_embed
original = Index._replace_document

def replace(self, doc, *rest):
    original(self, doc, *rest)
    print("wrote", doc.file.source, flush=True)

Index._replace_document = replace
settings = Settings(home=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2]))
index = Index(settings)
report = index.sync(progress=lambda stage, done, total: print("progress", done, total, flush=True))
print("done", report.chunks_total, flush=True)
"""


def run_worker(script: Path, home: Path, corpus: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), str(home), str(corpus)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_DIR,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )


def expected_state(settings: Settings) -> tuple[set[str], dict[str, str]]:
    """The chunk ids and manifest hashes a clean ingest of these documents produces."""
    ids: set[str] = set()
    hashes: dict[str, str] = {}
    for file in document_files(settings):
        parsed = parse_file(file, settings)
        ids |= {c.id for c in parsed.chunks}
        hashes[file.source] = parsed.document.sha256
    return ids, hashes


def assert_consistent(index: Index, settings: Settings) -> None:
    """The store holds exactly what a clean ingest would, and its parts agree with each other."""
    ids, hashes = expected_state(settings)
    got = index.chunks.get(include=["metadatas"])
    assert set(got["ids"]) == ids and len(got["ids"]) == len(ids) == index.count()
    manifest = index.manifest()
    assert {source: entry["sha256"] for source, entry in manifest.items()} == hashes
    per_source: dict[str, int] = {}
    for meta in got["metadatas"]:
        per_source[meta["source"]] = per_source.get(meta["source"], 0) + 1
    assert per_source == {source: entry["chunks"] for source, entry in manifest.items()}
    probe = index.chunks.get(ids=[sorted(ids)[0]], include=["embeddings"])
    found = index.chunks.query(query_embeddings=probe["embeddings"], n_results=1, include=["distances"])
    assert found["ids"][0] == [sorted(ids)[0]] or found["distances"][0][0] < 1e-3


def close(index: Index) -> None:
    """Drop this process's cached Chroma system for the index, so the next open reads the files."""
    _forget_client(index._client, index.settings.index_dir)
    index._client = index._collection = index._manifest_handle = None


def small_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS_DIR, corpus)
    return corpus


def change_corpus(corpus: Path, rng: random.Random) -> None:
    """Edit two documents, remove one, add one: a re-ingest then replaces, deletes and adds."""
    docs = sorted(p for p in corpus.glob("*.md"))
    for path in rng.sample(docs, 2):
        text = path.read_text(encoding="utf-8")
        cut = text.index("\n## ", len(text) // 3) if "\n## " in text[len(text) // 3 :] else len(text) // 2
        path.write_text(text[:cut] + "\n\n## Added later\n\nA new paragraph about showback and budgets.\n")
    rng.choice([p for p in docs if p.exists()]).unlink()
    (corpus / "new-notes.md").write_text("# New notes\n\n## Quarterly reviews\n\nCost per outcome, per domain.\n")


# --- kill -9 during ingest -----------------------------------------------------------------------


def test_kill_9_during_ingest_at_random_points_then_restart_is_consistent(tmp_path: Path, fake_model):
    rng = random.Random(SEED)
    print(f"\nkill -9 during ingest: {KILL_ROUNDS} rounds, seed {SEED} (INTERVIEWER_KILL_SEED)")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    outcomes: list[str] = []
    started = time.time()
    for round_ in range(KILL_ROUNDS):
        base = tmp_path / f"round{round_}"
        corpus = small_corpus(base)
        home = base / "home"
        changed = round_ % 2 == 1  # odd rounds: a complete ingest first, then a killed re-ingest
        if changed:
            first = run_worker(script, home, corpus)
            _, errors = first.communicate(timeout=300)
            assert first.returncode == 0, errors
            change_corpus(corpus, rng)
        proc = run_worker(script, home, corpus)
        assert proc.stdout is not None
        target_kind = rng.choice(["progress", "wrote", "wrote"])
        target_n = rng.randint(1, 3 if changed else 5)  # a re-ingest writes 3 documents, a fresh one 5
        seen = 0
        killed_at = "finished before the kill"
        for line in proc.stdout:
            if line.startswith(target_kind):
                seen += 1
                if seen == target_n:
                    time.sleep(rng.uniform(0, 0.03))
                    os.kill(proc.pid, signal.SIGKILL)
                    killed_at = f"after {target_kind} #{target_n}"
                    break
        proc.wait(timeout=60)
        settings = Settings(home=home, corpus_dir=corpus)
        notices: list[str] = []
        index = Index(settings, notify=notices.append)
        index.sync()
        assert_consistent(index, settings)
        repaired = "repaired: " + "; ".join(n.split(" (")[0] for n in notices) if notices else "clean"
        outcomes.append(f"round {round_} ({'re-ingest' if changed else 'fresh'}) killed {killed_at}: {repaired}")
        close(index)
    print("\n".join(outcomes))
    print(f"{KILL_ROUNDS} kill rounds in {time.time() - started:.1f} s")


def test_kill_9_of_the_real_ingest_command_mid_embedding(tmp_path: Path, fake_model):
    """`interviewer ingest my.md` with the real model, killed after it reports embedding progress."""
    home = tmp_path / "home"
    mine = tmp_path / "my-stories.md"
    mine.write_text("# My stories\n\n## Cost\n\n- Situation: spend up 40%\n- Result: down 28% in two quarters\n")
    env = {
        **os.environ,
        "INTERVIEWER_HOME": str(home),
        "INTERVIEWER_CORPUS_DIR": str(BUNDLED_CORPUS_DIR),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "TTY_COMPATIBLE": "1",  # rich draws the progress bar into the pipe, so progress can be seen
        "TTY_INTERACTIVE": "1",
    }
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "interviewer.cli", "ingest", str(mine)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=PROJECT_DIR,
    )
    assert proc.stderr is not None
    seen = b""
    progress = None
    deadline = time.time() + 300
    while time.time() < deadline:
        block = os.read(proc.stderr.fileno(), 4096)
        if not block:
            break
        seen = (seen + block)[-4000:]
        counts = [(int(a), int(b)) for a, b in re.findall(rb"(\d+)/(\d+)", seen) if 0 < int(a) < int(b)]
        if counts:
            progress = counts[-1]
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert progress is not None, f"no progress seen before the command ended: {seen[-500:]!r}"
    print(
        f"\nkilled `interviewer ingest` at {progress[0]}/{progress[1]} chunks embedded, {time.time() - started:.1f} s"
    )
    settings = Settings(home=home, corpus_dir=BUNDLED_CORPUS_DIR)
    # Copied atomically before indexing: the document is whole or absent, never a torn or temp file.
    folder = settings.documents_dir
    assert not folder.exists() or [p.name for p in folder.iterdir()] in ([], ["my-stories.md"])
    if (folder / "my-stories.md").exists():
        assert (folder / "my-stories.md").read_bytes() == mine.read_bytes()
    index = Index(settings)
    index.sync()  # the restart: the rest is embedded (by the stand-in model, for speed)
    assert_consistent(index, settings)
    close(index)


# --- damaged index directories -------------------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path, fake_model) -> tuple[Settings, dict[str, Any]]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(BUNDLED_CORPUS_DIR.glob("*.md"))[:3]:
        shutil.copy(path, corpus / path.name)
    settings = Settings(home=tmp_path / "home", corpus_dir=corpus)
    index = Index(settings)
    index.sync()
    assert_consistent(index, settings)
    reference = {"count": index.count(), "manifest": index.manifest()}
    close(index)
    return settings, reference


def segment_dirs(settings: Settings) -> list[Path]:
    return [p for p in settings.index_dir.iterdir() if p.is_dir()]


def damage_truncate(settings: Settings) -> None:
    db = settings.index_dir / "chroma.sqlite3"
    os.truncate(db, db.stat().st_size // 3)


def damage_garbage(settings: Settings) -> None:
    db = settings.index_dir / "chroma.sqlite3"
    db.write_bytes(random.Random(1).randbytes(db.stat().st_size))


def damage_delete_db(settings: Settings) -> None:
    (settings.index_dir / "chroma.sqlite3").unlink()


def damage_scribble_pages(settings: Settings) -> None:
    db = settings.index_dir / "chroma.sqlite3"
    data = bytearray(db.read_bytes())
    rng = random.Random(2)
    for page in rng.sample(range(2, len(data) // 4096), 8):  # keep the header page
        data[page * 4096 : page * 4096 + 4096] = rng.randbytes(4096)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [damage_truncate, damage_garbage, damage_delete_db, damage_scribble_pages],
    ids=["truncated-sqlite", "garbage-sqlite", "missing-sqlite", "scribbled-pages"],
)
def test_damaged_index_is_detected_and_rebuilt(built, damage, capsys: pytest.CaptureFixture[str]):
    settings, reference = built
    damage(settings)
    index = Index(settings)
    count = index.count()  # opening checks the store; damage is reported and rebuilt right away
    message = capsys.readouterr().err
    assert f"index at {settings.index_dir} was damaged (" in message and "rebuilding" in message, message
    assert count == reference["count"] and index.manifest() == reference["manifest"]
    assert_consistent(index, settings)
    assert (settings.home / "index.damaged").is_dir()  # the broken copy is kept for a look, once
    print(f"\n{damage.__name__}: {message.strip()}")
    close(index)


def test_lost_vector_segments_are_recovered(built):
    """Chroma rebuilds a lost HNSW segment from its SQLite log: no data lost, nothing for us to do."""
    settings, reference = built
    for directory in segment_dirs(settings):
        shutil.rmtree(directory)
    notices: list[str] = []
    index = Index(settings, notify=notices.append)
    assert index.count() == reference["count"] and not notices
    assert_consistent(index, settings)
    close(index)


def test_manifest_disagreeing_with_chunks_is_detected_and_reindexed(built, capsys: pytest.CaptureFixture[str]):
    settings, reference = built
    index = Index(settings)
    sources = sorted(reference["manifest"])
    # One document lost some chunks; another has chunks but no manifest entry (killed before it was
    # written); a third has a manifest entry claiming more chunks than exist.
    first = index.chunks.get(where={"source": sources[0]})["ids"]
    index.chunks.delete(ids=first[: len(first) // 2])
    index._manifest_collection.delete(ids=[sources[1]])
    entry = dict(reference["manifest"][sources[2]], chunks=reference["manifest"][sources[2]]["chunks"] + 5)
    index._manifest_collection.upsert(ids=[sources[2]], embeddings=[[1.0]], metadatas=[entry])
    close(index)

    reopened = Index(settings)
    assert reopened.count() == reference["count"]
    message = capsys.readouterr().err
    assert "disagreed with its manifest" in message and "re-indexing 3 document(s)" in message, message
    assert reopened.manifest() == reference["manifest"]
    assert_consistent(reopened, settings)
    print(f"\n{message.strip()}")
    close(reopened)


def test_a_healthy_index_opens_without_notices_or_writes(built, monkeypatch: pytest.MonkeyPatch):
    settings, reference = built
    before = {p: p.stat().st_mtime_ns for p in settings.index_dir.rglob("*") if p.is_file()}
    notices: list[str] = []
    started = time.perf_counter()
    index = Index(settings, notify=notices.append)
    assert index.count() == reference["count"]
    opened = time.perf_counter() - started
    assert not notices and not index._rebuild_pending
    assert index.sync().chunks_embedded == 0
    print(f"\nopen + integrity check of a {reference['count']}-chunk index: {opened * 1000:.0f} ms")
    close(index)
    assert before.keys() <= {p for p in settings.index_dir.rglob("*") if p.is_file()}


# --- kill -9 during a session --------------------------------------------------------------------

SESSION_WORKER = r"""
import json, sys
from pathlib import Path
from interviewer.corpus import question_bank
from interviewer.grading.grade import Grade
from interviewer.interview import Interviewer
from interviewer.session import SessionConfig
from interviewer.session import replay
from interviewer.session_log import SessionLog
from interviewer.settings import Settings

def grader(question, answer, level):
    grade = Grade(question=question.text, answer=answer, engine="stub", decision="Hire", score=2.5,
                  uncapped_decision="Hire", summary="stub", axes=[], star=[], retrieved=[])
    return grade, []

bank, _ = question_bank(Settings())
log = SessionLog(Path(sys.argv[1]))
interviewer = Interviewer(bank, grader, log)
answers = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
if sys.argv[3] == "new":
    state = interviewer.start(SessionConfig(track="mixed", questions=10, follow_ups=3, seed=5))
else:
    state = interviewer.resume(sys.argv[3])
print("session", state.id, flush=True)
for n, text in enumerate(answers):
    state = interviewer.submit(state, text)
    print("ack", n, flush=True)  # submit returned: the answer is on disk
"""


def session_answers(rng: random.Random, n: int) -> list[str]:
    """Large, mixed-script answers (so one event spans several write() calls) with awkward characters."""
    pieces = ["We cut spend 28%. ", "Ελληνικά ", "русский ", "中文字符 ", "\U0001f600\U0001f469\u200d\U0001f467 "]
    pieces += ["line\u2028sep ", "\x00nul ", "<b>x</b> "]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(50, 1500))) + f" #{i}" for i in range(n)]


def test_kill_9_during_a_session_keeps_every_acknowledged_answer(tmp_path: Path):
    rng = random.Random(SEED)
    script = tmp_path / "session_worker.py"
    script.write_text(SESSION_WORKER)
    log = SessionLog(tmp_path / "sessions")
    session_id = "new"
    acknowledged: list[str] = []
    kills = 0
    started = time.time()
    for round_ in range(4):
        answers = session_answers(rng, 3)
        answers_file = tmp_path / f"answers{round_}.json"
        answers_file.write_text(json.dumps(answers), encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, str(script), str(log.directory), str(answers_file), session_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT_DIR,
        )
        assert proc.stdout is not None
        target = rng.randint(1, 3)
        for line in proc.stdout:
            if line.startswith("session "):
                session_id = line.split()[1]
            if line.startswith("ack "):
                acknowledged.append(answers[int(line.split()[1])])
                if int(line.split()[1]) + 1 == target:
                    time.sleep(rng.uniform(0, 0.02))  # sometimes mid-way through the next append
                    os.kill(proc.pid, signal.SIGKILL)
                    kills += 1
                    break
        proc.wait(timeout=60)
        state = log.read(session_id)
        answered = [e["text"] for e in state if e.get("type") == "answered"]
        # Every acknowledged answer is in the log, verbatim and in order (one more may have made it).
        assert answered[: len(acknowledged)] == acknowledged
        acknowledged = answered
        resumed = replay(session_id, state)
        assert [a for ex in resumed.exchanges for a in ex.answers] == answered
        if resumed.ended:
            break
    print(f"\nsession: {kills} kill -9s, {len(acknowledged)} answers kept, {time.time() - started:.1f} s")


def test_torn_last_line_neither_hides_nor_swallows_later_events(tmp_path: Path):
    log = SessionLog(tmp_path)
    sid = log.new_id()
    log.append(sid, {"type": "answered", "text": "first"})
    with open(log.path(sid), "ab") as f:  # a crash mid-append: half an event, cut inside a UTF-8 sequence
        f.write(json.dumps({"type": "answered", "text": "中文 lost"}, ensure_ascii=False).encode()[:-9])
    log.append(sid, {"type": "answered", "text": "after the crash"})
    assert [e["text"] for e in log.read(sid)] == ["first", "after the crash"]


@pytest.mark.parametrize("text", ["a\u2028b", "a\u2029b", "x\x85y", "\x1c\x1d\x1e", "\ud800 lone surrogate", "\x00"])
def test_answers_with_line_separators_or_surrogates_survive_the_log(tmp_path: Path, text: str):
    log = SessionLog(tmp_path)
    sid = log.new_id()
    log.append(sid, {"type": "answered", "text": text})
    log.append(sid, {"type": "answered", "text": "next"})
    assert [e["text"] for e in log.read(sid)] == [text, "next"]


def test_a_copy_killed_half_way_leaves_nothing_that_is_indexed(tmp_path: Path, fake_model):
    """`ingest` writes `.name.tmp` and renames it; a kill in between leaves the hidden file, which is ignored."""
    settings = Settings(home=tmp_path / "home", corpus_dir=tmp_path / "empty-corpus")
    settings.documents_dir.mkdir(parents=True)
    (settings.documents_dir / ".mine.md.tmp").write_bytes(b"# Mine\n\nhalf a docu")
    report = Index(settings).sync()
    assert report.refused == [] and report.added == [] and document_files(settings) == []
