"""Run the registered figures, print a rich table, write JSON."""

from __future__ import annotations

import json
import os
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


def machine(postgres_url: str | None = None, redis_url: str | None = None) -> dict[str, str | int | float | None]:
    """What the run ran on, including the load average: on a shared machine, a busy minute explains a slow figure."""
    import os

    from bench.support import server_versions

    info: dict[str, str | int | float | None] = {
        "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
        "processor": _cpu_model() or platform.processor() or platform.machine(), "memory_gib": _memory_gib(),
        "load_average_1m": round(os.getloadavg()[0], 2)}
    if postgres_url and redis_url:
        info.update(server_versions(postgres_url, redis_url))
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


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
        result.details.setdefault("run_at", datetime.now(UTC).isoformat(timespec="seconds"))
        result.details.setdefault("load_average_1m", round(os.getloadavg()[0], 2))
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


def write_json(path: Path, ctx: BenchContext, results: list[Figure], command: str, merge: bool = False) -> None:
    """Write the run; with `merge` (an --only run), figures already in the file and not re-measured are kept, so one
    slow figure can be re-measured without re-running the rest (each figure's details say when it ran)."""
    figures = [f.as_json() for f in results]
    commands = [command]
    if merge and path.exists():
        earlier = json.loads(path.read_text())
        measured = {f["key"] for f in figures}
        figures += [f for f in earlier.get("figures", []) if f["key"] not in measured]
        figures.sort(key=lambda f: f["key"])
        commands = [*earlier.get("commands", [earlier.get("command")]), command]
    payload = {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), "quick": ctx.quick, "command": command,
               "commands": [c for c in commands if c], "machine": machine(ctx.postgres_server_url, ctx.redis_url),
               "figures": figures}
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
    # Piped or redirected, rich would fold the table to 80 columns; a log file can take the full width.
    screen = Console()
    (screen if screen.is_terminal else Console(width=170)).print(table(results))
    if json_path is not None:
        write_json(json_path, ctx, results, command, merge=bool(only))
    return results
