"""Command line entry point: ``python -m anywebsockets`` and the ``anywebsockets`` script.

The commands live in :mod:`anywebsockets._cli`: ``connect`` (an interactive
client), ``serve`` (an echo server) and ``demo``.
"""

from __future__ import annotations

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
