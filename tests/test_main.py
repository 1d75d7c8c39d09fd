"""The command line: ``python -m anywebsockets``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from anywebsockets.__main__ import main


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_echoes_over_the_network(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--backend", backend]) == 0
    out = capsys.readouterr().out
    assert f"backend: {backend}" in out
    assert "echo server listening on ws://127.0.0.1:" in out
    assert "connected; extensions: permessage-deflate" in out
    assert "sent 'Hello, anywebsockets!', received 'Hello, anywebsockets!'" in out
    assert "sent b'\\x00\\x01binary\\xfe\\xff', received b'\\x00\\x01binary\\xfe\\xff'" in out
    assert "client closed with code 1000" in out
    assert out.rstrip().endswith("server closed")


def test_sansio_demo_runs_a_whole_connection(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--sansio"]) == 0
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
    assert "client closed with code 1000" in result.stdout
