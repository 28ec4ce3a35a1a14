"""The hostile-client run (``benchmarks/hostile.py``) against a real service process: every
probe passes, the service logs no traceback and its memory stays put."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_hostile_clients_find_nothing() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "hostile.py"), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)  # --json: the summary on stdout, probe lines on stderr
    failed = [f"{p['name']}: {p['detail']}" for p in report["probes"] if not p["passed"]]
    assert report["all_passed"], "\n".join(failed)
    assert report["passed"] == len(report["probes"]) >= 30
    assert report["tracebacks_in_log"] == 0
    assert report["internal_errors"] == 0
    assert report["memory_growth_mb"] < 50
    assert result.returncode == 0, result.stderr
