"""The local pipeline: a procedure's kernel cache warmed once and shared by its sessions."""

from __future__ import annotations

from pathlib import Path

from prism.server.pipeline import LocalPipeline


def test_warm_up_fills_the_shared_kernel_cache_before_the_first_session() -> None:
    cold = LocalPipeline(Path("tasks"), Path("models"))
    warm = LocalPipeline(Path("tasks"), Path("models"), warm_up_sessions=1)
    for pipeline in (cold, warm):
        pipeline.open("ses-1", "latte_making")
    assert cold.futures["latte_making"].cached_kernels <= 1  # the start state's only
    assert warm.futures["latte_making"].cached_kernels > 20
    pipeline.open("ses-2", "latte_making")  # warmed once per procedure
    assert warm.runtimes["ses-2"].observer.future is warm.futures["latte_making"]
