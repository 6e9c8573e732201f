"""The `carepath` command."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cli.audit import audit_app
from cli.clinics import clinics_app
from cli.coordinator import event_app, referral_app, workflow_app
from cli.protocol_cmd import protocol_app
from cli.report import build_report
from cli.scenario import ScenarioError, load_scenario
from cli.simulator import simulate
from cli.summary import print_summary
from cli.users import users_app
from config.protocol import ProtocolError
from models.db import make_engine, migrate

app = typer.Typer(help="carepath: the care-pathway engine for interventional psychiatry clinics.", no_args_is_help=True)
app.add_typer(referral_app, name="referral")
app.add_typer(workflow_app, name="workflow")
app.add_typer(event_app, name="event")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(clinics_app, name="clinics")
app.add_typer(protocol_app, name="protocol")
console = Console(stderr=True)


@app.command("simulate")
def simulate_command(
    scenario_file: Path = typer.Argument(..., help="Scenario YAML (see README, 'Writing a scenario')."),
    report: Path | None = typer.Option(None, "--report", help="Write the JSON report here."),
    database_url: str | None = typer.Option(None, "--database-url", help="Default: a temporary SQLite file."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Replay a scenario on a virtual clock through the real engine and database."""
    from config.logging import configure_logging

    configure_logging()  # CAREPATH_LOG_LEVEL / CAREPATH_LOG_FORMAT, as every process; ids only in any case
    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    with tempfile.TemporaryDirectory(prefix="carepath-sim-") as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'simulation.db'}"
        migrate(url)
        engine = make_engine(url)
        try:
            run = _run_with_progress(scenario, engine, quiet)
        except ProtocolError as exc:
            console.print(f"[red]error:[/red] scenario protocol overrides: {exc}", highlight=False)
            raise typer.Exit(2) from None
        result = build_report(run, engine)
        engine.dispose()
    if report is not None:
        report.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print_summary(Console(), result, run, report)


def _run_with_progress(scenario, engine, quiet: bool):
    total = (scenario.until - scenario.start).total_seconds()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[clock]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=quiet, transient=True) as progress:
        task = progress.add_task(f"simulating {scenario.name}", total=total, clock="")

        def advance(moment):
            done = (moment - scenario.start).total_seconds()
            progress.update(task, completed=done, clock=moment.strftime("%Y-%m-%d %H:%M"))

        return simulate(scenario, engine, on_progress=advance)


@app.command("migrate")
def migrate_command(
    database_url: str = typer.Option("sqlite:///carepath.db", "--database-url", envvar="CAREPATH_DATABASE_URL"),
) -> None:
    """Bring the database schema up to date (Alembic upgrade head)."""
    migrate(database_url)
    Console().print("database is at the newest schema")


@app.command("docs")
def docs_command(
    write: bool = typer.Option(False, "--write", help="Rewrite the README's pathway section in place."),
    readme: Path = typer.Option(Path("README.md"), "--readme"),
) -> None:
    """Print (or write into the README) the pathway tables and diagram generated from the definition."""
    from workflows.docs import pathway_section, replace_section

    if not write:
        print(pathway_section())
        return
    readme.write_text(replace_section(readme.read_text(encoding="utf-8")), encoding="utf-8")
    Console().print(f"updated the pathway section of {readme}")


@app.command("standalone")
def standalone_command(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    demo: bool = typer.Option(False, "--demo", help="Seed a small synthetic clinic the first time."),
) -> None:
    """Everything in one process: SQLite, in-process tasks, console SMS, the API and the scheduler."""
    from cli.standalone import run_standalone

    run_standalone(host, port, demo)


@app.command("api")
def api_command(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    workers: int = typer.Option(1, "--workers", help="uvicorn worker processes."),
) -> None:
    """Serve the API with uvicorn (production: PostgreSQL and Redis from the environment)."""
    import uvicorn

    from config.logging import configure_logging, logging_config
    from workers.settings import Settings

    settings = Settings()
    configure_logging(settings)
    # proxy_headers off: CAREPATH_TRUSTED_PROXIES decides whom X-Forwarded-* is believed from (api.forwarded).
    uvicorn.run("config.wiring:asgi_app", factory=True, host=host, port=port, workers=workers,
                log_config=logging_config(settings), log_level=settings.log_level.lower(), proxy_headers=False)


@app.command("worker")
def worker_command(
    concurrency: int = typer.Option(2, "--concurrency", "-c", help="Worker processes."),
    loglevel: str | None = typer.Option(None, "--loglevel", help="Default: CAREPATH_LOG_LEVEL (INFO)."),
) -> None:
    """Run a Celery worker for texts, timers and SMS (same as `celery -A config.worker worker -Q crisis,texts,timers,sms`)."""
    from config.logging import configure_logging
    from workers.celery_app import WORKER_QUEUES
    from workers.celery_app import app as celery_app
    from workers.settings import Settings

    os.environ.setdefault("CAREPATH_DATABASE_PRE_PING", "false")  # see Settings.database_pre_ping
    settings = Settings()
    configure_logging(settings)  # Celery leaves the root logger alone (worker_hijack_root_logger=False)
    loglevel = loglevel or settings.log_level

    celery_app.worker_main(["worker", "-Q", ",".join(WORKER_QUEUES), f"--loglevel={loglevel}",
                            f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"])


@app.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler: claims due timers and messages every second and hands them to the workers."""
    from config.logging import configure_logging
    from workers.scheduler import run_scheduler
    from workers.settings import Settings

    os.environ.setdefault("CAREPATH_DATABASE_PRE_PING", "false")  # see Settings.database_pre_ping
    configure_logging(Settings())  # CAREPATH_LOG_FORMAT / CAREPATH_LOG_LEVEL; apscheduler at WARNING
    run_scheduler()


@app.command("bench")
def bench_command(
    quick: bool = typer.Option(False, "--quick", help="Smaller sizes: the whole run in under 5 minutes on 2 cores."),
    json_file: Path | None = typer.Option(None, "--json", help="Write every figure, baseline and ratio here."),
    only: str | None = typer.Option(None, "--only", help="Comma-separated figure letters, e.g. a,d."),
    postgres_url: str = typer.Option("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", "--postgres-url",
                                     help="A PostgreSQL server; figures create and drop their own databases."),
    redis_url: str = typer.Option("redis://127.0.0.1:6379/0", "--redis-url", help="A Redis server (DB numbers vary)."),
    profile_dir: Path | None = typer.Option(None, "--profile-dir", help="Write pyinstrument profiles of missed goals."),
) -> None:
    """Measure throughput, latency and memory against baselines run on the same services (see docs/benchmarks.md)."""
    import sys

    from bench.runner import run

    letters = [x.strip() for x in only.split(",") if x.strip()] if only else None
    try:
        run(quick, letters, json_file, postgres_url, redis_url, profile_dir, " ".join(["carepath", *sys.argv[1:]]), console)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None


def main() -> None:
    """The `carepath` command: install this process's services (built lazily, from CAREPATH_*), then run it."""
    from config.wiring import install

    install()
    app()


if __name__ == "__main__":
    main()
