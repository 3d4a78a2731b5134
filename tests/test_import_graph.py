"""The package's import graph is acyclic: a layer imports only downward (STYLE.md).

The graph is built from the source with :mod:`ast`, not by importing: an edge ``a -> b``
for every ``import b`` / ``from b import x`` in module ``a`` at module level or inside a
function (lazy imports count: they are cycles that only show at run time), except inside
``if TYPE_CHECKING:`` blocks (never executed). ``if __name__ == "__main__":`` blocks count
too (the spark-submit entry point is a module of its own, ``runners/_spark_main.py``, so no
script block closes a cycle). ``from pkg import sub`` where ``sub`` is a submodule is an
edge to ``pkg.sub`` (the package's ``__init__`` runs first, but a package importing its own
submodules is the normal direction and is not counted as a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import chainlens

ROOT = Path(chainlens.__file__).parent


def _modules() -> dict[str, Path]:
    mods = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()

    def visit(n: ast.AST) -> None:
        if isinstance(n, ast.If) and _is_type_checking(n):
            for c in n.orelse:
                visit(c)
            return
        if isinstance(n, ast.Import):
            out.update(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (n.level - 1)]
                m = ".".join(base + ([n.module] if n.module else []))
            else:
                m = n.module or ""
            subs = [a.name for a in n.names if f"{m}.{a.name}" in mods]
            out.update(f"{m}.{s}" for s in subs)
            if len(subs) < len(n.names):
                out.add(m)
        for child in ast.iter_child_nodes(n):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in out if m in mods and m != name}


def import_graph() -> dict[str, set[str]]:
    """``module -> modules of chainlens it imports`` (see the module docstring)."""
    mods = _modules()
    return {m: _imports(m, p, mods) for m, p in mods.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``g`` as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for start in sorted(g):
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(g[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = todo.pop()
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(g[nxt])))
    return None


def test_the_graph_sees_lazy_imports_and_skips_type_checking_blocks() -> None:
    g = import_graph()
    # module-level and function-level imports are both edges
    assert "chainlens.pipeline" in g["chainlens.runners.local"]
    assert "chainlens.analysis" in g["chainlens.pipeline"]  # a lazy import in the kernel
    # pipeline names OIConfig under TYPE_CHECKING only; flow/oi are lazy imports (edges)
    assert "chainlens.store" not in g["chainlens.pipeline"]
    # a script block is an edge too: the spark-submit entry imports the CLI, the runner not
    assert "chainlens.cli" in g["chainlens.runners._spark_main"]
    assert not any(m.startswith("chainlens.cli") for m in g["chainlens.runners.spark"])


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(g) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_import_graph_is_acyclic() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_kernel_does_not_import_runners_reports_or_the_store() -> None:
    """``pipeline`` is the pure kernel: no runner, report, CLI or store import at all."""
    g = import_graph()
    seen, todo = set(), ["chainlens.pipeline"]
    while todo:  # everything pipeline reaches
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(g[m])
    bad = sorted(
        m
        for m in seen
        if m.startswith(("chainlens.runners", "chainlens.report", "chainlens.cli"))
        or m.startswith("chainlens.store")
        or m == "chainlens.demo"
    )
    assert bad == []
