"""The figure contract: what a benchmark returns, how it is registered, and the context it runs in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """One measured figure with its baseline.

    `ratio` is `value / baseline` unless the figure defines it otherwise (say so in `ratio_label`); `met` is whether the
    goal holds (None when the figure has no goal, such as the simulation's wall time).
    """

    key: str                       # "a".."h", as docs/benchmarks.md numbers them
    title: str                     # "events applied per second (PostgreSQL)"
    value: float | None            # ours
    unit: str                      # "events/s", "ms", "MiB"
    baseline: float | None = None  # the baseline's figure, same unit
    baseline_label: str = ""       # "raw psycopg, same row writes per event"
    ratio: float | None = None
    ratio_label: str = "ours ÷ baseline"
    goal: str = ""                 # "ratio ≥ 0.5", "p99 ≤ 2 s"
    met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)  # extra numbers: counts, p50/p99, sizes used
    note: str = ""                 # one line: what limited it, where the profile is
    error: str | None = None       # set when the figure could not be measured (the run goes on)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchContext:
    """What every figure gets: where the services are, how big to go, and a scratch folder."""

    quick: bool
    postgres_server_url: str       # a server URL; figures create and drop their own databases on it
    redis_url: str                 # a Redis server; figures use their own DB numbers / key prefixes and clean up
    workdir: Path                  # scratch space, removed after the run
    profile_dir: Path | None = None  # when set, figures that miss their goal write a pyinstrument profile here
    smoke: bool = False            # tests/bench: tiny sizes, to prove the figure still runs (its numbers mean nothing)

    def size(self, full: int, quick: int, smoke: int) -> int:
        if self.smoke:
            return smoke
        return quick if self.quick else full


FigureFn = Callable[[BenchContext], Figure]
REGISTRY: dict[str, FigureFn] = {}


def figure(key: str) -> Callable[[FigureFn], FigureFn]:
    """Register a figure function under its issue letter."""

    def register(fn: FigureFn) -> FigureFn:
        if key in REGISTRY:
            raise ValueError(f"figure {key!r} is registered twice")
        REGISTRY[key] = fn
        return fn

    return register


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return value / baseline
