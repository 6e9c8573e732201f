"""`carepath clinics`: the clinics of a network, beside the install's own ("main", from the CAREPATH_CLINIC_* settings).

`add FILE` validates a clinic definition (YAML: key, name, phone, numbers, timezone, staff, rota, sends_from, hours,
closures, languages, chairs, providers, protocol_version) with every clinic already stored, then stores it. Running
processes serve it within `workers.runtime.NETWORK_CHECK_SECONDS`; the admin pages' Clinics page does the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError

from config.clinics import ClinicDefinitionError, add_clinic, load_network, read_definition
from config.wiring import protocol_book, settings_clinic
from models.db import make_engine
from models.unit_of_work import UnitOfWork
from workers.runtime import NETWORK_CHECK_SECONDS
from workers.settings import Settings

clinics_app = typer.Typer(help="The clinics of a network: list them, add or change one.", no_args_is_help=True)
DATABASE = typer.Option("sqlite:///carepath.db", "--database-url", envvar="CAREPATH_DATABASE_URL")
errors = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


@clinics_app.command("add")
def add(definition: Path = typer.Argument(..., help="The clinic's definition, YAML."), database_url: str = DATABASE):
    """Add a clinic, or replace the definition of the one with the same key."""
    engine = make_engine(database_url)
    try:
        with UnitOfWork(engine) as uow:
            settings = Settings()
            clinic = add_clinic(uow, settings_clinic(settings), read_definition(definition),
                                protocols=protocol_book(settings).get)
            uow.commit()
    except ClinicDefinitionError as exc:
        _fail(f"{definition}: {exc}")
    except (OperationalError, ProgrammingError):
        _fail("the database has no clinics table yet: run `carepath migrate` first", 1)
    finally:
        engine.dispose()
    Console().print(f"clinic {clinic.key} ({clinic.name}) stored; running carepath processes serve it within "
                    f"{int(NETWORK_CHECK_SECONDS)} seconds", highlight=False)


@clinics_app.command("list")
def list_clinics(database_url: str = DATABASE, as_json: bool = typer.Option(False, "--json")):
    """Every clinic this carepath serves: key, name, time zone, numbers, rota lines."""
    engine = make_engine(database_url)
    try:
        with UnitOfWork(engine) as uow:
            network = load_network(uow, settings_clinic(Settings()))
    except ClinicDefinitionError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    rows = [{"key": c.key, "name": c.name, "timezone": c.timezone, "numbers": list(c.sms_numbers),
             "languages": list(c.languages), "chairs": list(c.chairs), "providers": list(c.providers),
             "protocol_version": c.protocol_version, "rota_lines": len(c.rota.lines)} for c in network.clinics]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("key", "name", "time zone", "numbers", "languages", "chairs", "providers", "protocol", "rota lines")
    for row in rows:
        table.add_row(row["key"], row["name"], row["timezone"], ", ".join(row["numbers"]), ", ".join(row["languages"]),
                      str(len(row["chairs"])), str(len(row["providers"])), row["protocol_version"] or "current",
                      str(row["rota_lines"]))
    Console().print(table)
