"""Every import in src/ganprint goes downhill (docs/architecture.md: the layers, the walls, the graph).

An ``ast`` walk over the package maps each import, function-level ones included, to the folder (or top-level
module) it comes from and goes to, and checks it against the layers, bottom to top:

    errors, utils · runstore · nn, transforms, data · models, gans, metrics · reporting · callbacks · pipeline · tasks ·
    command-line shells (train.py, evaluate.py, ...)

``callbacks/`` sits above ``reporting/``: a callback holds the model during a run and hands arrays to
reporting's figure code (``VisNetFigures`` -> ``reporting.fingerprint_figures``), as tasks/analysis.py does for
t-SNE and spectra; reporting itself never sees a model or a callback.

An import may go down any number of layers or sideways within a layer, except across the walls the design names:
data/ and transforms/ know nothing of models/ or gans/, and models/ and gans/ know nothing of data/.
``python -m pytest tests/test_layers.py -q`` lists every offending import with its file and line.

The developer benchmark (``benchmarks/``, beside ``src/``) is not part of the package and is not walked: it sits
above everything and may import any of it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import ganprint

PACKAGE_DIR = Path(ganprint.__file__).resolve().parent

LAYERS: list[set[str]] = [
    {"errors", "utils"},
    {"runstore"},  # table specs and run records on disk: read by pipeline/ and reporting/ alike
    {"nn", "transforms", "data"},
    {"models", "gans", "metrics"},
    {"reporting"},
    {"callbacks"},
    {"pipeline"},
    {"tasks"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
SHELL = len(LAYERS)  # the command-line shells, above the last layer: every top-level module but errors.py
SHELLS = {p.stem for p in PACKAGE_DIR.glob("*.py")} - set(RANK) - {"__init__"}
RANK |= dict.fromkeys(SHELLS, SHELL)

# Imports between folders the design forbids even where the layers allow them.
FORBIDDEN = {
    ("data", "models"), ("data", "gans"), ("transforms", "models"), ("transforms", "gans"),
    ("models", "data"), ("gans", "data"),
}

# Known imports that run back up, each with the reason it must for now; none today. Exact (importer, imported)
# modules: a new violation fails, and so does a pair listed here that is gone (then delete its line).
ALLOWED: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module name (a submodule when ``from package import submodule``)
    where: str  # path:line

    def layer(self, module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def is_module(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (PACKAGE_DIR / rel).with_suffix(".py").is_file() or (PACKAGE_DIR / rel / "__init__.py").is_file()


def package_imports() -> list[Import]:
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        importer, is_package = module_name(path)
        here = importer.split(".") if is_package else importer.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            where = f"{path.relative_to(PACKAGE_DIR.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
                # ``from package import submodule`` imports the submodule
                targets = [f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names]
            else:
                continue
            found += [Import(importer, t, where) for t in dict.fromkeys(targets)
                      if t == "ganprint" or t.startswith("ganprint.")]
    return found


def violations(imports: list[Import]) -> list[Import]:
    bad = []
    for imp in imports:
        src, dst = imp.layer(imp.importer), imp.layer(imp.imported)
        if src == dst or dst == "__init__" or src == "__init__":
            continue
        if src not in RANK or dst not in RANK:
            bad.append(imp)  # a new folder or top-level module: give it a layer above
        elif RANK[dst] > RANK[src] or (src, dst) in FORBIDDEN:
            bad.append(imp)
    return bad


def test_every_folder_has_a_layer():
    folders = {p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").is_file()}
    assert folders - set(RANK) == set(), "give these folders a place in LAYERS"
    assert {"train", "evaluate", "errors"} <= set(RANK) and RANK["train"] == SHELL and RANK["errors"] == 0
    gone = {n for layer in LAYERS for n in layer} - folders - {p.stem for p in PACKAGE_DIR.glob("*.py")}
    assert gone == set(), "LAYERS names folders or modules that are gone"


def test_imports_go_downhill():
    imports = package_imports()
    assert len(imports) > 100, "the walk found too few imports to be reading the package"
    bad = violations(imports)
    new = [f"{v.where}: {v.importer} imports {v.imported}" for v in bad
           if (v.importer, v.imported) not in ALLOWED]
    assert not new, "imports that run back up (docs/architecture.md):\n" + "\n".join(new)
    stale = ALLOWED - {(v.importer, v.imported) for v in bad}
    assert not stale, f"allow-listed imports that are gone or now allowed; delete them from ALLOWED: {sorted(stale)}"


def test_no_folder_cycles():
    """Sideways imports within a layer do not run in a circle either (models -> gans -> models)."""
    graph: dict[str, set[str]] = {}
    for imp in package_imports():
        src, dst = imp.layer(imp.importer), imp.layer(imp.imported)
        if src != dst and "__init__" not in (src, dst) and (imp.importer, imp.imported) not in ALLOWED:
            graph.setdefault(src, set()).add(dst)
    cycles = _cycles(graph)
    assert not cycles, "folders that import each other:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_module_cycles():
    """No two modules import each other, directly or through others, even through function-level imports."""
    graph: dict[str, set[str]] = {}
    for imp in package_imports():
        if imp.imported != imp.importer and not (imp.importer.startswith(imp.imported + ".")):
            # a module importing its own package's __init__ (for a re-export) is not a cycle of concern
            graph.setdefault(imp.importer, set()).add(imp.imported)
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

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
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


@pytest.mark.parametrize("importer, imported, ok", [
    ("ganprint.models.visnet_module", "ganprint.reporting.fingerprint_figures", False),
    ("ganprint.reporting.tables", "ganprint.callbacks.visnet_figures", False),
    ("ganprint.callbacks.visnet_figures", "ganprint.reporting.fingerprint_figures", True),
    ("ganprint.utils.ddp", "ganprint.tasks.job", False),
    ("ganprint.data.sources.generator", "ganprint.gans.zoo", False),
    ("ganprint.gans.module", "ganprint.data.datamodule", False),
    ("ganprint.gans.module", "ganprint.metrics.frechet", True),
    ("ganprint.tasks.train", "ganprint.models.module", True),
    ("ganprint.train", "ganprint.tasks.train", True),
    ("ganprint.reporting.tables", "ganprint.runstore.spec", True),
    ("ganprint.pipeline.runs", "ganprint.runstore.store", True),
    ("ganprint.runstore.store", "ganprint.pipeline.runs", False),
    ("ganprint.pipeline.runs", "ganprint.tasks.train", False),
    ("ganprint.tasks.table", "ganprint.pipeline.runs", True),
    ("ganprint.runstore.spec", "ganprint.data.datamodule", False),
])
def test_the_rules_themselves(importer, imported, ok):
    assert (not violations([Import(importer, imported, "x.py:1")])) == ok


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.test_layers [src/ganprint]``: the folder-level import graph and every import going up."""
    import sys
    from collections import Counter

    global PACKAGE_DIR
    args = sys.argv[1:] if argv is None else argv
    if args:
        PACKAGE_DIR = Path(args[0]).resolve()
    imports = package_imports()
    edges = Counter((i.layer(i.importer), i.layer(i.imported)) for i in imports
                    if i.layer(i.importer) != i.layer(i.imported) and "__init__" not in (i.layer(i.importer),
                                                                                         i.layer(i.imported)))
    print(f"{len(imports)} imports in {PACKAGE_DIR}; between folders (importer -> imported: count):")
    for (a, b), n in sorted(edges.items(), key=lambda e: (-RANK.get(e[0][0], SHELL), e[0])):
        print(f"  {a:>12} -> {b:<12} {n}")
    bad = violations(imports)
    print(f"{len(bad)} imports going up or across a wall:")
    for v in bad:
        print(f"  {v.where}: {v.importer} -> {v.imported}{'  (allow-listed)' if (v.importer, v.imported) in ALLOWED else ''}")
    return int(any((v.importer, v.imported) not in ALLOWED for v in bad))


if __name__ == "__main__":
    raise SystemExit(main())
