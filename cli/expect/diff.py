"""`carepath protocol test --diff OLD NEW`: what one scenario does differently under two protocol files.

Only what a protocol number can change is compared — the messages (kind, recipient, status, time), escalations and
timers — each written as one line of clinic-local text, so that two runs compare as two multisets of lines.
"""

from __future__ import annotations

from collections import Counter
from itertools import zip_longest

from rich.console import Console
from rich.table import Table

from cli.expect.kinds import Clock
from cli.expect.suite import Outcome

SECTIONS = ("messages", "escalations", "timers")


def facts(report: dict, clock: Clock) -> dict[str, Counter]:
    """Each section of a report as a multiset of readable lines (message bodies are the catalog's, not compared)."""
    messages = Counter(
        f"{clock(m['at'], m['patient'])} {m['kind']} to "
        f"{m['patient'] if m.get('recipient') == 'patient' else m.get('staff_role') or m['to']} {m['status']}"
        + (f" ({m['reason']})" if m.get("reason") else "")
        for m in report["messages"] if m["direction"] == "outbound")
    escalations = Counter(
        f"{clock(e['raised_at'], e['patient'])} {e['reason']} for {e['patient']} {e['severity']} tier {e['tier']} "
        f"{e['status']}" + (f", paged {', '.join(e['paged'])}" if e.get("paged") else "")
        for e in report["escalations"])
    timers = Counter(f"{clock(t['due_at'], t['patient'])} {t['kind']} for {t['patient']} {t['status']}"
                     for t in report["timers"])
    return {"messages": messages, "escalations": escalations, "timers": timers}


def differences(old: dict[str, Counter], new: dict[str, Counter]) -> list[tuple[str, str, str]]:
    """Rows of (section, only under OLD, only under NEW), paired in time order within each section."""
    rows = []
    for section in SECTIONS:
        gone = sorted((old[section] - new[section]).elements())
        came = sorted((new[section] - old[section]).elements())
        rows += [(section, before, after) for before, after in zip_longest(gone, came, fillvalue="")]
    return rows


def print_differences(console: Console, outcome: Outcome, rows: list[tuple[str, str, str]], old_name: str,
                      new_name: str) -> None:
    if not rows:
        console.print(f"[green]same[/green]  {outcome.path}", highlight=False)
        return
    table = Table(title=f"{outcome.path} — {outcome.scenario.name}: {len(rows)} row{'s' * (len(rows) != 1)} differ",
                  title_justify="left", show_lines=False)
    table.add_column("what")
    table.add_column(f"only under {old_name}", style="red")
    table.add_column(f"only under {new_name}", style="green")
    for row in rows:
        table.add_row(*row)
    console.print(table)
