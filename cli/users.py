"""`carepath users`: API users and their tokens."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError, ProgrammingError

from models.db import make_engine
from models.users import UserRole, create_user

users_app = typer.Typer(help="API users and their tokens.", no_args_is_help=True)


@users_app.callback()
def users() -> None:
    """API users and their tokens (a group even with one command, so `users create` reads the same everywhere)."""


@users_app.command("create")
def create_command(
    name: str = typer.Option(..., "--name", help="Who the token is for, as it should appear in the history."),
    role: UserRole = typer.Option(..., "--role", help="coordinator, clinician, ops or admin."),
    database_url: str = typer.Option("sqlite:///carepath.db", "--database-url", envvar="CAREPATH_DATABASE_URL"),
) -> None:
    """Create an API user and print their token, once, alone on the last line."""
    engine = make_engine(database_url)
    try:
        user, token = create_user(engine, name, role)
    except ValueError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except (OperationalError, ProgrammingError):
        Console(stderr=True).print("[red]error:[/red] the database has no users table yet: run `carepath migrate` first",
                                   highlight=False)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(f"created {user.role} {user.name!r} (id {user.id}); the token is shown only now:")
    typer.echo(token)
