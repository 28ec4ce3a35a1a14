"""The project's one settings root, read once from the environment (``PRISM_`` prefix).

Every command and the service read :func:`get_settings` (or a :class:`Settings` handed to
them, in tests); nothing else reads ``os.environ``. Folders are defined here once, and
resolved once, to absolute paths, so a command works from any working directory:

==============================  ==========================  =============================
environment                     field                       default
==============================  ==========================  =============================
``PRISM_TASKS_DIR``             ``tasks_dir``               the repository's ``tasks/``
``PRISM_MODELS_DIR``            ``models_dir``              the repository's ``models/``
``PRISM_DATASETS_DIR``          ``datasets_dir``            the repository's ``datasets/``
``PRISM_DATA_DIR``              ``data_dir``                ``../shared/data`` beside it
``PRISM_SERVER_<FIELD>``        ``server.<field>``          see :class:`ServerSettings`
``PRISM_LLM_<FIELD>``           ``llm.<field>``             see :class:`LLMSettings`
``PRISM_ASR_<FIELD>``           ``asr.<field>``             see :class:`AsrSettings`
==============================  ==========================  =============================

A value that does not parse, or a variable of a section that names no setting of it,
fails at start-up (:func:`get_settings`) with a :class:`~prism.errors.SettingsError`
naming the variable, what was expected and what came in, e.g.
``PRISM_SERVER_MAX_SESSIONS: Input should be a valid integer (got 'many')``.

>>> Settings(tasks_dir=Path("/srv/prism/tasks")).tasks_dir
PosixPath('/srv/prism/tasks')
>>> Settings(server=ServerSettings(max_sessions=5)).server.max_sessions
5
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from prism.errors import SettingsError

__all__ = [
    "AsrSettings",
    "EndpointSettings",
    "LLMSettings",
    "ServerSettings",
    "Settings",
    "get_settings",
]

_REPOSITORY = Path(__file__).resolve().parents[2]


class EndpointSettings(BaseModel):
    """Where an OpenAI-compatible endpoint is and how long to wait for it.

    Off unless a base URL or a key is set. The LLM (:class:`LLMSettings`) and a remote
    transcription server (:class:`AsrSettings`) are both reached this way.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:8080/v1")
    model: str = Field(default="", description="model name at the endpoint")
    api_key: str | None = Field(default=None, description="key (local servers: any text)")
    timeout_s: float = Field(default=4.0, gt=0, description="per request (s)")
    retries: int = Field(default=1, ge=0, description="extra attempts after a failure")

    @property
    def enabled(self) -> bool:
        """True when an endpoint or a key is configured."""
        return bool(self.base_url or self.api_key)

    def client(self) -> Any:
        """An ``openai.OpenAI`` client for this endpoint (requests time out after
        ``timeout_s``, failed ones are retried ``retries`` times)."""
        from openai import OpenAI

        return OpenAI(
            base_url=self.base_url,
            api_key=self.api_key or "not-needed",
            timeout=self.timeout_s,
            max_retries=self.retries,
        )


class LLMSettings(EndpointSettings):
    """The LLM that phrases grounded answers (environment ``PRISM_LLM_*``).

    With no ``base_url`` and no ``api_key`` the LLM is off and the grounded layer answers
    alone (the embedded default: no key, no network).
    """

    model: str = Field(default="gpt-4o-mini", description="model name at the endpoint")
    max_tokens: int = Field(default=80, gt=0)
    temperature: float = Field(default=0.2, ge=0)


class AsrSettings(EndpointSettings):
    """A remote transcription endpoint (environment ``PRISM_ASR_*``).

    With no ``base_url`` and no ``api_key`` it is off and the local Whisper model
    transcribes.
    """

    model: str = Field(default="whisper-1", description="model name at the endpoint")
    timeout_s: float = Field(default=5.0, gt=0, description="per request (s)")
    questions: str | None = Field(
        default=None,
        description="prompt after the step names (none: the recognizer's typical questions)",
    )
    preload: bool = Field(
        default=True,
        description="the service loads the recognizer when it starts, so that the first "
        "spoken question is as fast as the others (false: on the first question)",
    )


class ServerSettings(BaseModel):
    """The service (environment ``PRISM_SERVER_*``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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
    checkpoint_every_s: float | None = Field(
        default=30.0,
        gt=0,
        description="session time between two stored checkpoints of a session's pipeline "
        "(a restart replays only the inputs after the last one, the only ones kept unless "
        "the device records); none: never",
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
    hello_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="a connection that has not sent hello this long after it opened is closed",
    )
    max_connections: int = Field(
        default=2000, gt=0, description="open watch connections, all devices together"
    )
    max_connections_per_device: int = Field(
        default=4, gt=0, description="open watch connections of one device"
    )
    max_unacked_kept: int = Field(
        default=500,
        gt=0,
        description="messages a session keeps in memory that the watch has not acknowledged "
        "(older ones are read back from the store for a resume)",
    )
    max_sessions_per_device: int = Field(
        default=8, gt=0, description="live (not ended, not idle) sessions of one device"
    )
    session_idle_timeout_s: float | None = Field(
        default=3600.0,
        gt=0,
        description="a session that received nothing this long is ended; none: never",
    )
    retention_days: float | None = Field(
        default=30.0,
        gt=0,
        description="ended sessions (their messages and checkpoints) are deleted this long "
        "after they ended; none: kept",
    )
    checkpoint_secret: str | None = Field(
        default=None,
        min_length=16,
        description="key that signs checkpoints (every process sharing a store needs the "
        "same); none: a random key kept in a file beside the SQLite database",
    )
    metrics_admin_only: bool = Field(
        default=False, description="/metrics needs the admin token too"
    )

    def environment(self) -> dict[str, str]:
        """These settings as ``PRISM_SERVER_*`` variables (for worker processes that read
        their settings from the environment); unset fields are left out."""
        return {
            f"PRISM_SERVER_{name.upper()}": str(value)
            for name, value in self.model_dump(exclude_none=True).items()
        }


class Settings(BaseSettings):
    """Everything PrISM can be configured with; see the module's table.

    Attributes
    ----------
    tasks_dir : Path
        Folder holding ``<procedure>/procedure.yaml`` files.
    models_dir : Path
        Trained models: ``<task>/`` per sensing model, ``speech/`` for the recognizer's
        adapter.
    datasets_dir : Path
        The project's packaged recordings (``demo/``, question sets).
    data_dir : Path
        The shared data sets (``captaincook4d/``, ``openpack/``).
    server, llm, asr : ServerSettings, LLMSettings, AsrSettings
        The sections.
    """

    model_config = SettingsConfigDict(
        env_prefix="PRISM_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        frozen=True,
    )

    tasks_dir: Path = _REPOSITORY / "tasks"
    models_dir: Path = _REPOSITORY / "models"
    datasets_dir: Path = _REPOSITORY / "datasets"
    data_dir: Path = _REPOSITORY.parent / "shared" / "data"
    server: ServerSettings = Field(default_factory=ServerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    asr: AsrSettings = Field(default_factory=AsrSettings)

    @field_validator("tasks_dir", "models_dir", "datasets_dir", "data_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        """Resolved once, against the working directory at start-up."""
        return path.expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment on first use.

    Raises
    ------
    SettingsError
        Naming each ``PRISM_*`` variable whose value is not allowed.
    """
    try:
        return Settings()
    except ValidationError as error:
        problems = [
            f"{_variable(problem['loc'])}: {problem['msg']} (got {problem['input']!r})"
            for problem in error.errors()
        ]
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


def _variable(location: tuple[int | str, ...]) -> str:
    """The environment variable of a setting's location (``("server", "max_sessions")``
    -> ``PRISM_SERVER_MAX_SESSIONS``)."""
    return "PRISM_" + "_".join(str(part).upper() for part in location)
