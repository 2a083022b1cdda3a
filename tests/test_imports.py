"""The import structure: no module of synthvae/ or cli/ imports one that imports it back.

A circle works by accident of import order (a module half-initialised when its partner
reads it) and makes each module of the pair unreadable without the other. Two checks:

* statically, over every ``import`` in synthvae/ and cli/, those inside functions included
  (a function-level import is a dependency too, only a deferred one): the graph has no
  cycle except through the few deferred edges listed in ``DEFERRED_RENDERERS``;
* at run time, every module imports first in an interpreter where no other synthvae or cli
  module has been imported yet (a circle among module-level imports fails there).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("synthvae", "cli")

# A data class's method that hands the object to a renderer which reads the class back:
# deferred on purpose (the renderer pulls in sdmetrics' or plotly's weight only when asked).
DEFERRED_RENDERERS = {
    ("synthvae.schema", "synthvae.sdv_metadata"),  # Schema.from_sdv / to_sdv
    ("synthvae.reports.report", "synthvae.reports.html"),  # Report.to_html
    ("synthvae.reports.report", "synthvae.notebook"),  # Report._repr_html_
}


def module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imported_modules(tree: ast.AST, module: str, is_package: bool, top_level_only: bool):
    """(name, fallback) of every import in ``tree``: ``from a import b`` reads module
    ``a.b`` when there is one, else ``a``. ``if TYPE_CHECKING:`` blocks are skipped."""
    nodes = list(ast.iter_child_nodes(tree))
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            nodes.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parts = parts[:len(parts) - node.level + (1 if is_package else 0)]
                base = ".".join(parts + ([base] if base else []))
            yield from ((f"{base}.{alias.name}", base) for alias in node.names)
        if top_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                ast.Lambda)):
            continue
        nodes.extend(ast.iter_child_nodes(node))


def import_graph(top_level_only: bool) -> dict[str, set[str]]:
    """{module: the synthvae and cli modules it imports}."""
    files = module_files()

    def owner(name: str) -> str | None:  # the module (or package) a dotted name lives in
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        pairs = imported_modules(tree, module, path.name == "__init__.py", top_level_only)
        targets = {name if name in files else owner(fallback) for name, fallback in pairs}
        graph[module] = targets - {None, module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_module_level_imports_form_no_circle():
    assert cycles(import_graph(top_level_only=True)) == []


def test_no_module_imports_one_that_imports_it_back_even_inside_a_function():
    graph = import_graph(top_level_only=False)
    for source, target in DEFERRED_RENDERERS:
        assert target in graph[source], f"{source} no longer imports {target}: drop the entry"
        graph[source].discard(target)
    assert cycles(graph) == []


def test_the_checks_see_a_circle_made_of_deferred_imports(tmp_path, monkeypatch):
    # the check itself can fail: two modules that import each other inside functions
    package = tmp_path / "synthvae"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from synthvae.b import g\n")
    (package / "b.py").write_text("def g():\n    from synthvae import a\n")
    (tmp_path / "cli").mkdir()
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert cycles(import_graph(top_level_only=True)) == []
    assert cycles(import_graph(top_level_only=False)) == [["synthvae.a", "synthvae.b"]]


def test_every_module_imports_first_in_a_fresh_interpreter():
    modules = sorted(m for m in module_files() if not m.endswith("__main__"))  # runs the CLI
    code = (
        "import importlib, sys\n"
        f"failed = []\n"
        f"for name in {modules!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ('synthvae', 'cli')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        failed.append(f'{name}: {exc}')\n"
        "print('\\n'.join(failed))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == ""
