"""docker-compose.yml: the stack's services, health checks and order, and every command it runs exists."""

from pathlib import Path

import yaml
from typer.main import get_command

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
CAREPATH_COMMANDS = set(get_command(app).commands)


def test_the_stack_has_every_service():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "api", "worker", "scheduler", "flower"}


def test_the_data_services_have_health_checks_and_the_app_waits_for_them_and_the_migration():
    assert "healthcheck" in SERVICES["postgres"] and "healthcheck" in SERVICES["redis"]
    for name in ("api", "worker", "scheduler"):
        depends = SERVICES[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["restart"] == "no"


def test_every_carepath_command_the_stack_runs_exists():
    for name, service in SERVICES.items():
        command = service.get("command") or []
        if command[:1] == ["carepath"]:
            assert command[1] in CAREPATH_COMMANDS, f"{name} runs unknown command {command[1]}"
    assert "exec celery -A workers.celery_app flower" in " ".join(SERVICES["flower"]["command"])


def test_flower_is_not_started_by_default_is_behind_basic_auth_and_only_on_loopback():
    flower = SERVICES["flower"]
    assert flower["profiles"] == ["flower"]
    command = " ".join(flower["command"])
    assert 'test -n "$$FLOWER_BASIC_AUTH" || {' in command and "exit 1" in command  # refuses to start without it
    assert '--basic-auth="$$FLOWER_BASIC_AUTH"' in command
    assert flower["ports"] == ["127.0.0.1:5555:5555"]


def test_docker_builds_leave_out_the_virtualenv_the_databases_and_git():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", "*.db", "*.db-wal", "*.db-shm", "*.sqlite3"} <= ignored
    assert {"/carepath.db-wal", "/carepath.db-shm"} <= set((ROOT / ".gitignore").read_text().split())


def test_one_image_configured_by_environment():
    images = {SERVICES[name]["image"] for name in ("migrate", "api", "worker", "scheduler", "flower")}
    assert images == {"carepath:latest"}
    environment = SERVICES["worker"]["environment"]
    assert environment["CAREPATH_TASKS"] == "celery" and "postgres:5432" in environment["CAREPATH_DATABASE_URL"]
