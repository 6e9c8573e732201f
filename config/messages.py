"""Loading the SMS catalogs (`config/catalogs/<language>.yaml`), with errors that name the file and the bad template.

Adding a language is adding a file: `config/catalogs/pt.yaml` makes Portuguese a language a patient may have. The file's
name is the IETF language tag (`en`, `es`, `es-MX`); each catalog is checked in its own language when loaded.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from config.protocol import describe
from workflows.catalog import Catalog, LanguageTag

CATALOGS_DIR = Path(__file__).parent / "catalogs"
DEFAULT_LANGUAGE = "en"
DEFAULT_MESSAGES_FILE = CATALOGS_DIR / f"{DEFAULT_LANGUAGE}.yaml"


class CatalogError(ValueError):
    """A message catalog is invalid; the message names the file and the template or key."""


def load_catalog(path: str | Path | None = None, language: str | None = None) -> Catalog:
    """One catalog; its language is the file's name (`es.yaml` is Spanish) unless given."""
    source = Path(path) if path else DEFAULT_MESSAGES_FILE
    tag = language or _tag(source)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise CatalogError(f"{source}: a message catalog is a mapping (crisis_line, templates, ...)")
        return Catalog.model_validate({**raw, "language": tag})
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"{source}: cannot read message catalog: {exc}") from None
    except ValidationError as exc:
        raise CatalogError(f"{source}: {describe(exc)}") from None


def load_catalogs(directory: str | Path | None = None) -> dict[str, Catalog]:
    """Every `<tag>.yaml` in the directory, by language tag."""
    folder = Path(directory) if directory else CATALOGS_DIR
    catalogs = {_strict_tag(path): load_catalog(path) for path in sorted(folder.glob("*.yaml"))}
    if not catalogs:
        raise CatalogError(f"{folder}: no message catalogs (<language>.yaml) found")
    return catalogs


def _strict_tag(path: Path) -> str:
    try:
        return TypeAdapter(LanguageTag).validate_python(path.stem)
    except ValidationError:
        raise CatalogError(f"{path}: a catalog file is named for its language, an IETF tag such as en.yaml or "
                           f"es-MX.yaml: rename it") from None


def _tag(path: Path) -> str:
    # A file not named for a language (`messages.yaml`, an operator's override) is read as the default language.
    try:
        return TypeAdapter(LanguageTag).validate_python(path.stem)
    except ValidationError:
        return DEFAULT_LANGUAGE
