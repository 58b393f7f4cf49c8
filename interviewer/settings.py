"""One typed settings object, read only at the entry points (CLI, app, benchmarks) and passed down.

Every field can be set from the environment with the INTERVIEWER_ prefix (e.g.
INTERVIEWER_HOME=/srv/interviewer) or from a `.env` file in the working directory. The usual
OPENAI_API_KEY / OPENAI_BASE_URL are honoured for the OpenAI-compatible backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from interviewer.resources import package_path

# Package data, so an installed wheel has its corpus wherever it is installed (not beside a checkout).
BUNDLED_CORPUS_DIR = package_path("bundled", "corpus")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTERVIEWER_", env_file=".env", extra="ignore")

    # Where everything the product writes lives: index, the user's own documents, sessions.
    home: Path = Path(".interviewer")
    corpus_dir: Path = BUNDLED_CORPUS_DIR

    # Vector store: embedded Chroma on disk by default; "http" shares one Chroma server in a team.
    chroma_mode: Literal["embedded", "http"] = "embedded"
    chroma_host: str = "127.0.0.1"
    chroma_port: int = 8000
    collection: str = "interviewer_chunks"

    # Documents: what ingest accepts. Anything else is refused with a message, never half-indexed.
    allowed_suffixes: tuple[str, ...] = (".md", ".markdown", ".txt")
    max_document_bytes: int = 2_000_000
    max_document_sections: int = 2_000  # headings, admonitions and bold titles in one document
    max_document_chunks: int = 5_000  # what one document may add to the index (each is embedded)
    max_chunk_chars: int = 900

    # Embeddings: the same all-MiniLM-L6-v2 either way. "onnx" serves it with onnxruntime from a file
    # exported once from the packaged weights (no torch import when serving); "torch" runs it with
    # sentence-transformers. The export lives in `models_dir`, by default <home>/models.
    embedding_backend: Literal["onnx", "torch"] = "onnx"
    models_dir: Path | None = None

    # Retrieval
    search_k: int = 5
    candidate_pool: int = 50
    # hybrid = weighted reciprocal rank fusion of the four retrievers: sum of weight / (fusion_k + rank).
    # Chosen by 5-fold cross-validation on the retrieval dev set's train split only
    # (python -m interviewer.evals.fusion_cv evals/retrieval_dev.jsonl; README, "Retrieval").
    fusion_k: float = 10.0
    fusion_weights: dict[str, float] = Field(
        default_factory=lambda: {"bm25": 2.0, "dense": 1.0, "heading": 1.0, "question": 0.5}
    )
    # The domain glossary (bundled/glossary.yaml): expand queries with the corpus's terms (BM25 and,
    # when glossary_dense, the query embedding too) and passages' BM25 text with the plain words.
    glossary_queries: bool = True
    glossary_dense: bool = False
    glossary_passages: bool = True
    # With an LLM backend: rerank hybrid's top 20 by the LLM (bundled/prompts/rerank.md.j2), falling back
    # to the fused order on any reply that is not a valid ranking.
    rerank: bool = False

    # Optional LLM through any OpenAI-compatible endpoint: "offline" (no LLM) or "openai:<model>".
    backend: str = "offline"
    llm_timeout: float = 60.0
    llm_max_retries: int = 2  # retried with exponential backoff; Retry-After is honoured
    llm_max_tokens: int = 1500
    # The LLM only words a follow-up the offline engine chose: past this, the offline wording is shown.
    follow_up_timeout: float = 10.0
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("INTERVIEWER_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("INTERVIEWER_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )

    # Web app: loopback only unless deliberately exposed.
    server_name: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("INTERVIEWER_SERVER_NAME", "GRADIO_SERVER_NAME")
    )
    server_port: int = Field(
        default=7860, validation_alias=AliasChoices("INTERVIEWER_SERVER_PORT", "GRADIO_SERVER_PORT")
    )

    # Optional login, for when the app listens beyond loopback.
    auth_username: str | None = None
    auth_password: SecretStr | None = None

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def embedding_models_dir(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.home / "models"

    @property
    def documents_dir(self) -> Path:
        """The user's own documents, copied here by `ingest` so the index can always be rebuilt."""
        return self.home / "documents"
