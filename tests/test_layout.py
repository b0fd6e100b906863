"""The project's layering, read from its source: no import cycles among its own modules, and a
core (``vonedemo/``) that knows nothing of Streamlit or of the app built on it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "vonedemo"


def project_modules() -> dict[str, Path]:
    """Module name → file, for vonedemo/, ui/, pages/ and streamlit_app.py."""
    files = [p for top in ("vonedemo", "ui", "pages") for p in sorted((ROOT / top).rglob("*.py"))]
    files.append(ROOT / "streamlit_app.py")
    modules = {}
    for path in files:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that ``name`` imports, anywhere in it (a late import inside a
    function counts: it runs, and can close a cycle, as soon as that function is called)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name  # `import a.b.c` runs a.b.c: the deepest project module
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                if full in modules:  # `from pkg import mod` imports the module pkg.mod
                    found.add(full)
                elif base in modules:  # `from mod import name` imports mod
                    found.add(base)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_relative_late_and_module_imports():
    graph = import_graph()
    assert "vonedemo.models" in graph["vonedemo.checkpoints"]  # from .models import …
    assert "ui.charts" in graph["ui.panels"]  # from . import charts: the module
    assert "vonedemo.api" in graph["vonedemo"]  # a package's __init__
    assert "vonedemo.reproduce" in graph["vonedemo.cli"]  # a late import inside a function
    assert "vonedemo.models" in graph["vonedemo.attacks"]  # from ..models import …


def test_cycles_are_found_in_a_planted_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


# The app's vocabulary: its folders and settings, its pages. The core may speak of a model's
# "page" of results nowhere; it writes to folders its callers name.
APP_WORDS = re.compile(
    r"runs/app|VONEDEMO_APP_|streamlit|\bst\.|\bpages?\b|session_state|sidebar", re.IGNORECASE
)


def _code_strings(tree: ast.AST) -> list[ast.Constant]:
    """String literals other than docstrings (those explain; code strings are what runs)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
        and isinstance(node.body[0].value.value, str)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def core_violations() -> list[str]:
    problems = []
    for path in sorted(CORE.rglob("*.py")):
        where = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                    problems.append(f"{where}:{node.lineno}: imports streamlit")
                if any(n == "ui" or n.startswith("ui.") or n == "pages" for n in names):
                    problems.append(f"{where}:{node.lineno}: imports the app")
        for node in _code_strings(tree):
            if APP_WORDS.search(node.value):
                problems.append(f"{where}:{node.lineno}: app wording {node.value[:60]!r}")
    return problems


def test_the_core_knows_nothing_of_the_app():
    problems = core_violations()
    assert not problems, "\n".join(problems)
