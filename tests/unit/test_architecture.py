"""The pathway core stays pure: no database, broker, web or SMS package, and nothing from the outer rooms."""

import ast
from pathlib import Path

import workflows

FORBIDDEN = {
    "sqlmodel", "sqlalchemy", "alembic", "psycopg", "celery", "kombu", "redis", "twilio", "fastapi", "starlette",
    "apscheduler", "httpx", "requests", "uvicorn", "models", "workers", "api", "cli", "config",
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_workflows_imports_no_infrastructure():
    offenders = {}
    for path in Path(workflows.__file__).parent.rglob("*.py"):
        bad = imported_roots(path) & FORBIDDEN
        if bad:
            offenders[str(path)] = sorted(bad)
    assert offenders == {}


def test_the_check_would_notice_an_infrastructure_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom sqlalchemy import select\nfrom workflows import stages\n")
    assert imported_roots(sample) & FORBIDDEN == {"sqlalchemy"}
