"""The package keeps the shape it was given: layers that only point down, and no circle.

Every import between vipredict modules is read from the source (``ast``: module
level, inside functions and under ``TYPE_CHECKING`` alike, since a hidden import
is still a dependency). An import must go to a lower layer than its own, or stay
inside its own package; and no set of modules may import each other in a circle.
The layers, lowest first:

====  =======================================================================
0     ``config`` (and the package face ``vipredict``)
1     ``variants``, ``schema``, ``progress``, ``memory`` (how a long job allocates)
2     ``acmg``: the guidelines' vocabulary and arithmetic; ``vrs``: GA4GH VRS identifiers
3     ``io``: sources, readers, user inputs, the VCF writer
4     ``features``: builders and feature sets
5     ``store``: the one feature store
6     ``model``: calibration, training, evaluation, registry, scorer
7     ``queue``, ``audit``, ``standards``: what curators and others do with scores
8     ``jobs``: train, evaluate, predict, annotate, calibrate, Dask
9     ``service``: the HTTP service
10    ``cli``: the commands
====  =======================================================================
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest
from homes import PROJECT_ROOT

SRC = PROJECT_ROOT / "src"
PACKAGE = "vipredict"
LAYERS: dict[str, int] = {
    "vipredict": 0,
    "vipredict.config": 0,
    "vipredict.variants": 1,
    "vipredict.schema": 1,
    "vipredict.progress": 1,
    "vipredict.deadline": 1,
    "vipredict.memory": 1,
    "vipredict.workers": 1,
    "vipredict.acmg": 2,
    "vipredict.vrs": 2,
    "vipredict.io": 3,
    "vipredict.features": 4,
    "vipredict.store": 5,
    "vipredict.model": 6,
    "vipredict.queue": 7,
    "vipredict.audit": 7,
    "vipredict.standards": 7,
    "vipredict.jobs": 8,
    "vipredict.service": 9,
    "vipredict.cli": 10,
}
Edge = tuple[str, str]


def module_files(root: Path = SRC) -> dict[str, Path]:
    """``vipredict.x.y`` -> its file, for every module (a package is its ``__init__``)."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _target(module: str, name: str | None, modules: Iterable[str]) -> str:
    """The module an import names: ``from a import b`` is ``a.b`` when that is a module."""
    if name is not None and f"{module}.{name}" in modules:
        return f"{module}.{name}"
    return module


def import_edges(files: dict[str, Path]) -> set[Edge]:
    """(importer, imported) for every import of one vipredict module by another."""
    edges = set()
    for module, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [_target(node.module, alias.name, files) for alias in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] == PACKAGE and target != module:
                    edges.add((module, target))
    return edges


def layer_of(module: str) -> tuple[str, int]:
    """The layer a module belongs to: that of its longest listed prefix."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return prefix, LAYERS[prefix]
    raise KeyError(f"{module} is in no layer: add its package to LAYERS")


def upward_imports(edges: Iterable[Edge]) -> list[str]:
    """Imports that do not point down a layer (imports inside one package are allowed)."""
    wrong = []
    for importer, imported in sorted(edges):
        (home, low), (there, high) = layer_of(importer), layer_of(imported)
        if home != there and high >= low:
            wrong.append(f"{importer} (layer {low}) imports {imported} (layer {high})")
    return wrong


def circles(edges: Iterable[Edge]) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan), each sorted."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def edges() -> set[Edge]:
    return import_edges(module_files())


def test_every_module_has_a_layer():
    for module in module_files():
        layer_of(module)


def test_imports_only_point_down_a_layer(edges):
    assert upward_imports(edges) == []


def test_no_import_circle(edges):
    assert circles(edges) == []


def test_the_checks_catch_what_they_are_for():
    """The two checks fail on a made-up upward import and a made-up circle."""
    up = {("vipredict.store.partitioned", "vipredict.jobs.annotate")}
    assert upward_imports(up) == [
        "vipredict.store.partitioned (layer 5) imports vipredict.jobs.annotate (layer 8)"
    ]
    same_package = {("vipredict.model.scorer", "vipredict.model.registry")}
    assert upward_imports(same_package) == []
    loop = {
        ("vipredict.a", "vipredict.b"),
        ("vipredict.b", "vipredict.c"),
        ("vipredict.c", "vipredict.a"),
    }
    assert circles(loop | {("vipredict.c", "vipredict.d")}) == [
        ["vipredict.a", "vipredict.b", "vipredict.c"]
    ]


def test_hidden_imports_are_read_too(tmp_path):
    """An import inside a function or under TYPE_CHECKING is an edge like any other."""
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vipredict.high import x\n"
    )
    (package / "high.py").write_text("def f():\n    from vipredict import low\n")
    assert import_edges(module_files(tmp_path)) == {
        ("vipredict.low", "vipredict.high"),
        ("vipredict.high", "vipredict.low"),
    }


def test_the_wheel_lists_every_package():
    """pyproject lists the packages (two are mapped folders): a new one must not be left out."""
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(path.parent.relative_to(SRC).parts)
        for path in (SRC / PACKAGE).rglob("__init__.py")
    }
    mapped = {name for name in config["package-dir"] if name}
    assert set(config["packages"]) == on_disk | mapped
    for name, folder in config["package-dir"].items():
        if name:
            assert (PROJECT_ROOT / folder / "__init__.py").is_file(), folder
