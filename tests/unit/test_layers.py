"""Every layer imports only the layers below it (README, "Layers"); a new back-edge fails here, naming file and import.

    workflows ← models ← workers ← api ← config ← cli, bench

`workflows` is the pure core; `models` the store and the interfaces it needs (`models.ports`); `workers` the Celery
tasks, scheduler, SMS gateways and the process runtime (settings, services); `api` the HTTP edge; `config` the
composition root that builds and wires the rest; `cli` and `bench` the commands that start processes through it.
Imports inside functions count too: a lazy import is still a dependency.
"""

from pathlib import Path

import pytest
from import_graph import imported_roots

ROOT = Path(__file__).resolve().parents[2]
ORDER = ("workflows", "models", "workers", "api", "config", "cli")
TOOLS = {"bench": "cli"}  # `carepath bench` sits with the commands (the two may import each other)
LAYERS = (*ORDER, *TOOLS)


def rank(package: str) -> int:
    return ORDER.index(TOOLS.get(package, package))


def imported_packages(path: Path) -> set[str]:
    """The first-party top-level packages a file imports, anywhere in it."""
    return imported_roots(path) & set(LAYERS)


def back_edges(package: str, root: Path = ROOT) -> dict[str, list[str]]:
    """Files of `package` importing a layer above it, with what they import."""
    offenders = {}
    for path in sorted((root / package).rglob("*.py")):
        above = sorted(p for p in imported_packages(path) if rank(p) > rank(package))
        if above:
            offenders[str(path.relative_to(root))] = above
    return offenders


@pytest.mark.parametrize("package", LAYERS)
def test_no_layer_imports_a_layer_above_it(package):
    assert back_edges(package) == {}


def test_the_check_notices_a_back_edge_even_inside_a_function(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "leaky.py").write_text(
        "from workflows import stages\n\ndef send():\n    from workers.gateways import ConsoleGateway\n")
    (tmp_path / "models" / "fine.py").write_text("import sqlalchemy\nfrom models import tables\n")
    assert back_edges("models", tmp_path) == {"models/leaky.py": ["workers"]}


def test_config_is_the_only_way_up_to_the_composition_root(tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "app.py").write_text("from config.wiring import build_services\n")
    assert back_edges("api", tmp_path) == {"api/app.py": ["config"]}
