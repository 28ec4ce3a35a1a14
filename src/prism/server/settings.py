"""The service's settings (environment ``PRISM_SERVER_*``), read once at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from prism.assistant.llm import LLMSettings

__all__ = ["ServerSettings"]


class ServerSettings(BaseSettings):
    """Service settings (environment ``PRISM_SERVER_*``)."""

    model_config = SettingsConfigDict(env_prefix="PRISM_SERVER_")

    tasks_dir: Path = Path("tasks")
    models_dir: Path = Path("models")
    admin_token: str | None = Field(default=None, description="for admin endpoints; none: off")
    database: str = Field(
        default=".prism/sessions.sqlite3", description="SQLite file (':memory:': not kept)"
    )
    redis_url: str | None = Field(
        default=None,
        description="store sessions in this Redis (redis://host:port/db) instead of SQLite, "
        "so several service processes or machines can serve them",
    )
    redis_prefix: str = Field(default="prism", description="prefix of the Redis keys")
    llm: LLMSettings = Field(
        default_factory=LLMSettings,
        description="an OpenAI-compatible LLM that phrases answers (environment PRISM_LLM_*; "
        "none: the grounded answers as they are)",
    )
    checkpoint_every_s: float | None = Field(
        default=60.0,
        gt=0,
        description="session time between two stored checkpoints of a session's pipeline "
        "(a restart replays only the inputs after the last one); none: never",
    )
    pipeline_workers: int = Field(
        default=0,
        ge=0,
        description="worker processes running the session pipelines (0: in the service "
        "process); one per core uses every core",
    )
    warm_up_sessions: int = Field(
        default=8,
        ge=0,
        description="sampled sessions tracked when a procedure is first used, to fill its "
        "remaining-time cache (about 0.5 s each, in each pipeline worker)",
    )
    malloc_arenas: int | None = Field(
        default=2,
        ge=1,
        description="glibc malloc arenas per service process (fewer arenas, less resident "
        "memory creeping up under load); none: glibc's default",
    )
    max_sessions: int = Field(default=1000, gt=0)
    max_pending_frames: int = Field(
        default=50,
        gt=0,
        description="frames of a session waiting for a batch after which its connection "
        "is not read until they are processed (backpressure)",
    )
    max_messages_per_s: float = Field(
        default=200.0, gt=0, description="messages a connection may send per second, sustained"
    )
    message_burst: int = Field(default=400, gt=0, description="messages allowed in a burst")
    batch_interval_s: float = Field(
        default=0.005, ge=0, description="pause after each batch so the next collects more"
    )
    max_outbox: int = Field(
        default=2000,
        gt=0,
        description="unsent messages after which a connection that does not read is closed",
    )
