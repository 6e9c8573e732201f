"""The accounts store and the audit trail on SQLite and PostgreSQL: the trail refuses UPDATE and DELETE in the
database itself and its module offers no way to change it; 0006 turns each old token into a named, expiring one;
`carepath users` and `carepath audit export` from the shell."""

from __future__ import annotations

import ast
import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

import models.audit
from cli.main import app
from models import audit
from models.db import make_engine, migrate
from models.queries import accounts as account_queries
from models.queries import audit as audit_queries
from models.tokens import authenticate
from models.unit_of_work import run_committed
from models.users import hash_token

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_the_audit_log_refuses_updates_and_deletes_in_the_database(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        run_committed(engine, audit.record, "view", NOW, user_id=str(uuid.uuid4()), patient_id=str(uuid.uuid4()),
                      route="/console/patients/{workflow_id}", method="GET", address="203.0.113.9")
        statements = ["UPDATE audit_log SET action = 'nothing'", "DELETE FROM audit_log"]
        if engine.dialect.name == "postgresql":
            statements.append("TRUNCATE audit_log")
        for statement in statements:
            with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        [(entry, _)] = audit_queries.search(engine)
        assert (entry.action, entry.address) == ("view", "203.0.113.9")
    finally:
        engine.dispose()


def test_the_audit_module_can_only_add() -> None:
    public = {name for name, value in vars(models.audit).items() if callable(value) and not name.startswith("_")
              and getattr(value, "__module__", None) == "models.audit"}
    assert public == {"record", "record_each"}
    tree = ast.parse(Path(models.audit.__file__).read_text())
    called = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
              for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert not called & {"update", "delete", "execute", "merge", "bulk_update_mappings"}, called


def test_0006_turns_each_old_token_into_a_named_expiring_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'upgrade.sqlite3'}"
    migrate(url, "0005")
    raw = create_engine(url)
    with raw.begin() as conn:
        conn.execute(text("INSERT INTO users (id, name, role, token_hash, created_at, disabled) "
                          "VALUES ('u1', 'Prometheus', 'ops', :hash, '2026-01-01 00:00:00', 0)"),
                     {"hash": hash_token("old-token-value")})
    raw.dispose()
    migrate(url)
    engine = make_engine(url)
    try:
        caller = authenticate(engine, "old-token-value", datetime.now(UTC))
        assert caller is not None and (caller.id, caller.role) == ("u1", "ops")
        [token] = account_queries.tokens_of(engine, "u1")
        assert token.name == "token from before accounts"
        assert timedelta(days=89) < token.expires_at - datetime.now(UTC) <= timedelta(days=90)
        assert authenticate(engine, "old-token-value", datetime.now(UTC) + timedelta(days=91)) is None
    finally:
        engine.dispose()


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_users_and_audit_from_the_shell(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    migrate(url)
    db = ("--database-url", url)
    made = run("users", "create", "--email", "Casey@Clinic.example", "--name", "Casey Coordinator", "--role",
               "coordinator", *db)
    temporary = made.strip().splitlines()[-1]
    assert len(temporary) == 24 and "must be changed at the first sign-in" in made
    listed = run("users", "list", *db)
    assert "casey@clinic.example" in listed and "temporary password" in listed
    token = run("users", "token", "create", "casey@clinic.example", "--name", "scripts", "--days", "7", *db)
    value, token_id = token.strip().splitlines()[-1], token.split()[1]
    engine = make_engine(url)
    try:
        assert authenticate(engine, value, datetime.now(UTC)).role == "coordinator"
        run("users", "disable", "casey@clinic.example", *db)
        assert authenticate(engine, value, datetime.now(UTC)) is None
        run("users", "enable", "casey@clinic.example", *db)
        assert authenticate(engine, value, datetime.now(UTC)) is not None
        reset = run("users", "reset-password", "casey@clinic.example", "--second-factor", *db)
        assert reset.strip().splitlines()[-1] != temporary
        run("users", "token", "revoke", token_id, *db)
        assert authenticate(engine, value, datetime.now(UTC)) is None
    finally:
        engine.dispose()
    missing = CliRunner().invoke(app, ["users", "disable", "nobody@clinic.example", *db])
    assert missing.exit_code == 2 and "no account" in missing.output

    exported = run("audit", "export", "--since", "2000-01-01", "--format", "csv", *db)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["action"] for r in rows] == ["user_created", "token_created", "user_disabled", "user_enabled",
                                           "password_reset", "token_revoked"]
    assert all(r["route"] == "carepath users" for r in rows) and temporary not in exported and value not in exported
    lines = run("audit", "export", "--since", "2000-01-01", "--format", "json", *db).strip().splitlines()
    assert json.loads(lines[-1])["action"] == "audit_exported", "the first export is itself in the trail"
    assert run("audit", "export", "--since", "2999-01-01", *db).strip() == ",".join(
        ["id", "at", "action", "user_id", "patient_id", "workflow_id", "target_id", "route", "method", "address",
         "detail"])
