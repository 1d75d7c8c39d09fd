"""Every example in docs/examples runs and prints what the docs promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "docs" / "examples"

EXPECTED = {
    "echo_asyncio.py": "Hello!\n",
    "echo_trio.py": "Hello!\n",
    "unowned_client.py": "fragmented into three frames\nround trip: ",
    "reconnect.py": (
        "hello from connection 1\nclosed: 1012 service restart\n"
        "hello from connection 2\nclosed: 1012 service restart\n"
        "hello from connection 3\nclosed: 1012 service restart\n"
    ),
    "basic_auth.py": "hello, alice\n401 Invalid credentials\n",
    "broadcast.py": "alice got: hello, everyone\nbob got: hello, everyone\n",
}


def test_every_example_is_checked() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(EXPECTED[name])
