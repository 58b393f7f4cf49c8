"""The ONNX serving path of the embedding model against the torch one it was exported from.

The shared export (INTERVIEWER_MODELS_DIR, set in conftest) is made by the first test that needs it;
the tests of the export's own safety use private directories and cheap stand-ins where they can.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from interviewer import embeddings, onnx_embeddings
from interviewer.onnx_embeddings import FORMAT, MIN_COSINE, ExportInvalid, ExportRecord, OnnxEncoder
from interviewer.settings import BUNDLED_CORPUS_DIR, Settings
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.slow

QUERIES = [
    "How do you handle an incident?",
    "cost per team",
    "",
    "   leading and trailing spaces   ",
    "Café naïve résumé — “quotes” and emoji 🚀 in a sentence",
    "Kubernetes HPA/VPA, p99 latency < 200ms, 99.95% SLO; $1.2M saved (30%)",
]


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Switch the process's embedding backend for one test; the previous one is restored after."""
    monkeypatch.setattr(embeddings, "_config", embeddings.current())

    def use(name: str) -> embeddings.Encoder:
        embeddings.configure(Settings(home=tmp_path / "home", embedding_backend=name))  # type: ignore[arg-type]
        return embeddings.get_model()

    return use


@pytest.fixture(scope="module")
def corpus_chunks() -> list[str]:
    return embeddings.corpus_texts(Settings(home=Path("/nonexistent"), corpus_dir=BUNDLED_CORPUS_DIR))


@pytest.fixture(scope="module")
def corpus_sample(corpus_chunks) -> list[str]:
    texts = corpus_chunks
    sample = texts[::3]
    # Longer than max_seq_length (256 tokens): agreement then needs the same truncation too.
    sample.append(" ".join(texts[:12]))
    return sample + QUERIES


def test_onnx_vectors_match_torch_on_corpus_text(backend, corpus_sample, corpus_chunks):
    model = backend("onnx")
    assert isinstance(model, OnnxEncoder)
    assert len(model.tokenizer.encode(corpus_sample[-len(QUERIES) - 1]).ids) == model.config.max_seq_length
    got = embeddings.embed(corpus_sample)
    expected = np.asarray(embeddings.torch_model().encode(corpus_sample, batch_size=32, normalize_embeddings=True))
    assert got.shape == expected.shape == (len(corpus_sample), embeddings.DIMENSIONS)
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(got * expected, axis=1)
    assert cosines.min() >= MIN_COSINE, (cosines.min(), corpus_sample[int(cosines.argmin())][:80])

    record = onnx_embeddings.read_record(embeddings.current().models_dir)
    assert record.min_cosine_fp32 >= MIN_COSINE and record.chunks >= len(corpus_chunks)
    assert record.chosen == ("int8" if record.min_cosine_int8 >= MIN_COSINE else "fp32")
    assert Path(model.model_file).name == record.file


def test_onnx_tokenizer_gives_sentence_transformers_ids(backend, corpus_sample):
    model = backend("onnx")
    assert isinstance(model, OnnxEncoder)
    texts = [*QUERIES, corpus_sample[-len(QUERIES) - 1]]
    theirs = embeddings.torch_model().preprocess(texts)
    ours = model.tokenizer.encode_batch(texts)
    for row, encoding in enumerate(ours):
        n = len(encoding.ids)
        assert theirs["input_ids"][row][:n].tolist() == encoding.ids, texts[row]
        assert int(theirs["attention_mask"][row].sum()) == n


def test_mixed_length_batches_give_the_vectors_of_one_by_one(backend, corpus_sample):
    model = backend("onnx")
    texts = [corpus_sample[-len(QUERIES) - 1], *QUERIES, *corpus_sample[:10]]
    one_by_one = np.vstack([model.encode(t) for t in texts])
    for batch_size in (32, 3):
        batched = model.encode(texts, batch_size=batch_size)
        np.testing.assert_allclose(batched, one_by_one, atol=2e-5)
    single = np.asarray(embeddings.embed_one(QUERIES[0]), dtype=np.float32)
    np.testing.assert_allclose(single, one_by_one[1], atol=2e-5)
    with_progress = embeddings.embed(texts, progress=lambda n: None, batch_size=4)
    np.testing.assert_allclose(with_progress, one_by_one, atol=2e-5)


def test_torch_backend_still_serves_when_selected(backend):
    model = backend("torch")
    assert type(model).__name__ == "SentenceTransformer" and embeddings.serving() == "torch"
    vectors = embeddings.embed(QUERIES)
    assert vectors.shape == (len(QUERIES), embeddings.DIMENSIONS) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len(embeddings.embed_one("cost per team")) == embeddings.DIMENSIONS
    # Switching back loads the ONNX model again: the setting, not what loaded first, decides.
    assert isinstance(backend("onnx"), OnnxEncoder) and embeddings.serving().startswith("onnx")


def test_known_word_share_counts_wordpieces_without_a_model(monkeypatch):
    from interviewer.grading.guards import known_word_share

    monkeypatch.setattr(embeddings, "get_model", lambda: pytest.fail("no model needed to count word pieces"))
    assert known_word_share("the team reduced the cost") == 1.0
    assert known_word_share("zxqv blorptang the") == pytest.approx(1 / 3)


def test_word_pieces_counted_together_are_those_of_each_word_alone():
    """Counts come from one encode of the words joined (and are remembered per word); each must be what
    tokenising that word alone gives, on generated words: plain, accented, CJK, ligatures, mixed case."""
    import random

    tokenizer = onnx_embeddings._counting_tokenizer()
    rng = random.Random(3)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèüßñøçİﬁΩж数据平台"
    for _ in range(60):
        words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(rng.randint(1, 40))]
        words += rng.sample(["the", "team", "idempotency", "showback", "Kubernetes"], 2) * 2  # repeats
        alone = [len(tokenizer.encode(w, add_special_tokens=False).ids) for w in words]
        assert onnx_embeddings.wordpiece_counts(words) == alone
        assert onnx_embeddings.wordpiece_counts(words) == alone  # again, from what was remembered


# --- serving imports no torch ---------------------------------------------------------------------

_SERVE = r"""
import contextlib, io, json, sys
from pathlib import Path

from interviewer.cli import main

answer_file = sys.argv[1]

def run(*args):
    out = io.StringIO()
    sys.argv = ["interviewer", *args]
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, (args, exc.code)
    return json.loads(out.getvalue())

hits = run("search", "how do you reduce cloud cost per team", "-k", "3", "--mode", "dense", "--json")
grade = run("grade", "--question", "How do you handle an incident?", "--answer-file", answer_file, "--json")

# The app as app.py assembles it (without listening), through one graded turn.
from interviewer.assemble import build_interviewer
from interviewer.grading import warm_up
from interviewer.index import Index
from interviewer.session import SessionConfig
from interviewer.settings import Settings
from interviewer.web import build_app

settings = Settings()
index = Index(settings)
index.warm_up()
warm_up(index)
interviewer = build_interviewer(settings, index)
build_app(settings, index, interviewer)
state = interviewer.start(SessionConfig(questions=1, follow_ups=0))
state = interviewer.submit(state, Path(answer_file).read_text())

from interviewer import embeddings
vectors = embeddings.embed(["a short query", "a longer paragraph about on-call and incident reviews"])
print("RESULT " + json.dumps({
    "modules": sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules),
    "serving": embeddings.serving(),
    "shape": list(vectors.shape),
    "hits": len(hits),
    "decision": grade["decision"],
    "ended": state.ended,
}))
"""

ANSWER = (
    "As the incident commander I declared a SEV2 within ten minutes, paged the database owner, and we "
    "rolled back the schema change; checkout errors fell from 12% to 0.1% in 25 minutes. In the "
    "blameless review I added a canary stage and an automated rollback, and the next quarter we had no "
    "repeat. I own the on-call rota and the error budget policy for the payments platform."
)


def test_serving_with_an_export_imports_no_torch(corpus_index, tmp_path):
    embeddings.configure(corpus_index.settings)
    embeddings.ensure_onnx_export()  # the index was built with it; make sure before the child looks
    answer = tmp_path / "answer.txt"
    answer.write_text(ANSWER)
    env = {**os.environ, "INTERVIEWER_HOME": str(corpus_index.settings.home)}
    env.pop("INTERVIEWER_EMBEDDING_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, "-c", _SERVE, str(answer)],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert result["modules"] == [], result
    assert result["serving"].startswith("onnx") and result["shape"] == [2, embeddings.DIMENSIONS]
    assert result["hits"] == 3 and result["decision"] and result["ended"]


# --- an export that did not finish is never served ---------------------------------------------------

_KILLED_EXPORT = r"""
import os, signal, sys
from pathlib import Path
from interviewer import embeddings, onnx_embeddings

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # after the model file is in place, before its record

onnx_embeddings.write_record = killed
texts = ["How do you run an incident review?", "We cut cloud spend 30% with showback per team."]
onnx_embeddings.export(Path(sys.argv[1]), texts, embeddings._torch_vectors)
"""


class ExportCalled(Exception):
    pass


def test_export_killed_before_its_record_is_not_trusted(tmp_path, monkeypatch):
    models = tmp_path / "models"
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_EXPORT, str(models)],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        timeout=600,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr[-3000:]
    left = sorted(p.name for p in models.iterdir())
    assert any(n.startswith("model-") and n.endswith(".onnx") for n in left), left  # killed at the worst moment
    assert onnx_embeddings.RECORD_NAME not in left
    with pytest.raises(ExportInvalid, match="no export yet"):
        onnx_embeddings.read_record(models)

    # The next use exports again instead of loading the complete-looking file.
    def export_again(*args, **kwargs):
        raise ExportCalled

    monkeypatch.setattr(onnx_embeddings, "export", export_again)
    with pytest.raises(ExportCalled):
        onnx_embeddings.ensure_export(models, lambda: ["text"], lambda texts: np.zeros((1, 384)))


def _record_for(model: Path, **changes) -> ExportRecord:
    data = model.read_bytes()
    fields = dict(
        format=FORMAT,
        package_version=onnx_embeddings._package_version(),
        chosen="fp32",
        file=model.name,
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        min_cosine_fp32=1.0,
        min_cosine_int8=0.98,
        threshold=MIN_COSINE,
        chunks=1,
        texts_sha256="",
        max_seq_length=256,
        exported_at="2026-01-01T00:00:00+00:00",
    )
    fields.update(changes)
    return ExportRecord(**fields)  # type: ignore[arg-type]


def test_a_record_is_trusted_only_with_the_exact_file_it_names(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    model = models / "model-fp32-0123456789abcdef.onnx"
    model.write_bytes(os.urandom(4096))
    onnx_embeddings.write_record(models, _record_for(model))
    assert onnx_embeddings.read_record(models).file == model.name

    with model.open("r+b") as f:  # half a file under a record that names it
        f.truncate(2048)
    with pytest.raises(ExportInvalid, match="does not match"):
        onnx_embeddings.read_record(models)

    model.write_bytes(os.urandom(4096))  # same size, other bytes
    with pytest.raises(ExportInvalid, match="does not match"):
        onnx_embeddings.read_record(models)

    model.unlink()
    with pytest.raises(ExportInvalid, match="missing"):
        onnx_embeddings.read_record(models)


def test_stale_or_unreadable_records_are_not_trusted(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    model = models / "model-fp32-0123456789abcdef.onnx"
    model.write_bytes(b"x" * 100)
    record = models / onnx_embeddings.RECORD_NAME
    for broken, reason in [
        (json.dumps(_record_for(model).__dict__)[:-20], "unreadable"),  # cut short
        (json.dumps({"format": FORMAT}), "unreadable"),
        (json.dumps(_record_for(model, format=FORMAT - 1).__dict__), "format"),
        (json.dumps(_record_for(model, package_version="0.0.0-other").__dict__), "installed"),
        (json.dumps(_record_for(model, file="../elsewhere.onnx").__dict__), "no model file"),
    ]:
        record.write_text(broken)
        with pytest.raises(ExportInvalid, match=reason):
            onnx_embeddings.read_record(models)
