"""The training loop end to end on the tiny model: determinism, exact resume after SIGKILL, run files."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from textrl.config import load_run_config
from textrl.io import read_json, read_jsonl
from textrl.trainer import prompts_for_step, strip_timing, train

REPO = Path(__file__).resolve().parents[2]
METRIC_FIELDS = {
    "step", "reward_mean", "reward_std", "correct_rate", "loss", "grad_norm", "entropy_mean", "clip_frac", "kl",
    "adv_abs_mean", "frac_zero_std_groups", "completion_len_mean", "max_token_hit_rate", "sepa_lambda",
    "planning_token_frac", "changed_frac_sepa", "changed_frac_gtpo", "changed_frac_hicra", "lr", "gen_s", "score_s", "train_s", "step_s", "tokens_generated",
}


def quiet(*_):
    pass


def cli(args, env_extra=None, **kw):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "textrl.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def generations(run_dir: Path) -> list[dict]:
    with gzip.open(run_dir / "generations.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f]


def six_steps(base: dict) -> dict:
    cfg = dict(base)
    cfg["train"] = {**base["train"], "steps": 6, "checkpoint_every": 2}
    return cfg


def test_prompt_order_is_a_seeded_permutation_per_epoch():
    seen = [i for step in range(1, 6) for i in prompts_for_step(10, 4, seed=7, step=step)]
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:20]) == list(range(10))
    assert seen == [i for step in range(1, 6) for i in prompts_for_step(10, 4, seed=7, step=step)]
    assert seen != [i for step in range(1, 6) for i in prompts_for_step(10, 4, seed=8, step=step)]


def test_same_seed_same_metrics_and_run_files(tmp_path, tiny_run_config):
    cfg = load_run_config(tiny_run_config)
    a = train(cfg, tmp_path / "a", log=quiet, progress=False)
    b = train(cfg, tmp_path / "b", log=quiet, progress=False)
    assert [strip_timing(r) for r in a] == [strip_timing(r) for r in b]
    assert METRIC_FIELDS <= set(a[0])
    assert [r["step"] for r in a] == [1, 2, 3, 4]
    assert any(r["grad_norm"] > 0 for r in a)  # the updates were real
    assert read_jsonl(tmp_path / "a" / "metrics.jsonl") == a
    assert generations(tmp_path / "a") == generations(tmp_path / "b")
    other = train(load_run_config({**tiny_run_config, "seed": 1}), tmp_path / "c", log=quiet, progress=False)
    assert [strip_timing(r) for r in other] != [strip_timing(r) for r in a]

    record = read_json(tmp_path / "a" / "config.json")
    assert record["run"] == cfg.to_dict()
    assert record["advantage_pipeline"]["episode"] == "grpo"
    assert {"python", "mlx", "mlx_lm", "textrl"} <= set(record["versions"])
    assert {"git_revision", "host", "started_at", "slurm_job_id"} <= set(record)
    gens = generations(tmp_path / "a")
    assert len(gens) == 4 * 4 * 4
    assert set(gens[0]) == {"step", "prompt_id", "prompt", "completion", "reward", "correct", "components", "n_tokens", "truncated"}
    state = read_json(tmp_path / "a" / "checkpoint" / "state.json")
    assert state["step"] == 4 and state["tokens_generated"] == a[-1]["tokens_generated"]


def test_sigkill_mid_run_then_rerun_matches_an_uninterrupted_run(tmp_path, tiny_run_config):
    cfg_dict = six_steps(tiny_run_config)
    reference = train(load_run_config(cfg_dict), tmp_path / "ref", log=quiet, progress=False)

    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg_dict))
    run_dir = tmp_path / "killed"
    proc = cli(["train", str(cfg_path), "--out", str(run_dir), "--no-progress"])
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 120
    # kill while step 4 or 5 is in flight: the last checkpoint is step 2 or 4, so steps are redone
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed: " + proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(read_jsonl(metrics))
    assert 3 <= killed_at < 6

    rerun = cli(["train", str(cfg_path), "--out", str(run_dir), "--no-progress"])
    rerun_out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "resuming from the checkpoint of step" in rerun_out
    rows = read_jsonl(metrics)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [strip_timing(r) for r in rows] == [strip_timing(r) for r in reference]
    assert generations(run_dir) == generations(tmp_path / "ref")


def test_eval_and_summary_files(tmp_path, tiny_run_config):
    from textrl.evaluate import evaluate_run
    from textrl.summary import summarize_run

    cfg = load_run_config(tiny_run_config)
    train(cfg, tmp_path, log=quiet, progress=False)
    ev = evaluate_run(tmp_path, log=quiet)
    assert read_json(tmp_path / "eval.json") == ev
    assert {"task", "split", "split_seed", "size", "k", "temperature", "top_p", "max_tokens", "eval_seed",
            "avg_at_k", "pass_at_1", "pass_at_k", "greedy_acc", "per_problem", "base"} <= set(ev)
    assert (ev["task"], ev["split"], ev["size"], ev["k"], ev["max_tokens"]) == ("arithmetic", "heldout", 20, 2, 4)
    assert len(ev["per_problem"]) == 20 and all(0 <= p["correct"] <= 2 and p["n"] == 2 for p in ev["per_problem"])
    assert ev["avg_at_k"] == pytest.approx(sum(p["correct"] for p in ev["per_problem"]) / 40)
    assert set(ev["pass_at_k"]) == {"1", "2"} and ev["pass_at_k"]["2"] >= ev["pass_at_k"]["1"] == ev["pass_at_1"]
    assert ev["greedy_acc"] == pytest.approx(sum(p["greedy_correct"] for p in ev["per_problem"]) / 20)
    assert set(ev["base"]) >= {"avg_at_k", "greedy_acc"}
    train_ids = {g["prompt_id"] for g in generations(tmp_path)}
    assert not train_ids & {p["id"] for p in ev["per_problem"]}

    summary = summarize_run(tmp_path)
    assert summary["status"] == "done" and summary["steps"] == 4
    assert summary["endpoints"]["avg_at_k"] == ev["avg_at_k"]
    rewards = [r["reward_mean"] for r in read_jsonl(tmp_path / "metrics.jsonl")]
    assert summary["endpoints"]["reward_auc"] == pytest.approx(sum(rewards) / 4)
    assert summary["endpoints"]["final_reward"] == pytest.approx(rewards[-1])


@pytest.mark.parametrize("variant", [
    {"loss": {"kind": "ppo", "epochs": 3, "target_kl": 1e-9}},
    {"loss": {"kind": "gspo", "eps_low": 0.0003, "eps_high": 0.0004, "aggregation": "seq-mean-token-mean"}},
    {"loss": {"kind": "reinforce", "entropy_coef": 0.01, "kl_coef": 0.05, "aggregation": "seq-mean-token-sum-norm"}},
    {"loss": {"kind": "cispo", "eps_low": 0.99, "eps_high": 0.5, "epochs": 2}},
    {"train": {"lora": {"rank": 4, "scale": 10.0, "layers": 2}, "lr_schedule": "warmup", "warmup_steps": 2}},
    {"advantage": {"preset": "full"}},
])
def test_loss_and_model_variants_train_and_resume_exactly(tmp_path, tiny_run_config, variant, monkeypatch,
                                                         crash_after_checkpoint):
    data = dict(tiny_run_config)
    for section, values in variant.items():
        data[section] = {**data.get(section, {}), **values} if section != "advantage" else values
    data["train"] = {**data["train"], "steps": 3, "checkpoint_every": 1}
    cfg = load_run_config(data)
    rows = train(cfg, tmp_path / "a", log=quiet, progress=False)
    assert len(rows) == 3 and all(r["loss"] == r["loss"] for r in rows)  # finite, not NaN
    if cfg.loss.kind == "ppo":
        assert rows[0]["epochs_run"] == 1  # every later epoch overshoots the tiny target KL
    if cfg.loss.kl_coef > 0:
        assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6) and rows[2]["kl"] > 0
    if cfg.train.lora:
        assert rows[0]["lr"] == pytest.approx(cfg.train.lr / 2)
        assert read_json(tmp_path / "a" / "checkpoint" / "engine.json")["lora"]["rank"] == 4
    if variant.get("advantage"):
        assert rows[0]["sepa_lambda"] is not None and rows[0]["planning_token_frac"] is not None

    # crash right after the step-1 checkpoint, rerun: adapters, optimizer and controller state restore exactly
    crash_after_checkpoint(1)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "b", log=quiet, progress=False)
    monkeypatch.undo()
    assert [r["step"] for r in train(cfg, tmp_path / "b", log=quiet, progress=False)] == [2, 3]
    assert [strip_timing(r) for r in read_jsonl(tmp_path / "b" / "metrics.jsonl")] == [strip_timing(r) for r in rows]
    assert train(cfg, tmp_path / "b", log=quiet, progress=False) == []  # a finished run is not trained again


def test_resume_refuses_a_different_config(tmp_path, tiny_run_config):
    from textrl.errors import ConfigError

    data = dict(tiny_run_config, train={**tiny_run_config["train"], "steps": 1})
    train(load_run_config(data), tmp_path, log=quiet, progress=False)
    changed = dict(data, seed=5)
    with pytest.raises(ConfigError, match=r"different config \(changed: seed\)"):
        train(load_run_config(changed), tmp_path, log=quiet, progress=False)
    assert train(load_run_config(changed), tmp_path, fresh=True, log=quiet, progress=False)[0]["step"] == 1


def test_negative_control_trains_on_seeded_bernoulli_draws_at_the_base_rate(tmp_path, tiny_run_config):
    import numpy as np

    from textrl.evaluate import base_evaluation
    from textrl.tasks import get_task
    from textrl.trainer import derived_seed

    cfg = load_run_config({**tiny_run_config, "reward_control": {"kind": "bernoulli"}})
    rows = train(cfg, tmp_path / "ctl", log=quiet, progress=False)
    task = get_task(cfg.task.name, **cfg.task.params)
    _, heldout = task.split(cfg.task.split_seed, cfg.task.heldout_size)
    rate = base_evaluation(cfg, cfg.model.path, task, heldout, log=quiet)["avg_at_k"]
    assert read_json(tmp_path / "ctl" / "config.json")["reward_control"] == {"kind": "bernoulli", "rate": rate}
    B, G = cfg.train.prompts_per_step, cfg.train.group_size
    for row in rows:
        draws = np.random.default_rng(derived_seed(cfg.seed, row["step"], "reward-control")).random((B, G)) < rate
        assert row["reward_mean"] == float(draws.mean())
    # correct_rate stays the task's judgement of the same completions
    gens = generations(tmp_path / "ctl")
    for row in rows:
        step = [g["correct"] for g in gens if g["step"] == row["step"]]
        assert row["correct_rate"] == float(np.mean(step))


def test_heldout_curve_every_n_steps_resumes_without_a_step_twice(tmp_path, tiny_run_config, monkeypatch,
                                                                  crash_after_checkpoint):
    from textrl.summary import summarize_run

    data = {**tiny_run_config, "train": {**tiny_run_config["train"], "steps": 5, "checkpoint_every": 2},
            "eval": {**tiny_run_config.get("eval", {}), "every": 2, "curve_size": 8}}
    cfg = load_run_config(data)
    train(cfg, tmp_path / "a", log=quiet, progress=False)
    whole = read_jsonl(tmp_path / "a" / "eval_curve.jsonl")
    assert [r["step"] for r in whole] == [0, 2, 4, 5]  # the untrained policy, every 2 steps, the last step
    assert all(r["n"] == 8 and r["k"] == cfg.eval.k and 0 <= r["avg_at_k"] <= 1 for r in whole)

    # killed right after the step-4 checkpoint (its held-out point already written), then rerun
    crash_after_checkpoint(4)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "b", log=quiet, progress=False)
    monkeypatch.undo()
    assert [r["step"] for r in read_jsonl(tmp_path / "b" / "eval_curve.jsonl")] == [0, 2, 4]
    train(cfg, tmp_path / "b", log=quiet, progress=False)
    resumed = read_jsonl(tmp_path / "b" / "eval_curve.jsonl")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "eval_s"} for r in rows]  # noqa: E731
    assert strip(resumed) == strip(whole)

    from textrl.evaluate import evaluate_run

    evaluate_run(tmp_path / "b", log=quiet)
    points = [(r["step"], r["avg_at_k"]) for r in whole]
    area = sum((s1 - s0) * (a0 + a1) / 2 for (s0, a0), (s1, a1) in zip(points, points[1:])) / 5
    assert summarize_run(tmp_path / "b")["endpoints"]["heldout_auc"] == pytest.approx(area)


def test_one_writer_per_run_directory(tmp_path, tiny_run_config):
    from textrl.errors import ConfigError
    from textrl.evaluate import evaluate_run
    from textrl.run_lock import run_lock

    cfg = load_run_config(tiny_run_config)
    with run_lock(tmp_path, "textrl train"):  # as a second trainer left running by a killed Snakemake
        with pytest.raises(ConfigError, match=r"`textrl train` \(pid \d+ on .*\) is already writing this run directory"):
            train(cfg, tmp_path, log=quiet, progress=False)
        with pytest.raises(ConfigError, match="is already writing this run directory"):
            evaluate_run(tmp_path, log=quiet)
    assert not (tmp_path / "metrics.jsonl").exists()
    assert train(cfg, tmp_path, log=quiet, progress=False)  # the lock died with its holder


def test_a_resume_never_leaves_a_hole_in_the_metrics(tmp_path, tiny_run_config):
    from textrl.errors import ConfigError

    cfg = load_run_config({**tiny_run_config, "train": {**tiny_run_config["train"], "steps": 4, "checkpoint_every": 2}})
    train(cfg, tmp_path, log=quiet, progress=False)
    state = tmp_path / "checkpoint" / "state.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "step": 2}))  # as if killed after step 3
    metrics = tmp_path / "metrics.jsonl"
    lines = metrics.read_text().splitlines(keepends=True)
    metrics.write_text(lines[0] + "{not json}\n" + "".join(lines[2:]))  # corruption, not a torn tail
    with pytest.raises(ConfigError, match=r"metrics\.jsonl: line 2 is not valid JSON, and it is a complete line"):
        train(cfg, tmp_path, log=quiet, progress=False)
    metrics.write_text(lines[0] + "".join(lines[2:]))  # step 2 lost
    with pytest.raises(ConfigError, match=r"metrics\.jsonl: holds 1 of the 2 steps before the checkpoint"):
        train(cfg, tmp_path, log=quiet, progress=False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_process_that_asked_to_die_with_its_parent_ends_after_a_hard_kill_of_the_parent(tmp_path):
    """What `textrl train --die-with-parent` (as the Snakefile starts it) does after `kill -9` of Snakemake."""
    pid_file = tmp_path / "pid"
    child = (f"import os, time\nfrom textrl.lifetime import die_with_parent\ndie_with_parent()\n"
             f"open({str(pid_file)!r} + '.tmp', 'w').write(str(os.getpid()))\n"
             f"os.replace({str(pid_file)!r} + '.tmp', {str(pid_file)!r})\ntime.sleep(60)\n")
    parent = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {child!r}])\ntime.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", parent])
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child_pid = int(pid_file.read_text())

    def running(pid):
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    assert running(child_pid)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while running(child_pid):
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.05)


def test_dynamic_sampling_trains_on_varied_groups_and_counts_the_extra_tokens(tmp_path, tiny_run_config):
    plain = train(load_run_config(tiny_run_config), tmp_path / "a", log=quiet, progress=False)
    cfg = {**tiny_run_config, "advantage": {**tiny_run_config["advantage"], "dynamic_sampling": {"rounds": 2}}}
    rows = train(load_run_config(cfg), tmp_path / "b", log=quiet, progress=False)
    again = train(load_run_config(cfg), tmp_path / "c", log=quiet, progress=False)
    assert [strip_timing(r) for r in rows] == [strip_timing(r) for r in again]
    assert all(set(r) - set(plain[0]) == {"dynamic_sampling_rounds", "groups_trained"} for r in rows)
    # the step's own prompts and rollouts are the same: what is logged of them does not change
    assert [r["reward_mean"] for r in rows][:1] == [r["reward_mean"] for r in plain][:1]
    refilled = [r for r in rows if r["dynamic_sampling_rounds"] > 0]
    assert refilled and rows[-1]["tokens_generated"] > plain[-1]["tokens_generated"]
