"""Loading the on-call rota file (`CAREPATH_ROTA_FILE`): a YAML list of rota lines, the same shape as a scenario's
`rota:` (see `config/rota.example.yaml`). Refused at start with an error naming the file line, the entry and the field."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from config.protocol import describe
from workflows.rota import Rota, RotaLine


class RotaFileError(ValueError):
    """The rota file is unreadable or one of its lines is invalid; the message says which line and field."""


def load_rota(path: str | Path) -> Rota:
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
        entries = yaml.safe_load(text)
        node = yaml.compose(text)
    except (OSError, yaml.YAMLError) as exc:
        raise RotaFileError(f"{source}: cannot read the rota: {exc}") from None
    if entries is None:
        return Rota()
    if not isinstance(entries, list) or not isinstance(node, yaml.SequenceNode):
        raise RotaFileError(f"{source}: a rota is a list of lines, e.g. "
                            '- {role: on_call, phone: "+15555550190", from: "18:00", to: "08:00"}')
    lines = []
    for number, (entry, item) in enumerate(zip(entries, node.value, strict=True), start=1):
        try:
            lines.append(RotaLine.model_validate(entry))
        except ValidationError as exc:
            # The YAML line people see in their editor, and the entry's place in the list.
            raise RotaFileError(f"{source}, line {item.start_mark.line + 1} (rota entry {number}): "
                                f"{describe(exc)}") from None
    return Rota(lines=tuple(lines))
