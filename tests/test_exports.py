"""Public names: every ``__all__`` is complete and importable, and API.md's names exist."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import anywebsockets
from anywebsockets import exceptions


def public_modules() -> list[ModuleType]:
    """Import every module of the package whose name has no leading underscore."""
    modules = [anywebsockets]
    for info in pkgutil.walk_packages(anywebsockets.__path__, "anywebsockets."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        modules.append(importlib.import_module(info.name))
    return modules


@pytest.mark.parametrize("module", public_modules(), ids=lambda m: m.__name__)
def test_all_is_defined_and_importable(module: ModuleType) -> None:
    """Each public module declares ``__all__`` and every name in it exists."""
    assert hasattr(module, "__all__"), f"{module.__name__} has no __all__"
    for name in module.__all__:
        assert hasattr(module, name), f"{module.__name__}.{name} is missing"


@pytest.mark.parametrize("module", public_modules(), ids=lambda m: m.__name__)
def test_public_names_have_docstrings(module: ModuleType) -> None:
    """Every public class and function carries a docstring."""
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, f"{module.__name__}.{name} has no docstring"


def test_every_exception_is_exported_at_top_level() -> None:
    """API.md: every exception class is importable from ``anywebsockets``."""
    for name in exceptions.__all__:
        assert getattr(anywebsockets, name) is getattr(exceptions, name)
        assert name in anywebsockets.__all__


def test_exception_hierarchy_matches_the_contract() -> None:
    """API.md draws the hierarchy; check each parent."""
    parents = {
        "ConnectionClosed": "WebSocketException",
        "ConnectionClosedOK": "ConnectionClosed",
        "ConnectionClosedError": "ConnectionClosed",
        "InvalidURI": "WebSocketException",
        "InvalidProxy": "WebSocketException",
        "InvalidHandshake": "WebSocketException",
        "SecurityError": "InvalidHandshake",
        "ProxyError": "InvalidHandshake",
        "InvalidMessage": "InvalidHandshake",
        "InvalidStatus": "InvalidHandshake",
        "InvalidHeader": "InvalidHandshake",
        "InvalidHeaderFormat": "InvalidHeader",
        "InvalidHeaderValue": "InvalidHeader",
        "InvalidOrigin": "InvalidHeader",
        "InvalidUpgrade": "InvalidHeader",
        "NegotiationError": "InvalidHandshake",
        "ProtocolError": "WebSocketException",
        "PayloadTooBig": "WebSocketException",
        "InvalidState": "WebSocketException",
        "ConcurrencyError": "WebSocketException",
    }
    for child, parent in parents.items():
        assert issubclass(getattr(exceptions, child), getattr(exceptions, parent)), child
