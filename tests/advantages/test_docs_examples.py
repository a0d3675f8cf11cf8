"""Every worked example of docs/advantages.md is checked against the code."""

import re
from pathlib import Path

import numpy as np
import pytest

from textrl import advantages
from textrl.advantages.plugins import EpisodeBatch, rloo

DOC = Path(__file__).resolve().parents[2] / "docs" / "advantages.md"


def rloo_group(rewards):
    r = np.asarray(rewards, dtype=np.float64)
    return rloo(EpisodeBatch([r], [r > 0], 1))[0]


NAMES = {name: getattr(advantages, name) for name in ("grpo", "maxrl", "sepa_pool", "gtpo", "gtpo_weights", "hicra")}
NAMES["rloo_group"] = rloo_group


def examples() -> list[str]:
    block = re.search(r"```examples\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/advantages.md has no ```examples block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_doc_has_an_example_for_every_stage():
    called = {line.split("(", 1)[0] for line in examples()}
    assert called == set(NAMES)


@pytest.mark.parametrize("line", examples())
def test_worked_example(line):
    call, expected = line.split(" -> ")
    got = eval(call, {"__builtins__": {}}, NAMES)  # noqa: S307 - the doc's own lines, a fixed namespace
    np.testing.assert_allclose(np.asarray(got, dtype=float), eval(expected, {"__builtins__": {}}), rtol=1e-5, atol=1e-9)
