"""textrl.advantages and `textrl pipelines` work on a machine without mlx."""

import json
import subprocess
import sys
import textwrap

from textrl.cli import main

BLOCK_MLX = """
import sys
for name in ("mlx", "mlx.core", "mlx.nn", "mlx_lm"):
    sys.modules[name] = None   # any `import mlx...` now raises ImportError
"""


def run_without_mlx(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_MLX + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def test_advantages_import_and_compute_without_mlx():
    proc = run_without_mlx("""
        import textrl.advantages as adv
        p = adv.AdvantagePipeline.preset("full").resolved(10)
        advs, metrics = p.compute([[1, 0]], [[[1.0, 2.0], [3.0]]], [[[0, 1], [0]]], 1, p.controller())
        print(metrics["sepa_lambda"], len(advs[0][0]))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0.1", "2"]


def test_the_blocker_really_blocks_mlx():
    proc = run_without_mlx("import mlx.core")
    assert proc.returncode != 0 and "import of mlx.core halted" in proc.stderr


def test_pipelines_command_without_mlx():
    # the command module itself, not the dispatcher: other commands' imports are their owners' business
    proc = run_without_mlx("""
        import argparse
        from textrl.commands import pipelines
        parser = argparse.ArgumentParser()
        pipelines.add_arguments(parser)
        raise SystemExit(pipelines.run(parser.parse_args(["--json"])))
    """)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) == {"grpo", "full"}


def test_pipelines_json_lists_both_presets_with_every_parameter(capsys):
    assert main(["pipelines", "--json", "--steps", "300"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["grpo"]["episode"] == "grpo" and out["grpo"]["sepa"] is None
    assert out["full"]["episode"] == "maxrl"
    assert out["full"]["sepa"]["steps"] == 300 and out["full"]["gtpo"] == {"beta": 0.1}
    assert out["full"]["hicra"] == {"alpha": 0.2}


def test_pipelines_table_shows_each_parameter(capsys):
    assert main(["pipelines"]) == 0
    out = capsys.readouterr().out
    for row in ("episode", "scale", "uncertainty", "sepa.steps", "sepa.gate", "gtpo.beta", "hicra.alpha", "grams"):
        assert row in out
    assert "maxrl" in out and "run steps" in out and "off" in out


def test_pipelines_bad_steps_is_a_config_error(capsys):
    assert main(["pipelines", "--steps", "-1"]) == 2
    assert "advantage.sepa.steps" in capsys.readouterr().err


def test_version_imports_no_command_module():
    proc = run_without_mlx("""
        import sys
        from textrl.cli import main
        try:
            main(["--version"])
        except SystemExit:
            pass
        print(sorted(m for m in sys.modules if m.startswith("textrl.commands.")))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["textrl 0.1.0", "[]"]


def test_a_reader_that_leaves_early_ends_the_command_quietly():
    """`textrl plan SPEC | head -1`: no BrokenPipeError traceback, exit 141 like a shell pipeline."""
    proc = subprocess.Popen([sys.executable, "-m", "textrl", "plan", "campaigns/ab.yaml", "--no-write"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    assert proc.wait() == 141 and stderr == ""
