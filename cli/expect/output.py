"""What `carepath protocol test` prints: one line per failed expectation or unreadable file, then a pytest-style summary."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from cli.expect.evaluate import Verdict, clock_of
from cli.expect.suite import Outcome


def failure_line(outcome: Outcome, verdict: Verdict) -> str:
    """`FILE:LINE: [at TIME: ]expected …; happened: …[ (note)]`, all on one line so it greps and reads in CI logs."""
    expectation = verdict.expectation
    at = ""
    if expectation.at is not None:
        at = f"at {clock_of(outcome.scenario)(expectation.at.isoformat(), None)}: "
    note = f"  ({expectation.note})" if expectation.note else ""
    return f"{outcome.path}:{expectation.yaml_line}: {at}expected {verdict.expected}; happened: {verdict.happened}{note}"


def print_outcome(console: Console, outcome: Outcome) -> None:
    if outcome.error is not None:
        console.print(f"[red]ERROR[/red] {escape(outcome.error)}", soft_wrap=True, highlight=False)
    for verdict in outcome.failed:
        console.print(f"[red]FAILED[/red] {escape(failure_line(outcome, verdict))}", soft_wrap=True, highlight=False)


def summary_line(outcomes: list[Outcome], seconds: float) -> str:
    """`N passed, M failed in X.XXs` (with `, K errors` when files could not be run), counted in expectations."""
    failed = sum(len(o.failed) for o in outcomes)
    passed = sum(len(o.verdicts) for o in outcomes) - failed
    errors = sum(o.error is not None for o in outcomes)
    parts = [f"{passed} passed", f"{failed} failed"] + ([f"{errors} error{'s' * (errors != 1)}"] if errors else [])
    return f"{', '.join(parts)} in {seconds:.2f}s"


def print_summary(console: Console, outcomes: list[Outcome], skipped: int, seconds: float) -> None:
    if skipped:
        console.print(f"[dim]{skipped} scenario file{'s' * (skipped != 1)} without expectations skipped[/dim]")
    bad = any(o.error or o.failed for o in outcomes)
    style = "red" if bad else "green"
    console.print(f"[bold {style}]{summary_line(outcomes, seconds)}[/bold {style}]", highlight=False)
