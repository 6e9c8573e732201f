"""A full scenario run, logging at DEBUG, prints none of its synthetic patients' names, phones or message bodies."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CAREPATH = str(Path(sys.executable).parent / "carepath")


@pytest.mark.parametrize("example", ["esketamine_induction", "crisis_at_night", "opt_out_and_back"])
def test_a_scenario_run_logs_ids_only(tmp_path, example):
    scenario = ROOT / "examples" / f"{example}.yaml"
    report = tmp_path / "report.json"
    env = {**os.environ, "CAREPATH_LOG_LEVEL": "DEBUG", "COLUMNS": "200"}
    result = subprocess.run([CAREPATH, "simulate", str(scenario), "--report", str(report), "--quiet"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "sms sent message=" in output, "the run logged its sends (by id), so the check means something"
    patients = yaml.safe_load(scenario.read_text())["patients"]
    bodies = [m["body"] for m in json.loads(report.read_text())["messages"] if len(m["body"].strip()) > 3]
    assert bodies, "the scenario sends messages, so the check means something"
    for secret in [p["name"] for p in patients] + [p["phone"] for p in patients] + bodies:
        assert secret not in output
