"""The service's cap on glibc malloc arenas."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from prism.server.memory import ARENA_ENVIRONMENT, limit_malloc_arenas

GLIBC = platform.libc_ver()[0] == "glibc"


def test_zero_arenas_is_refused() -> None:
    with pytest.raises(ValueError, match="arenas must be >= 1, got 0"):
        limit_malloc_arenas(0)


@pytest.mark.skipif(not GLIBC, reason="mallopt(M_ARENA_MAX) is glibc's")
def test_children_started_afterwards_inherit_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ARENA_ENVIRONMENT, "x")  # recorded, so the test restores it
    monkeypatch.delenv(ARENA_ENVIRONMENT)
    assert limit_malloc_arenas(2) is True
    seen = subprocess.run(
        [sys.executable, "-c", f"import os; print(os.environ['{ARENA_ENVIRONMENT}'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert seen == "2"


@pytest.mark.skipif(not GLIBC, reason="mallopt(M_ARENA_MAX) is glibc's")
def test_an_operator_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ARENA_ENVIRONMENT, "4")
    assert limit_malloc_arenas(2) is True
    assert os.environ[ARENA_ENVIRONMENT] == "4"
