"""Loading the SMS catalog (`config/messages.yaml`), with errors that name the bad template or key."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from config.protocol import describe
from workflows.catalog import Catalog

DEFAULT_MESSAGES_FILE = Path(__file__).parent / "messages.yaml"


class CatalogError(ValueError):
    """The message catalog is invalid; the message names the template or key."""


def load_catalog(path: str | Path | None = None) -> Catalog:
    source = Path(path) if path else DEFAULT_MESSAGES_FILE
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        return Catalog.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{source}: cannot read message catalog: {exc}") from None
    except ValidationError as exc:
        raise CatalogError(f"{source}: {describe(exc)}") from None
