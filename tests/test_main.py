"""The command line: ``python -m anywebsockets``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from anywebsockets.__main__ import main


def test_demo_runs_a_whole_connection(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "handshake: HTTP 101, client state OPEN" in out
    assert "permessage-deflate" in out
    assert "server received: 'Hello, anywebsockets! " in out
    assert "closed: client CLOSED (1000), server CLOSED" in out


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main([])
    assert raised.value.code == 2
    assert "usage: anywebsockets" in capsys.readouterr().err


def test_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anywebsockets", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "closed: client CLOSED (1000), server CLOSED" in result.stdout
