"""The architecture, checked: the sans-I/O engine performs no I/O, and only
``_backends/`` may import an event loop directly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import anywebsockets

PACKAGE = Path(anywebsockets.__file__).parent
IO_MODULES = {"anyio", "trio", "asyncio", "socket", "selectors", "ssl", "time"}
LOOP_MODULES = {"trio", "asyncio"}


def imported_modules(path: Path) -> set[str]:
    """Return the top-level names of every module that ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_imported_modules_sees_every_form(tmp_path: Path) -> None:
    """The scanner itself finds plain, dotted, aliased and nested imports."""
    source = tmp_path / "sample.py"
    source.write_text(
        "import os.path\nimport trio as t\nfrom anyio import abc\nfrom . import x\n"
        "def f():\n    import socket\n"
    )
    assert imported_modules(source) == {"os", "trio", "anyio", "socket"}


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "protocol").rglob("*.py")), ids=lambda p: p.name
)
def test_protocol_performs_no_io(path: Path) -> None:
    """Nothing under ``protocol/`` imports an event loop, sockets, TLS or clocks."""
    assert not imported_modules(path) & IO_MODULES


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if "_backends" not in p.parts),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_backends_import_an_event_loop(path: Path) -> None:
    """The driver is written once, on anyio: only ``_backends/`` may import asyncio or trio."""
    assert not imported_modules(path) & LOOP_MODULES
