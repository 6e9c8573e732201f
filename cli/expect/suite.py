"""Running scenario files for `carepath protocol test` and `--diff`: find them, simulate each, judge its expectations."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cli.expect.evaluate import Verdict, judge
from cli.report import build_report
from cli.scenario import Scenario, ScenarioError, load_scenario
from cli.simulator import Run, simulate
from models.db import make_engine, migrate

SUFFIXES = (".yaml", ".yml")
# A folder of scenarios that show where the engine breaks the protocol (docs/protocol-tests.md, "Known gaps"): skipped
# when a directory above it is walked, run when it is named itself.
KNOWN_GAPS = "known-gaps"


@dataclass
class Outcome:
    """One scenario file's run: its verdicts, or why it could not be run."""

    path: Path
    scenario: Scenario | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    report: dict | None = None
    error: str | None = None

    @property
    def failed(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if not verdict.passed]


def scenario_files(paths: list[Path]) -> list[Path]:
    """The YAML files named, and those under the directories named (sorted, so runs are reproducible).

    Under a directory, a `known-gaps` folder is skipped: its scenarios fail until the engine is fixed. Name the folder
    (or a file in it) to run them."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                            and KNOWN_GAPS not in p.relative_to(path).parts[:-1])
        else:
            found.append(path)  # a missing file is reported when it is read
    return list(dict.fromkeys(found))


def read(path: Path) -> Outcome:
    try:
        return Outcome(path, load_scenario(path))
    except ScenarioError as exc:
        return Outcome(path, error=f"{path}:{exc.line}: {exc.message}" if exc.line else f"{path}: {exc.message}")


class Databases:
    """Fresh SQLite databases from one migrated template: migrating once, not once per scenario, keeps a suite quick."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.count = folder, 0
        self.template = folder / "template.db"
        migrate(f"sqlite:///{self.template}")

    @contextmanager
    def fresh(self) -> Iterator:
        self.count += 1
        copy = self.folder / f"run-{self.count}.db"
        shutil.copyfile(self.template, copy)
        engine = make_engine(f"sqlite:///{copy}")
        try:
            yield engine
        finally:
            engine.dispose()
            copy.unlink(missing_ok=True)


@contextmanager
def databases() -> Iterator[Databases]:
    with tempfile.TemporaryDirectory(prefix="carepath-protocol-test-") as folder:
        yield Databases(Path(folder))


def run_checked(outcome: Outcome, dbs: Databases, protocol_file: Path | None) -> Outcome:
    """Simulate the scenario, snapshot the report at every `at:`, and judge each expectation on its own snapshot."""
    scenario = outcome.scenario
    snapshots: dict[datetime, dict] = {}
    with dbs.fresh() as engine:
        def snapshot(run: Run, moment: datetime) -> None:
            snapshots[moment] = build_report(run, engine)

        pauses = [e.at for e in scenario.expect if e.at is not None]
        run = simulate(scenario, engine, protocol_file=protocol_file, pauses=pauses, on_pause=snapshot)
        outcome.report = build_report(run, engine)
    outcome.verdicts = [judge(e, snapshots.get(e.at, outcome.report) if e.at else outcome.report, scenario)
                        for e in scenario.expect]
    return outcome
