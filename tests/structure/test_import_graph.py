"""The project's modules form no import cycle, and importing one changes nothing in the process."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("textrl", "analysis")
# modules that import mlx at module level: made (after the fast CPU set-up) by textrl.engine.factory
# and the model builder, never imported by the rest at module level
MLX_MODULES = {"textrl.losses", "textrl.engine.mlx_engine", "textrl.engine.sampler", "textrl.engine.cpu_kernels",
               "textrl.engine.cpu_lanes", "textrl.models.tiny", "textrl.models.warmstart"}
SCRIPTS = {"textrl.rewards.sandbox_launcher"}  # run as its own process by the sandbox, never imported


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports, at module level or inside functions alike."""
    known = modules()

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
                targets.update(subs or {base})
                if len(subs) < len(node.names):
                    targets.add(base)
        graph[name] = {t for t in map(resolve, targets) if t and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_project_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_mlx_modules_are_imported_at_module_level_only_by_each_other():
    graph = import_graph()
    for name, path in modules().items():
        if name in MLX_MODULES:
            continue
        tree = ast.parse(path.read_text())
        top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)} | {
            a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names}
        assert not top & MLX_MODULES, f"{name} imports {top & MLX_MODULES} at module level"
        assert not any(t == "mlx" or t.startswith(("mlx.", "mlx_lm")) for t in top), f"{name} imports mlx at module level"
    assert graph  # the graph was built


def test_importing_every_module_changes_nothing_in_the_process():
    """No fast-CPU set-up (OpenBLAS, JIT wrapper), no environment variable set, mlx not imported."""
    names = sorted(n for n in modules() if n not in MLX_MODULES | SCRIPTS and not n.endswith("__main__")
                   and not n.startswith("textrl.engine.tinker"))
    code = f"""
import json, os, sys
before = dict(os.environ)
import importlib
for name in {names!r}:
    importlib.import_module(name)
from textrl import fastblas, fastjit
print(json.dumps({{"env": sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k)),
                  "mlx": sorted(m for m in sys.modules if m == "mlx" or m.startswith("mlx.")),
                  "set_up": [fastblas.status()["reason"], fastjit.status()["reason"]]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == {"env": [], "mlx": [], "set_up": ["not attempted", "not attempted"]}
