"""Loading the versioned protocol file, with errors that name the bad key."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from workflows.protocol import Protocol, ProtocolBook, ProtocolError

PROTOCOL_DIR = Path(__file__).parent / "protocol"
DEFAULT_PROTOCOL_FILE = PROTOCOL_DIR / "carepath-2026.11.yaml"




def load_protocol(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Protocol:
    """Read a protocol file (the shipped default when no path), apply overrides, and validate it."""
    source = Path(path) if path else DEFAULT_PROTOCOL_FILE
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProtocolError(f"{source}: cannot read protocol file: {exc}") from None
    if not isinstance(raw, dict):
        raise ProtocolError(f"{source}: a protocol file is a mapping of keys to values")
    return parse_protocol(merge(raw, overrides or {}), origin=str(source))


def parse_protocol(raw: dict[str, Any], origin: str = "protocol") -> Protocol:
    try:
        return Protocol.model_validate(raw)
    except ValidationError as exc:
        raise ProtocolError(f"{origin}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{key}: {message}")
    return "; ".join(problems)


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge overrides (a scenario's `protocol:`) into the file's values; same keys as the file."""
    merged = deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = deepcopy(value)
    return merged


def shipped_book(overrides: dict[str, Any] | None = None) -> ProtocolBook:
    """The default file as current (with any overrides), plus every other file in the protocol folder."""
    others = [load_protocol(path) for path in sorted(PROTOCOL_DIR.glob("*.yaml")) if path != DEFAULT_PROTOCOL_FILE]
    return ProtocolBook(load_protocol(overrides=overrides), others)
