"""Building the Clinic the core needs: its identity and staff numbers, plus the SMS catalogs from configuration."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from config.messages import DEFAULT_LANGUAGE, load_catalogs
from workflows.catalog import Catalog
from workflows.clinic import Clinic


@lru_cache(maxsize=4)
def shipped_catalogs(directory: Path | None = None) -> dict[str, Catalog]:
    return load_catalogs(directory)


def default_catalog() -> Catalog:
    return shipped_catalogs()[DEFAULT_LANGUAGE]


class UnknownLanguage(ValueError):
    """A clinic offers a language no catalog is shipped for."""


def build_clinic(catalog: Catalog | None = None, catalogs: dict[str, Catalog] | None = None,
                 languages: list[str] | tuple[str, ...] | None = None, **fields: Any) -> Clinic:
    """A Clinic with the shipped catalogs (every language, or only its `languages`) unless others are given; other
    fields as `Clinic` takes them.

    `catalog` replaces the default language's wording only (CAREPATH_MESSAGES_FILE); the other languages stay.
    """
    chosen = dict(catalogs or shipped_catalogs())
    if languages:
        if unknown := sorted(set(languages) - set(chosen)):
            raise UnknownLanguage(f"languages: no catalog is shipped for {', '.join(unknown)} "
                                  f"(shipped: {', '.join(sorted(chosen))})")
        chosen = {tag: chosen[tag] for tag in languages}
    language = fields.get("default_language", DEFAULT_LANGUAGE)
    if catalog is not None:
        chosen[language] = catalog
    return Clinic(catalog=chosen[language], catalogs=chosen, **fields)
