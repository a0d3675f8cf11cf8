"""Every example in the learning path runs offline, in seconds, and prints what it promises."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {
    "01_hello_reward.py": "'Hello Ada!'   -> reward 1.0",
    "02_reward_decorator.py": "math_correctness  {'reward': 1.0, 'correct': True}",
    "03_batch_processing.py": "-> [1.0, 0.0, 0.0, 0.0]",
    "04_multiple_rewards.py": "+1.200 correct=True",
}


def test_every_reward_example_is_covered():
    on_disk = {p.name for p in (REPO / "examples").glob("0[1-4]_*.py")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, str(REPO / "examples" / name)], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert EXPECTED[name] in out.stdout, out.stdout
