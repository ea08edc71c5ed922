"""The integration's folders are its architecture: parts import only the parts below them.

Read with `ast`, so an import inside a function or under TYPE_CHECKING counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).parent.parent / "custom_components" / "influxdb_ingest"
PACKAGE = "custom_components.influxdb_ingest"

# Lowest first: a part may import the parts before it in this list, and the top level's
# `const` (plain names, no code of its own).
PARTS = ["lines", "target", "pipeline", "history", "query"]
SHARED_TOP_LEVEL = {"const"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(INTEGRATION).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def imported_modules(path: Path) -> set[str]:
    """Every module of the integration that `path` imports, as absolute dotted names."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith(PACKAGE):
                continue
            if node.module is None:  # `from . import spool`: the names are modules
                found.update(f"{target}.{alias.name}" for alias in node.names)
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE))
    return found


def part_of(module: str) -> str | None:
    """The part a module belongs to, or None for the top level."""
    rest = module.removeprefix(PACKAGE).lstrip(".").split(".")
    return rest[0] if len(rest) > 1 and rest[0] in PARTS else None


MODULES = {module_name(p): p for p in sorted(INTEGRATION.rglob("*.py"))}


def test_the_top_level_holds_home_assistants_entry_points_and_the_parts() -> None:
    folders = sorted(p.name for p in INTEGRATION.iterdir() if (p / "__init__.py").exists())
    assert set(folders) <= set(PARTS)
    assert {"lines", "target", "pipeline", "history"} <= set(folders)
    top_level = {p.stem for p in INTEGRATION.glob("*.py")}
    assert {"__init__", "config_flow", "sensor", "diagnostics", "const", "data"} <= top_level
    assert len(top_level) <= 20, sorted(top_level)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_part_imports_a_part_above_it(module: str) -> None:
    part = part_of(module)
    if part is None:
        return
    allowed = set(PARTS[: PARTS.index(part) + 1])
    for imported in imported_modules(MODULES[module]):
        imported_part = part_of(imported)
        if imported_part is None:
            assert imported.rsplit(".", 1)[-1] in SHARED_TOP_LEVEL, f"{module} imports {imported}"
        else:
            assert imported_part in allowed, f"{module} ({part}) imports {imported} ({imported_part})"


def test_every_part_says_what_it_does_and_what_it_may_import() -> None:
    for part in PARTS:
        init = INTEGRATION / part / "__init__.py"
        if not init.exists():
            continue
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "import" in docstring.lower(), f"{part}/__init__.py does not say what it may import"


def test_no_import_cycle() -> None:
    graph = {m: {i for i in imported_modules(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in graph[module]:
            if state.get(imported) == 1:
                cycle = [*path[path.index(imported) :], imported]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if imported not in state:
                visit(imported, [*path, imported])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])
