"""What a source file imports, read from its syntax tree (imports inside functions included)."""

import ast
from pathlib import Path


def imported_roots(path: Path) -> set[str]:
    """The top-level package names a file imports, anywhere in it (absolute imports only)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def files_importing(folder: Path, forbidden: set[str]) -> dict[str, list[str]]:
    """Each file under `folder` that imports one of `forbidden`, with the ones it imports."""
    offenders = {}
    for path in sorted(folder.rglob("*.py")):
        bad = imported_roots(path) & forbidden
        if bad:
            offenders[str(path)] = sorted(bad)
    return offenders
