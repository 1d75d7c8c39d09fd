"""Every example in docs/examples runs and prints what the docs promise.

Each ``docs/examples/NAME.py`` has a ``NAME.out`` beside it: the output must start with its text.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "docs" / "examples"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.py"))


def test_every_example_has_its_expected_output() -> None:
    assert NAMES
    assert sorted(p.stem for p in EXAMPLES.glob("*.out")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_example_runs(name: str) -> None:
    expected = (EXAMPLES / f"{name}.out").read_text()
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(expected), result.stdout
