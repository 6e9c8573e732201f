"""Run the registered figures, print a rich table, write JSON."""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.core import REGISTRY, BenchContext, Figure


def machine() -> dict[str, str | int | None]:
    import os

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def run_figures(ctx: BenchContext, only: list[str] | None, console: Console) -> list[Figure]:
    import bench.figures  # noqa: F401  (registers every figure)

    keys = sorted(REGISTRY) if not only else only
    unknown = [k for k in keys if k not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(sorted(REGISTRY))}")
    results: list[Figure] = []
    for key in keys:
        console.rule(f"[bold]figure {key}")
        started = time.perf_counter()
        try:
            result = REGISTRY[key](ctx)
        except Exception as exc:  # one broken figure must not hide the others
            console.print(traceback.format_exc(), markup=False, highlight=False)
            result = Figure(key=key, title=REGISTRY[key].__doc__ or key, value=None, unit="", error=repr(exc))
        result.details.setdefault("seconds", round(time.perf_counter() - started, 1))
        results.append(result)
    return results


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(results: list[Figure]) -> Table:
    out = Table(title="carepath bench", show_lines=True)
    for column in ("", "figure", "ours", "baseline", "ratio", "goal", "met"):
        out.add_column(column)
    for f in results:
        ours = f"error: {f.error}" if f.error else f"{_num(f.value)} {f.unit}"
        base = f"{_num(f.baseline)} {f.unit}\n{f.baseline_label}" if f.baseline is not None else f.baseline_label
        met = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "—"}[f.met]
        out.add_row(f.key, f"{f.title}\n[dim]{f.note}[/dim]" if f.note else f.title, ours, base,
                    f"{_num(f.ratio)}\n[dim]{f.ratio_label}[/dim]" if f.ratio is not None else "—", f.goal, met)
    return out


def write_json(path: Path, ctx: BenchContext, results: list[Figure], command: str) -> None:
    payload = {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), "quick": ctx.quick, "command": command,
               "machine": machine(), "figures": [f.as_json() for f in results]}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def run(quick: bool, only: list[str] | None, json_path: Path | None, postgres_url: str, redis_url: str,
        profile_dir: Path | None, command: str, console: Console) -> list[Figure]:
    workdir = Path(tempfile.mkdtemp(prefix="carepath-bench-"))
    try:
        ctx = BenchContext(quick=quick, postgres_server_url=postgres_url, redis_url=redis_url, workdir=workdir,
                           profile_dir=profile_dir)
        results = run_figures(ctx, only, console)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    Console().print(table(results))
    if json_path is not None:
        write_json(json_path, ctx, results, command)
    return results
