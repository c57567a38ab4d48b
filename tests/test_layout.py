"""The layout teaches the architecture: each layer a folder, imports that only go down, no
circles, and the test kit imported by nothing in production but ``mlpspec check``."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "mlpspec"

LAYERS = ["_version", "core", "data", "engine", "builtins", "run", "testing", "cli"]
"""Bottom to top: a module may import its own layer and the layers below, never above.
Layers not listed (optional packages added on top, like ``export`` or ``sweep``) sit above
``run``, beside ``testing``."""


def layer_of(module: str) -> int:
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "__init__"
    if name == "__init__" or name == "__main__":
        return len(LAYERS)  # the package's face and entry point stand on everything
    return LAYERS.index(name) if name in LAYERS else LAYERS.index("testing")


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The mlpspec modules ``path`` imports (at module level only, when asked)."""
    tree = ast.parse(path.read_text())
    annotations_only = {  # what `if TYPE_CHECKING:` imports is for annotations, not run
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if id(node) in annotations_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mlpspec" or node.module.startswith("mlpspec."):
                for alias in node.names:  # a submodule imported from its package is the module
                    inner = f"{node.module}.{alias.name}"
                    found.add(inner if inner in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mlpspec.")}
    return found


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


MODULES = set(modules())


def test_imports_only_go_down():
    wrong = []
    for name, path in modules().items():
        for target in imports(path, top_level_only=False):
            if layer_of(target) > layer_of(name):
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports running up the layers:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = {
        name: {t for t in imports(path, top_level_only=True) if t in modules()}
        for name, path in modules().items()
    }
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in graph.get(node, ()):
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, target]))
            if target not in state:
                visit(target, [*trail, node])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])


def test_only_the_check_command_imports_the_test_kit():
    users = {
        name
        for name, path in modules().items()
        if not name.startswith("mlpspec.testing")
        and any(t.startswith("mlpspec.testing") for t in imports(path, top_level_only=False))
    }
    assert users <= {"mlpspec.cli.main", "mlpspec.cli.check"}, users


def test_the_engine_knows_no_spec_and_no_run_folder():
    for name, path in modules().items():
        if name.startswith("mlpspec.engine"):
            targets = imports(path, top_level_only=False)
            assert not {t for t in targets if t.startswith(("mlpspec.core.spec", "mlpspec.run"))}
