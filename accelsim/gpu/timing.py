"""Timing and statistics of the GPU harness: environment record, median/IQR, and a timer that
replays each candidate as a captured CUDA graph between device-side events, with the L2
flushed before every repetition and the candidates interleaved.

On CPU (the triton interpreter, ``--dry-run``) the same code path runs with wall-clock
timing and no graphs or flushing; those numbers only prove the plumbing.
"""

from __future__ import annotations

import ctypes
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from accelsim.errors import ConfigError

MIN_REPS = 50


def summarize(ms: Sequence[float]) -> dict[str, float]:
    """Median, quartiles (``statistics.quantiles``, inclusive), IQR, min, mean, count (ms)."""
    if not ms:
        raise ConfigError("no timings to summarise")
    q1, med, q3 = statistics.quantiles(ms, n=4, method="inclusive") if len(ms) > 1 \
        else (ms[0], ms[0], ms[0])
    return {"median_ms": med, "q1_ms": q1, "q3_ms": q3, "iqr_ms": q3 - q1, "min_ms": min(ms),
            "mean_ms": statistics.fmean(ms), "reps": len(ms)}


def _driver_version() -> str | None:
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
        v = ctypes.c_int()
        if libcuda.cuDriverGetVersion(ctypes.byref(v)) == 0:
            return f"{v.value // 1000}.{v.value % 1000 // 10}"
    except OSError:
        pass
    return None


def _nvidia_smi_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0] if out else None


def environment(device: str) -> dict[str, Any]:
    """GPU name (``"cpu (triton interpreter)"`` on CPU), capability, memory, L2, SMs, driver,
    CUDA runtime, cuDNN, and the torch, triton, numpy and Python versions."""
    import torch

    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    env: dict[str, Any] = {"torch": torch.__version__, "triton": triton_version,
                           "numpy": np.__version__, "python": platform.python_version(),
                           "host": platform.node(), "device": device}
    if device == "cpu":
        return env | {"gpu": "cpu (triton interpreter)"}
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return env | {
        "gpu": props.name, "capability": f"{props.major}.{props.minor}",
        "memory_gib": round(props.total_memory / 2**30, 1),
        "multiprocessors": props.multi_processor_count,
        "l2_bytes": getattr(props, "L2_cache_size", None),
        "driver": _nvidia_smi_driver(), "driver_cuda_api": _driver_version(),
        "cuda_runtime": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
    }


class Timer:
    """Interleaved timing of named candidates (callables taking no argument).

    CUDA: each candidate is warmed up, then captured into a CUDA graph (falling back to eager
    launches when capture fails, recorded as ``graph: false``); every repetition zeroes a
    flush buffer of ``max(2 x L2, 64 MiB)`` and replays the graph between two CUDA events on
    the stream, so host launch overhead is outside the measured interval.  The order of the
    candidates rotates every repetition."""

    def __init__(self, device: str, reps: int = MIN_REPS, warmup: int = 3,
                 flush_bytes: int | None = None) -> None:
        import torch

        self.device, self.reps, self.warmup = device, int(reps), int(warmup)
        if device != "cpu" and self.reps < MIN_REPS:
            raise ConfigError(f"--reps {reps}: at least {MIN_REPS} repetitions are required")
        if self.reps < 1:
            raise ConfigError(f"--reps {reps} must be at least 1")
        self.flush_bytes = 0
        self._flush = None
        if device != "cpu":
            if flush_bytes is None:
                props = torch.cuda.get_device_properties(torch.cuda.current_device())
                l2 = getattr(props, "L2_cache_size", 0) or 64 * 2**20
                flush_bytes = max(2 * l2, 64 * 2**20)
            self.flush_bytes = int(flush_bytes)
            self._flush = torch.empty(self.flush_bytes // 4, dtype=torch.float32, device=device)

    def method(self) -> dict[str, Any]:
        """How the numbers were taken (for the result file)."""
        gpu = self.device != "cpu"
        return {"reps": self.reps, "warmup": self.warmup, "flush_bytes": self.flush_bytes,
                "interleaved": True, "statistic": "median and IQR (ms)",
                "timer": "CUDA events around a captured CUDA graph replay (eager launch "
                         "where capture failed)" if gpu else
                         "wall clock on CPU (triton interpreter; plumbing check only)"}

    def _graph(self, fn: Callable[[], Any]) -> tuple[Callable[[], Any], bool]:
        import torch

        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.stream(stream), torch.cuda.graph(graph, stream=stream):
                fn()
        except Exception:  # some ops (sparse, 2:4) cannot be captured: time them eagerly
            torch.cuda.synchronize()
            return fn, False
        torch.cuda.current_stream().wait_stream(stream)
        torch.cuda.synchronize()
        return graph.replay, True

    def measure(self, candidates: dict[str, Callable[[], Any]]) -> dict[str, dict[str, Any]]:
        """Time every candidate; name -> :func:`summarize` statistics plus ``graph``."""
        import torch

        names = list(candidates)
        for name in names:
            for _ in range(self.warmup):
                candidates[name]()
        gpu = self.device != "cpu"
        runners: dict[str, tuple[Callable[[], Any], bool]] = {}
        for name in names:
            runners[name] = self._graph(candidates[name]) if gpu else (candidates[name], False)
        if gpu:
            torch.cuda.synchronize()
        samples: dict[str, list[Any]] = {n: [] for n in names}
        for rep in range(self.reps):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                run = runners[name][0]
                if not gpu:
                    t0 = time.perf_counter()
                    run()
                    samples[name].append((time.perf_counter() - t0) * 1e3)
                    continue
                self._flush.zero_()
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                run()
                end.record()
                samples[name].append((start, end))
        if gpu:
            torch.cuda.synchronize()
            samples = {n: [s.elapsed_time(e) for s, e in v] for n, v in samples.items()}
        return {n: summarize(samples[n]) | {"graph": runners[n][1]} for n in names}
