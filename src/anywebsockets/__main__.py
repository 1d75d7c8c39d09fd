"""Command line entry point: ``python -m anywebsockets`` and the ``anywebsockets`` script."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line interface.

    ``demo`` runs a client and a server against each other through the
    sans-I/O engine, printing what would cross the network.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(
        prog="anywebsockets", description="WebSocket tools built on anywebsockets."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="show a handshake, an echo and a close, in memory")
    parser.parse_args(argv)

    from ._demo import main as demo

    demo()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
