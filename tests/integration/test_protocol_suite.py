"""`carepath protocol test`, run as a clinic would: the shipped suite passes; a changed number breaks the expectations
that depend on it, named in the output; a malformed file is an error naming its line; --diff shows what moved."""

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.expect.suite import databases, scenario_files
from cli.protocol_cmd import protocol_app
from cli.report import build_report
from cli.scenario import load_scenario
from cli.simulator import simulate
from config.protocol import DEFAULT_PROTOCOL_FILE

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "protocol-tests"


def carepath_protocol(*args: str):
    return CliRunner().invoke(protocol_app, ["test", *args], catch_exceptions=False)


def changed_protocol(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_PROTOCOL_FILE.read_text(encoding="utf-8")
    assert old in text
    changed = tmp_path / "changed.yaml"
    changed.write_text(text.replace(old, new, 1), encoding="utf-8")
    return changed


def failed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAILED ")]


def test_the_shipped_suite_passes():
    """The suite `make test` runs: every shipped scenario's expectations hold under the shipped protocol."""
    result = carepath_protocol(str(SUITE))
    assert result.exit_code == 0, result.output
    [summary] = [line for line in result.output.splitlines() if " passed, " in line]
    passed, rest = summary.split(" passed, ", 1)
    assert int(passed) >= 200 and rest.startswith("0 failed in "), summary  # the shipped suite: 38 files, 225 checks
    assert not failed_lines(result.output)


def test_the_command_runs_protocol_tests_by_default():
    """As a clinic types it, through the installed `carepath` entry point."""
    result = subprocess.run([str(Path(sys.executable).parent / "carepath"), "protocol", "test"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed, 0 failed in " in result.stdout


def test_a_later_no_show_breaks_the_no_show_expectations(tmp_path):
    changed = changed_protocol(tmp_path, "no_show_after_minutes: 30", "no_show_after_minutes: 20")
    result = carepath_protocol(str(SUITE), "--protocol", str(changed))
    assert result.exit_code == 1, result.output
    failed = failed_lines(result.output)
    assert failed and all("protocol-tests/no_show.yaml:" in line for line in failed), failed
    early = next(line for line in failed if "at 2026-03-04 10:29" in line)
    assert "expected no no_show to p1 sent" in early
    assert "no_show to p1 sent 2026-03-04 10:20 (caused by session.no_show at 2026-03-04 10:20)" in early
    assert " 3 failed in " in result.output


def test_a_changed_reminder_hour_breaks_the_reminder_expectations(tmp_path):
    changed = changed_protocol(tmp_path, "reminder_hours_before: [72, 24, 2]", "reminder_hours_before: [48, 24, 2]")
    result = carepath_protocol(str(SUITE / "esketamine_induction_week.yaml"), "--protocol", str(changed))
    assert result.exit_code == 1, result.output
    [failed] = failed_lines(result.output)
    assert "esketamine_induction_week.yaml:35:" in failed and "(72 h before)" in failed
    assert "nearest: session_reminder to p1 sent 2026-03-04 10:00 (caused by reminder.due" in failed


def test_a_malformed_expectation_names_its_line_and_what_is_allowed(tmp_path):
    text = (SUITE / "no_show.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("message: {kind: no_show, to: p1, none: true}",
                                   "message: {kind: no_show, recipient: p1, none: true}"), encoding="utf-8")
    result = carepath_protocol(str(broken), str(SUITE / "quiet_hours.yaml"))
    assert result.exit_code == 2, result.output
    [error] = [line for line in result.output.splitlines() if line.startswith("ERROR ")]
    assert f"{broken}:19: expect[0].message.recipient: unknown field (allowed: " in error
    assert "kind, to, status, reason" in error
    assert "1 error in " in result.output  # the readable files still ran


@pytest.mark.parametrize("problem, expected", [
    ("no-such-dir/x.yaml", "cannot read file"),
])
def test_a_file_that_cannot_be_read_exits_2(problem, expected):
    result = carepath_protocol(problem)
    assert result.exit_code == 2 and expected in result.output


def test_an_invalid_protocol_file_exits_2(tmp_path):
    changed = changed_protocol(tmp_path, "no_show_after_minutes: 30", "no_show_after_minuts: 30")
    result = carepath_protocol(str(SUITE), "--protocol", str(changed))
    assert result.exit_code == 2 and "no_show_after_minuts: unknown key" in result.output


def test_diff_shows_what_a_changed_number_moves(tmp_path):
    changed = changed_protocol(tmp_path, "no_show_after_minutes: 30", "no_show_after_minutes: 20")
    result = CliRunner().invoke(protocol_app, ["test", str(SUITE / "no_show.yaml"), str(SUITE / "quiet_hours.yaml"),
                                               "--diff", str(DEFAULT_PROTOCOL_FILE), str(changed)],
                                env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    flat = " ".join(result.output.split())
    assert "2026-03-04 10:30 no_show to p1 sent │ 2026-03-04 10:20 no_show to p1 sent" in flat
    assert "2026-03-04 10:30 no_show for p1 routine tier 2 open │ 2026-03-04 10:20 no_show for p1" in flat
    assert "2 of 2 scenarios differ" in flat


def test_diff_of_identical_files_shows_nothing(tmp_path):
    copy = tmp_path / "copy.yaml"
    copy.write_text(DEFAULT_PROTOCOL_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    result = carepath_protocol(str(SUITE / "no_show.yaml"), "--diff", str(DEFAULT_PROTOCOL_FILE), str(copy))
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "same protocol-tests/no_show.yaml" in flat.replace(str(ROOT) + "/", "")
    assert "0 of 1 scenarios differ" in flat and "│" not in flat


def test_pausing_for_expectations_changes_nothing():
    """Snapshots for `at:` run the clock up to each pause first; the run itself must be the same as without them."""
    scenario = load_scenario(ROOT / "examples/esketamine_induction.yaml")
    line_time = scenario.timeline[12].at  # a pause at a line's own time, and at a reminder's (72 h before s1)
    pauses = [line_time, line_time - timedelta(minutes=1), datetime.fromisoformat("2026-03-02T10:00:00-05:00"),
              scenario.until]

    def comparable(pause_at):
        with databases() as dbs, dbs.fresh() as engine:
            report = build_report(simulate(scenario, engine, pauses=pause_at), engine)
        # Sorted: rows at the same time come back in id order, and ids are random.
        return (sorted((e["at"], e["type"]) for e in report["events"]),
                sorted(str({k: v for k, v in m.items() if k != "body"}) for m in report["messages"]),
                sorted(str((e["raised_at"], e["reason"], e["tier"], e["status"], e["paged"]))
                       for e in report["escalations"]),
                sorted(map(str, report["timers"])), report["rejected"])

    assert comparable([]) == comparable(pauses)


def test_known_gaps_are_skipped_unless_named(tmp_path):
    """A `known-gaps` folder under a directory given is not collected; named itself (or a file in it), it runs."""
    gaps = tmp_path / "suite" / "known-gaps"
    gaps.mkdir(parents=True)
    for path in (tmp_path / "suite" / "a.yaml", gaps / "b.yaml", gaps / "deeper" / "c.yml"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("name: x\n", encoding="utf-8")
    assert scenario_files([tmp_path / "suite"]) == [tmp_path / "suite" / "a.yaml"]
    assert scenario_files([gaps]) == [gaps / "b.yaml", gaps / "deeper" / "c.yml"]
    assert scenario_files([gaps / "b.yaml"]) == [gaps / "b.yaml"]


SHIPPED = scenario_files([SUITE])


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(SUITE)) for p in SHIPPED])
def test_every_message_and_worklist_item_names_the_event_that_caused_it(path):
    """Each text and each escalation in a shipped scenario's report traces to its cause (`{type, at[, line]}`), an
    event of the scenario's own history no later than it: a text or a page nobody can explain is a bug, whatever the
    expectations say."""
    scenario = load_scenario(path)
    with databases() as dbs, dbs.fresh() as engine:
        report = build_report(simulate(scenario, engine), engine)
    outbound = [(m["at"], m) for m in report["messages"] if m["direction"] == "outbound"]  # some scenarios send nothing
    raised = [(e["raised_at"], e) for e in report["escalations"]]
    uncaused = [(at, item.get("kind") or item["reason"], item["patient"]) for at, item in outbound + raised
                if not item.get("cause")]
    assert not uncaused, f"{path.name}: without a cause: {uncaused}"
    events = {(e["type"], e["at"]) for e in report["events"]}
    for at, item in outbound + raised:
        cause = item["cause"]
        assert {"type", "at"} <= set(cause) and (cause["type"], cause["at"]) in events, (path.name, item, cause)
        assert cause["at"] <= at, (path.name, item, cause)
        if "line" in cause:
            assert cause["line"] in {line.line for line in scenario.timeline}, (path.name, cause)
