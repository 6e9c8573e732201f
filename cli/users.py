"""`carepath users`: staff accounts and their API tokens, from the shell (the same as the admin pages).

Every command works on the database of `--database-url` (or CAREPATH_DATABASE_URL) and records what it did in the
audit trail, as done from the command line. A USER is named by email or id. Secrets (a temporary password, a token)
are printed once, alone on the last line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from models import accounts, audit
from models.db import make_engine
from models.queries import accounts as account_queries
from models.staff_sessions import end_all
from models.tables import User
from models.tokens import DEFAULT_DAYS, MAX_DAYS, create_token, revoke_token
from models.unit_of_work import UnitOfWork
from models.users import AccountError, UserRole

users_app = typer.Typer(help="Staff accounts and their API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: named, with a role and an expiry, shown once.", no_args_is_help=True)
users_app.add_typer(token_app, name="token")
DATABASE = typer.Option("sqlite:///carepath.db", "--database-url", envvar="CAREPATH_DATABASE_URL")
WHO = typer.Argument(..., help="The account: its email or id.")
VIA = "carepath users"  # the audit trail's route for what the command line did
errors = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def database(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    except (OperationalError, ProgrammingError):
        fail("the database has no accounts tables yet: run `carepath migrate` first", 1)
    except AccountError as exc:
        fail(str(exc))
    finally:
        engine.dispose()


def account(engine: Engine, who: str) -> User:
    found = account_queries.find_user(engine, who)
    if found is None:
        fail(f"no account {who!r} (name one by its email or id: `carepath users list`)")
    return found


def change(engine: Engine, action: str, target_id: str | None, operation: Callable[[UnitOfWork, datetime], Any],
           detail: str | None = None) -> Any:
    """Run one change and its audit entry in one unit of work (the target defaults to the account the change made)."""
    now = datetime.now(UTC)
    with UnitOfWork(engine) as uow:
        result = operation(uow, now)
        made = result[0] if isinstance(result, tuple) else None
        audit.record(uow, action, now, target_id=target_id or getattr(made, "id", None), route=VIA, detail=detail)
        uow.commit()
    return result


@users_app.command("list")
def list_command(database_url: str = DATABASE) -> None:
    """Every account: email, name, role, status, second factor, live sessions and tokens."""
    with database(database_url) as engine:
        rows = account_queries.accounts(engine, datetime.now(UTC))
    table = Table("id", "email", "name", "role", "clinics", "status", "second factor", "signed in", "tokens")
    for row in rows:
        user = row.user
        status = "disabled" if user.disabled else ("temporary password" if user.must_change_password else "active")
        table.add_row(user.id, user.email or "—", user.name, user.role, placement_words(user), status,
                      "enrolled" if user.totp_secret else "—", str(row.sessions), str(row.tokens))
    Console(width=200).print(table)


@users_app.command("create")
def create_command(
    email: str = typer.Option(..., "--email", help="How they sign in."),
    name: str = typer.Option(..., "--name", help="Their name, as the history and the pages show it."),
    role: UserRole = typer.Option(..., "--role", help="coordinator, clinician, ops or admin."),
    clinic: list[str] = typer.Option([], "--clinic", help="A clinic (key) the account works at, or KEY:ROLE for "
                                     "another role there; repeat for several. Left out: every clinic of the network."),
    database_url: str = DATABASE,
) -> None:
    """Add an account; its temporary password is printed once, alone on the last line (changed at first sign-in)."""
    with database(database_url) as engine:
        clinics, roles = known_clinics(engine, clinic)
        created, temporary = change(engine, "user_created", None, lambda uow, now: accounts.create_account(
            uow, email=email, name=name, role=role, now=now, clinics=clinics, roles=roles),
            detail=f"role {role.value}" + (f"; clinics {', '.join(clinic)}" if clinics else ""))
    typer.echo(f"created {created.role} {created.name!r} <{created.email}> (id {created.id}). Temporary password, "
               "shown only now; it must be changed at the first sign-in:")
    typer.echo(temporary)


def placement_words(user) -> str:
    """Where an account works, for the list: "all", or its clinics with the role at those where it differs."""
    if user.clinics is None:
        return "all"
    differing = user.clinic_roles or {}
    return ", ".join(f"{key} ({differing[key]})" if key in differing else key for key in user.clinics)


def known_clinics(engine: Engine, given: list[str]) -> tuple[list[str] | None, dict[str, str] | None]:
    """(clinic keys, role by clinic) from `KEY` or `KEY:ROLE` options, each key one this carepath serves (refused,
    naming them, otherwise); none given: (None, None)."""
    if not given:
        return None, None
    pairs = [entry.partition(":") for entry in given]
    keys = [key.strip() for key, _, _ in pairs]
    roles = {key.strip(): role.strip() for key, _, role in pairs if role.strip()} or None
    from config.clinics import load_network
    from config.wiring import settings_clinic
    from workers.settings import Settings

    with UnitOfWork(engine) as uow:
        served = load_network(uow, settings_clinic(Settings())).keys
    unknown = [key for key in keys if key not in served]
    if unknown:
        fail(f"unknown clinic {', '.join(unknown)}: this carepath serves {', '.join(served)} (`carepath clinics list`)")
    return sorted(set(keys)), roles


@users_app.command("clinics")
def clinics_command(
    who: str = WHO,
    clinic: list[str] = typer.Option([], "--clinic", help="A clinic (key) the account works at, or KEY:ROLE for "
                                     "another role there than the account's; repeat for several."),
    every: bool = typer.Option(False, "--all", help="Every clinic of the network (a network role)."),
    database_url: str = DATABASE,
) -> None:
    """Set the clinics an account works at (and its role at each): it sees and acts on their patients only, with its
    role there. Its sessions end."""
    if every == bool(clinic):
        fail("give --clinic KEY (one or more) or --all")
    with database(database_url) as engine:
        user = account(engine, who)
        clinics, roles = (None, None) if every else known_clinics(engine, clinic)
        changed = change(engine, "clinics_changed", user.id,
                         lambda uow, now: accounts.set_clinics(uow, user.id, clinics, roles),
                         detail="every clinic" if clinics is None else f"clinics {', '.join(clinic)}")
    where = "every clinic" if changed.clinics is None else placement_words(changed)
    typer.echo(f"{user.email or user.id} works at {where} as {changed.role} where no other role is named; "
               "signed out everywhere")


@users_app.command("disable")
def disable_command(who: str = WHO, database_url: str = DATABASE) -> None:
    """Disable an account: its sessions end and its tokens stop working at once."""
    with database(database_url) as engine:
        user = account(engine, who)
        change(engine, "user_disabled", user.id, lambda uow, now: accounts.set_disabled(uow, user.id, True))
    typer.echo(f"disabled {user.email or user.id}: signed out everywhere, tokens refused")


@users_app.command("enable")
def enable_command(who: str = WHO, database_url: str = DATABASE) -> None:
    """Enable a disabled account again."""
    with database(database_url) as engine:
        user = account(engine, who)
        change(engine, "user_enabled", user.id, lambda uow, now: accounts.set_disabled(uow, user.id, False))
    typer.echo(f"enabled {user.email or user.id}")


@users_app.command("reset-password")
def reset_password_command(
    who: str = WHO,
    second_factor: bool = typer.Option(False, "--second-factor", help="Also forget the authenticator (a lost phone)."),
    database_url: str = DATABASE,
) -> None:
    """A temporary password, printed once on the last line; the account is signed out everywhere and must choose a
    new password at the next sign-in."""
    with database(database_url) as engine:
        user = account(engine, who)
        temporary = change(engine, "password_reset", user.id, lambda uow, now: accounts.reset_password(
            uow, user.id, now, second_factor=second_factor), detail="and the second factor" if second_factor else None)
    typer.echo(f"reset the password of {user.email or user.id}"
               + (" and its authenticator" if second_factor else "") + "; temporary password, shown only now:")
    typer.echo(temporary)


@users_app.command("sign-out")
def sign_out_command(who: str = WHO, database_url: str = DATABASE) -> None:
    """End every session of an account."""
    with database(database_url) as engine:
        user = account(engine, who)
        ended = change(engine, "sessions_ended", user.id, lambda uow, now: end_all(uow, user.id))
    typer.echo(f"ended {ended} session(s) of {user.email or user.id}")


@token_app.command("create")
def token_create_command(
    who: str = WHO,
    name: str = typer.Option(..., "--name", help="What the token is for, e.g. prometheus."),
    role: UserRole | None = typer.Option(None, "--role", help="At most the account's role (an admin's: any)."),
    days: int = typer.Option(DEFAULT_DAYS, "--days", min=1, max=MAX_DAYS, help="Days until it expires."),
    database_url: str = DATABASE,
) -> None:
    """Make an API token for an account; printed once, alone on the last line (only its hash is kept)."""
    with database(database_url) as engine:
        user = account(engine, who)
        token, value = change(engine, "token_created", None, lambda uow, now: create_token(
            uow, user.id, name, now, role=role.value if role else None, days=days),
            detail=f"for account {user.id}, {days} days")
    typer.echo(f"token {token.id} {token.name!r} for {user.email or user.id}, role {token.role}, expires "
               f"{token.expires_at:%Y-%m-%d %H:%M} UTC; shown only now:")
    typer.echo(value)


@token_app.command("revoke")
def token_revoke_command(token_id: str = typer.Argument(..., help="The token's id (printed when it was made)."),
                         database_url: str = DATABASE) -> None:
    """Revoke a token: it stops working at once."""
    with database(database_url) as engine:
        if account_queries.token(engine, token_id) is None:
            fail(f"no token {token_id!r}")
        change(engine, "token_revoked", token_id, lambda uow, now: revoke_token(uow, token_id, now))
    typer.echo(f"revoked token {token_id}")
