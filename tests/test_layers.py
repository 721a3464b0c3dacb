"""The package's layers, enforced: every import inside alignrl (lazy ones included) follows the rule in
alignrl/__init__.py and docs/internals.md, and no module imports itself back through others."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "alignrl"

# Which layers each layer may import (its own always). The engines, native and backends, never see each
# other: a backend that needed the native sampler would run a different engine than it says.
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "claims": frozenset({"core"}),
    "analysis": frozenset({"core", "claims"}),
    "trace": frozenset({"core", "claims", "analysis"}),
    "native": frozenset({"core", "claims", "trace"}),
    "backends": frozenset({"core", "claims", "trace"}),
    "workflow": frozenset({"core", "claims", "analysis", "trace", "native", "backends"}),
}
MAX_LINES = 600


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str], root: Path = PACKAGE) -> set[str]:
    """Every alignrl module that ``path`` imports anywhere in its body, resolved to a module in ``known``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    this = module_name(path, root)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()

    def add(name: str) -> None:
        # "from alignrl.claims import rewards" names a module; "from alignrl.claims.rewards import X" a symbol
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("alignrl"):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("alignrl"):
                continue
            for alias in node.names:
                add(f"{base}.{alias.name}")
    found.discard(this)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    files = sorted(root.rglob("*.py"))
    known = {module_name(f, root) for f in files}
    return {module_name(f, root): imported_modules(f, known, root) for f in files}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, deps in sorted(graph.items()):
        layer = layer_of(module)
        if layer is None:
            continue
        if layer not in ALLOWED:
            out.append(f"{module}: layer '{layer}' is not in the rule (add it to ALLOWED and docs/internals.md)")
            continue
        for dep in sorted(deps):
            dep_layer = layer_of(dep)
            if dep_layer is None or dep_layer == layer:
                continue
            if dep_layer not in ALLOWED[layer]:
                out.append(f"{module} imports {dep}: layer '{layer}' may import only {sorted(ALLOWED[layer])}")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_import_follows_the_layer_rule():
    assert layer_violations(import_graph()) == []


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_every_module_is_in_a_layer():
    strays = [m for m in import_graph() if m != "alignrl" and layer_of(m) not in ALLOWED]
    assert strays == []


def test_no_module_is_over_the_size_limit():
    long = {module_name(f): n for f in PACKAGE.rglob("*.py") if (n := len(f.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_checks_catch_a_cycle_and_a_broken_rule(tmp_path):
    # the checker itself, on a package with a known cycle and a backend that imports the native engine
    pkg = tmp_path / "alignrl"
    for sub in ("claims", "native", "backends"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "claims" / "a.py").write_text("def f():\n    from alignrl.claims import b\n")
    (pkg / "claims" / "b.py").write_text("from alignrl.claims.a import f\n")
    (pkg / "native" / "sampler.py").write_text("X = 1\n")
    (pkg / "backends" / "vllm.py").write_text("from alignrl.native.sampler import X\nfrom . import other\n")
    (pkg / "backends" / "other.py").write_text("")
    graph = import_graph(pkg)
    assert cycles(graph) == [["alignrl.claims.a", "alignrl.claims.b"]]
    assert graph["alignrl.backends.vllm"] == {"alignrl.native.sampler", "alignrl.backends.other"}
    violations = layer_violations(graph)
    assert len(violations) == 1 and "alignrl.backends.vllm imports alignrl.native.sampler" in violations[0]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_every_layer_exists(layer):
    assert (PACKAGE / layer / "__init__.py").is_file()
