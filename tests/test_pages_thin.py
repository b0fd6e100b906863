"""The app's shape: thin pages over a ui package without import cycles.

Pages read widgets → one call into ``ui`` → rendering; the caches, their keys and the
computations live in ``ui`` (and the core), so a page stays short enough to read at a glance.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "streamlit_app.py", *sorted((ROOT / "pages").glob("*.py"))]
MAX_PAGE_LINES = 110


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_page_is_thin(page):
    lines = len(page.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_PAGE_LINES, f"{page.name}: {lines} lines; move work into ui/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_leave_cache_keys_to_the_ui(page):
    """Pages name a model by its choice (or key); the file stamp in every cache key is the ui
    layer's business."""
    source = page.read_text(encoding="utf-8")
    assert ".stamp" not in source and "block_stamp" not in source, page.name


def _ui_imports(path: Path) -> set[str]:
    """The ``ui`` modules ``path`` imports at run time (not those only for type checking)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1:
            found |= {node.module} if node.module else {a.name for a in node.names}
    return found


def test_the_ui_package_has_no_import_cycle():
    graph = {p.stem: _ui_imports(p) for p in (ROOT / "ui").glob("*.py")}

    def reaches(start: str, target: str, seen: set) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    cycles = [m for m in graph if reaches(m, m, set())]
    assert not cycles, {m: graph[m] for m in cycles}


def test_widgets_load_nothing():
    """Widgets draw; loading and computing belong to ``ui.loaders`` / ``ui.compute``."""
    assert not _ui_imports(ROOT / "ui" / "widgets.py") & {"loaders", "compute", "jobs"}
