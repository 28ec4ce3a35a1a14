"""Settings and client of an OpenAI-compatible endpoint (the LLM, a transcription server).

Both are reached through the ``openai`` client at a base URL with a key, a model name,
a timeout and a number of retries; each has its own environment prefix
(``PRISM_LLM_*``, ``PRISM_ASR_*``) and is off unless a base URL or a key is set. A
top-level module: the assistant's LLM (:mod:`prism.assistant.llm`) and the speech
package's transcription endpoint (:mod:`prism.speech.remote_asr`) share it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings

__all__ = ["EndpointSettings"]


class EndpointSettings(BaseSettings):
    """Where an endpoint is and how long to wait for it (subclasses set the prefix)."""

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
