"""Building the Clinic the core needs: its identity and staff numbers, plus the SMS catalog from configuration."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from config.messages import load_catalog
from workflows.catalog import Catalog
from workflows.clinic import Clinic


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load_catalog()


def build_clinic(catalog: Catalog | None = None, **fields: Any) -> Clinic:
    """A Clinic with the shipped message catalog unless another is given; other fields as `Clinic` takes them."""
    return Clinic(catalog=catalog or default_catalog(), **fields)
