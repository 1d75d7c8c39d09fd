"""Command line entry point: ``python -m anywebsockets`` and the ``anywebsockets`` script."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line interface.

    ``demo`` starts an echo server on 127.0.0.1 and talks to it with a
    client; ``demo --sansio`` shows the sans-I/O engine alone, in memory.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(
        prog="anywebsockets", description="WebSocket tools built on anywebsockets."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="an echo server and a client on 127.0.0.1")
    demo.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    demo.add_argument(
        "--sansio", action="store_true", help="show the sans-I/O engine alone, in memory"
    )
    args = parser.parse_args(argv)

    if args.sansio:
        from ._sansio_demo import main as sansio_demo

        sansio_demo()
    else:
        from ._demo import run

        run(args.backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
