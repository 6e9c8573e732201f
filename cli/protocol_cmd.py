"""`carepath protocol`: test a protocol file against the scenarios that say what it must do (docs/protocol-tests.md)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from cli.expect.diff import differences, facts, print_differences
from cli.expect.evaluate import clock_of
from cli.expect.output import print_outcome, print_summary
from cli.expect.schema import SCHEMA_FILE, schema_text
from cli.expect.suite import Outcome, databases, read, run_checked, scenario_files
from config.protocol import ProtocolError, load_protocol

protocol_app = typer.Typer(help="Check a protocol file against scenarios with expectations.", no_args_is_help=True)
DEFAULT_SUITE = Path("protocol-tests")


@protocol_app.command("test")
def test_command(
    paths: list[Path] = typer.Argument(None, help="Scenario files or directories (default: protocol-tests/)."),
    protocol: Path | None = typer.Option(None, "--protocol", help="Run against this protocol file instead of the "
                                         "shipped one."),
    diff: tuple[Path, Path] | None = typer.Option(None, "--diff", help="OLD NEW: show what each scenario does "
                                                  "differently under two protocol files.", metavar="OLD NEW"),
) -> None:
    """Run every scenario that has expectations; exit 1 if any fails, 2 if a file cannot be read."""
    console = Console()
    if protocol is not None and diff is not None:
        _stop(console, "give --protocol or --diff, not both")
    for file in (protocol, *(diff or ())):
        _check_protocol_file(console, file)
    outcomes = [read(path) for path in scenario_files(paths or [DEFAULT_SUITE])]
    if not outcomes:
        _stop(console, f"no scenario files in {', '.join(map(str, paths or [DEFAULT_SUITE]))}")
    if diff is not None:
        raise typer.Exit(_diff(console, outcomes, *diff))
    raise typer.Exit(_test(console, outcomes, protocol))


@protocol_app.command("schema")
def schema_command(write: bool = typer.Option(False, "--write", help=f"Rewrite {SCHEMA_FILE.name} in docs/.")) -> None:
    """Print (or write) the JSON schema of a scenario's `expect:` list."""
    if write:
        SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
        Console().print(f"wrote {SCHEMA_FILE}")
    else:
        print(schema_text(), end="")


def _test(console: Console, outcomes: list[Outcome], protocol: Path | None) -> int:
    started = time.perf_counter()
    checked = [o for o in outcomes if o.error is not None or o.scenario.expect]
    with databases() as dbs:
        for outcome in checked:
            if outcome.error is None:
                _run(outcome, dbs, protocol)
            print_outcome(console, outcome)
    print_summary(console, checked, len(outcomes) - len(checked), time.perf_counter() - started)
    if any(o.error for o in checked):
        return 2
    return 1 if any(o.failed for o in checked) else 0


def _diff(console: Console, outcomes: list[Outcome], old: Path, new: Path) -> int:
    differing = 0
    with databases() as dbs:
        for outcome in outcomes:
            if outcome.error is None:
                before, after = (_run(Outcome(outcome.path, outcome.scenario), dbs, file) for file in (old, new))
                outcome.error = before.error or after.error
            if outcome.error is not None:
                print_outcome(console, outcome)
                continue
            clock = clock_of(outcome.scenario)
            rows = differences(facts(before.report, clock), facts(after.report, clock))
            differing += bool(rows)
            print_differences(console, outcome, rows, old.name, new.name)
    console.print(f"[bold]{differing} of {len(outcomes)} scenarios differ between {old} and {new}[/bold]",
                  highlight=False)
    if any(o.error for o in outcomes):
        return 2
    return 1 if differing else 0


def _run(outcome: Outcome, dbs, protocol: Path | None) -> Outcome:
    try:
        return run_checked(outcome, dbs, protocol)
    except ProtocolError as exc:  # the scenario's own `protocol:` overrides do not fit this protocol file
        outcome.error = f"{outcome.path}: protocol overrides: {exc}"
        return outcome


def _check_protocol_file(console: Console, path: Path | None) -> None:
    if path is None:
        return
    try:
        load_protocol(path)
    except ProtocolError as exc:
        _stop(console, str(exc))


def _stop(console: Console, message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
