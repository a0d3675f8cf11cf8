"""Run configuration: defaults, and one clear message per user mistake before any model is loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from textrl.config import RunConfig, load_run_config
from textrl.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_defaults_match_the_contract():
    cfg = load_run_config({}).to_dict()
    assert cfg["train"] == {"steps": 1000, "prompts_per_step": 8, "group_size": 8, "lr": 3.0e-5, "lr_schedule": "constant",
                            "warmup_steps": 0, "weight_decay": 0.0, "grad_clip": 1.0, "lora": None,
                            "checkpoint_every": 50, "log_generations": True}
    assert cfg["loss"] == {"kind": "grpo", "eps_low": 0.2, "eps_high": 0.28, "aggregation": "token-mean",
                           "kl_coef": 0.0, "entropy_coef": 0.0, "epochs": 1, "target_kl": None}
    assert cfg["sampling"] == {"temperature": 1.0, "top_p": 1.0, "max_tokens": 8, "stop": []}
    assert cfg["model"] == {"path": "tiny", "chat_template": "auto", "warm_start_acc": None}
    assert cfg["advantage"] == {"preset": "grpo"}


def test_every_field_documents_its_default():
    def walk(model):
        for name, field in model.model_fields.items():
            yield model.__name__, name, field
            ann = field.annotation
            for sub in getattr(ann, "__args__", (ann,)):
                if isinstance(sub, type) and hasattr(sub, "model_fields"):
                    yield from walk(sub)

    undocumented = [f"{m}.{n}" for m, n, f in walk(RunConfig)
                    if not f.description or ("default" not in f.description and not hasattr(f.annotation, "model_fields"))]
    assert undocumented == []


@pytest.mark.parametrize("data,message", [
    ({"train": {"steps": "abc"}}, "run config train.steps: expected a positive integer, got 'abc'"),
    ({"sampling": {"max_tokens": 0}}, "run config sampling.max_tokens: expected a positive integer up to 1,048,576, got 0"),
    ({"loss": {"kind": "reinforce", "epochs": 2}}, "run config loss.epochs: reinforce is on-policy and takes exactly 1 epoch, got 2"),
    ({"eval": {"max_tokens": -2}}, "run config eval.max_tokens: expected a positive integer or null, got -2"),
    ({"sampling": {"top_p": 1.5}}, "run config sampling.top_p: expected a number > 0 and <= 1, got 1.5"),
    ({"loss": {"kind": "dpo"}}, "run config loss.kind: expected one of 'grpo', 'gspo', 'reinforce', 'ppo', 'cispo', got 'dpo'"),
    ({"train": {"stpes": 3}}, "run config train.stpes: unknown field"),
    ({"task": {"name": "no_such_task"}}, "unknown task 'no_such_task'"),
    ({"model": {"path": "/no/such/model"}}, "run config model.path: '/no/such/model' is not 'tiny', an existing"),
    ({"model": {"path": "gpt"}}, "run config model.path: 'gpt' is not 'tiny'"),
    ({"train": {"lr_schedule": "warmup"}}, "run config train.warmup_steps: expected a positive integer when lr_schedule"),
    ({"advantage": {"preset": "nope"}}, "advantage"),
])
def test_bad_values_raise_one_clear_message(data, message):
    with pytest.raises(ConfigError) as err:
        load_run_config(data)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_message_names_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  steps: abc\n")
    with pytest.raises(ConfigError, match=rf"^{path}: run config train.steps: expected a positive integer, got 'abc'$"):
        load_run_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_run_config(tmp_path / "missing.yaml")


def test_existing_dir_and_hub_ids_are_accepted(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert load_run_config({"model": {"path": str(tmp_path)}}).model.path == str(tmp_path)
    assert load_run_config({"model": {"path": "Qwen/Qwen3-0.6B"}}).model.path == "Qwen/Qwen3-0.6B"
    with pytest.raises(ConfigError, match="without config.json"):
        load_run_config({"model": {"path": str(tmp_path / '..')}})


def test_cli_stops_before_loading_any_model(tmp_path):
    """`textrl train` with a bad config: exit 2, one line on stderr, mlx never imported, nothing written."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model: {path: /no/such/model}\nsampling: {max_tokens: 4}\n")
    probe = (
        "import sys; from textrl.cli import main; rc = main(['train', sys.argv[1], '--out', sys.argv[2]]); "
        "print('MLX_LOADED' if 'mlx.core' in sys.modules else 'NO_MLX'); sys.exit(rc)"
    )
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", probe, str(cfg), str(out)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout.strip() == "NO_MLX"
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"textrl train: error: {cfg}: run config model.path: '/no/such/model' is not 'tiny', "
                     "an existing mlx-lm directory, or a hub id like org/name"]
    assert not out.exists()


def test_run_config_json_written_by_train_loads_back(tmp_path):
    record = {"run": RunConfig(seed=3).to_dict(), "versions": {}}
    (tmp_path / "config.json").write_text(json.dumps(record))
    assert load_run_config(tmp_path / "config.json").seed == 3


@pytest.mark.parametrize("data,message", [
    ({"train": {"lr": float("inf")}}, "run config train.lr: expected a finite number, got inf"),
    ({"loss": {"kl_coef": float("inf")}}, "run config loss.kl_coef: expected a finite number, got inf"),
    ({"train": {"group_size": 1}}, "run config train.group_size: expected an integer >= 2"),
    ({"train": {"prompts_per_step": 10**12}}, "run config train.prompts_per_step: expected a positive integer up to 65,536"),
])
def test_values_that_cannot_train_are_refused(data, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_run_config(data)


@pytest.mark.parametrize("text,message", [
    (b"", "the file is empty"),
    (b"# only a comment\n", "the file holds no fields"),
    (b"train: {steps: 3}\ntrain: {steps: 4}\n", "key 'train' appears twice"),
    (b"seed: 1\nrun_id: caf\xe9\n", "not UTF-8 text (byte 19 is 0xe9)"),
])
def test_run_config_files_a_user_can_get_wrong(tmp_path, text, message):
    path = tmp_path / "run.yaml"
    path.write_bytes(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_run_config(path)


def test_a_duplicated_json_key_is_refused_and_json_numbers_stay_numbers(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"train": {"lr": 1e-05, "lr": 2e-05}}')
    with pytest.raises(ConfigError, match="key 'lr' appears twice"):
        load_run_config(path)
    path.write_text('{"train": {"lr": 1e-05}}')
    assert load_run_config(path).train.lr == 1e-05


def test_an_alias_bomb_gives_a_short_message(tmp_path):
    lines = ['a: &a ["xxxxxxxxxx"]'] + [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]"
                                        for p, c in zip("abcdefgh", "bcdefghi")]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\ntrain: {steps: *i}\n")
    with pytest.raises(ConfigError) as err:
        load_run_config(path)
    assert "train.steps" in str(err.value) and len(str(err.value)) < 500


def test_a_hub_model_that_cannot_be_fetched_is_one_line(tmp_path):
    from textrl.engine.factory import load_model as _load

    def offline(path):
        raise FileNotFoundError("Got: ConnectError: [Errno -2] Name or service not known\nAn error happened ...")

    with pytest.raises(ConfigError, match=r"^run config model\.path: cannot fetch 'Qwen/Qwen3-0\.6B' from the Hugging "
                                          r"Face hub \(FileNotFoundError: Got: ConnectError"):
        _load(offline, "Qwen/Qwen3-0.6B")
    with pytest.raises(FileNotFoundError):  # a local directory's own problem is not a network problem
        _load(offline, tmp_path)
