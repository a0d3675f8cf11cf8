"""Malformed campaign specs are rejected with one ConfigError naming the field, before anything runs."""

import copy

import pytest

from textrl.campaign import expand_runs, load_spec
from textrl.errors import ConfigError

GOOD = {
    "name": "t",
    "arms": [
        {"name": "grpo", "advantage": {"preset": "grpo"}, "lr": 3e-5},
        {"name": "full", "advantage": {"preset": "full"}, "lr": 3e-5},
    ],
    "seeds": 2,
    "group_sizes": [4],
}


def spec_with(path: str, value, base=GOOD) -> dict:
    """GOOD with one field (dotted path, list indexes as numbers) set, or deleted when value is DELETE."""
    spec = copy.deepcopy(base)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = spec
    for p in parents:
        node = node.setdefault(p, {}) if isinstance(p, str) else node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return spec


DELETE = object()

CASES = [
    # (field to break, bad value, text the message must contain)
    ("name", DELETE, "name: required"),
    ("name", "a/b", "name:"),
    ("arms", DELETE, "arms: required"),
    ("arms", [GOOD["arms"][0]], "arms: expected at least two arms"),
    ("arms.1.name", "grpo", "arm names must be distinct"),
    ("arms.0.name", "my-arm", "arms[0].name"),
    ("arms.0.advantage", {"preset": "nope"}, "arms[0].advantage.preset: unknown preset 'nope'"),
    ("arms.1.advantage", {"scale": "none"}, "arms[1].advantage: expected a mapping with a 'preset' or an 'episode'"),
    ("arms.1.advantage", {"preset": "full", "gtpo": {"beta": -1}}, "arms[1].advantage.gtpo.beta"),
    ("arms.0.lr", -1e-5, "arms[0].lr"),
    ("arms.0.lr", "fast", "arms[0].lr"),
    ("arms.0.lr", [], "arms[0].lr"),
    ("arms.0.lr", "from_sweep", "arms[0].lr: is 'from_sweep' but the spec has no sweep section"),
    ("arms.0.loss", {"eps_low": 2.0}, "arms[0].loss.eps_low"),
    ("arms.0.loss", {"kind": "dpo"}, "arms[0].loss.kind"),
    ("arms.0.colour", "red", "arms[0].colour: unknown field"),
    ("seeds", [], "seeds: expected at least one seed"),
    ("seeds", 0, "seeds: expected a positive count"),
    ("seeds", [1, 1], "seeds: seeds must be distinct"),
    ("seeds", "five", "seeds:"),
    ("seeds", {"per_stage": 5}, "seeds.max_stages: required field is missing"),
    ("seeds", {"per_stage": 1, "max_stages": 3}, "seeds.per_stage: expected an integer >= 2, got 1"),
    ("seeds", {"per_stage": 5, "max_stages": 3, "first": 7}, "seeds.first: unknown field"),
    ("analysis.sequential", {"spending": "pocock"}, "analysis.sequential: is given but seeds is a fixed count"),
    ("analysis.comparisons", "everything", "analysis.comparisons"),
    ("group_sizes", [1, 4], "group_sizes: each group size must be >= 2"),
    ("group_sizes", [], "group_sizes: expected at least one group size"),
    ("group_sizes", "8", "group_sizes"),
    ("task.name", "chess", "task.name: unknown task 'chess'"),
    ("task.heldout_size", 0, "task.heldout_size"),
    ("task.heldout_size", 10**6, "task.heldout_size: 1000000 leaves no training problems; 'arithmetic' has at most"),
    ("model", "./no/such/dir", "model:"),
    ("backend", "jax", "backend"),
    ("training.steps", "many", "training.steps"),
    ("training.stepz", 10, "training.stepz: unknown field (expected one of: steps,"),
    ("training.top_p", 1.5, "training.top_p"),
    ("training.lr_schedule", "warmup", "training.warmup_steps"),
    ("evaluation.k", 0, "evaluation.k"),
    ("analysis.alpha", 1.5, "analysis.alpha"),
    ("analysis.primary", "accuracy", "analysis.primary"),
    ("analysis.baseline", "ppo", "analysis.baseline: unknown arm 'ppo'"),
    ("analysis.candidate", "grpo", "analysis.candidates: must not include the baseline arm"),
    ("analysis.candidates", ["full", "ppo"], "analysis.candidates: unknown arm 'ppo'"),
    ("analysis.candidates", [], "analysis.candidates: is empty"),
    ("analysis.correction", "fdr", "analysis.correction"),
    ("wandb.mode", "loud", "wandb.mode"),
    ("sweep", {"probe_steps": 10}, "sweep.lrs: required"),
    ("sweep", {"lrs": [1e-5]}, "sweep: is given but no arm has lr: from_sweep"),
    ("resources.threads", 0, "resources.threads"),
    ("resources.gpus", 1, "resources.gpus: unknown field"),
    ("backend", "tinker", "model: backend tinker needs a hub id"),
    ("tinker", {"lora_rank": 8}, "tinker: settings are only used with backend: tinker"),
    # values that pass a type check but could never train, refused before anything is built
    ("seeds", 10**9, "seeds: expected at most 10,000 seeds, got 1,000,000,000"),
    ("training.prompts_per_step", 10**12, "training.prompts_per_step: expected a positive integer up to 65,536"),
    ("group_sizes", [10**9], "group_sizes: each group size must be at most 4,096"),
    ("training.max_tokens", 10**9, "training.max_tokens: expected a positive integer up to 1,048,576"),
    ("training.kl_coef", float("inf"), "training.kl_coef: expected a finite number, got inf"),
    ("arms.0.lr", float("inf"), "arms[0].lr: expected a positive number"),
    ("name", "smoke\n", "name: expected letters, digits"),
    ("arms.0.name", "grpo\n", "arms[0].name: expected letters, digits"),
    # a spec's module:function is called at plan time: never a standard-library function
    ("task.name", "os:system", "task.name: 'os:system': 'os' is a Python standard-library module, not a plug-in"),
    ("arms.1.advantage", {"episode": "subprocess:call"}, "'subprocess' is a Python standard-library module"),
]


@pytest.mark.parametrize("path,value,expected", CASES, ids=[f"{c[0]}={c[1]!r}"[:60] for c in CASES])
def test_malformed_spec_is_rejected_naming_the_field(path, value, expected):
    with pytest.raises(ConfigError) as err:
        load_spec(spec_with(path, value))
    assert expected in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_table_is_big_enough_and_the_base_spec_is_valid():
    assert len(CASES) >= 20
    spec = load_spec(GOOD)
    assert len(expand_runs(spec)) == 4


def test_maxrl_next_to_a_reward_that_can_go_negative_is_refused_before_compute():
    arms = [{"name": "grpo", "advantage": {"preset": "grpo"}}, {"name": "full", "advantage": {"preset": "full"}}]
    spec = {"name": "t", "arms": arms, "seeds": 2, "group_sizes": [4],
            "task": {"name": "arithmetic", "rewards": {"length_penalty": 0.1}}}
    with pytest.raises(ConfigError) as err:
        load_spec(spec)
    assert ("arm 'full': arms[1].advantage: MaxRL needs rewards >= 0, but task.rewards 'length_penalty' "
            "(weight 0.1, values in [-inf, 0])") in str(err.value)
    arms[1]["advantage"] = {"preset": "full", "episode": "grpo"}  # the fix the message names
    assert load_spec(spec).candidate_arms == ["full"]
    spec["task"]["rewards"] = {"exact_match": 0.5}  # bounded in [0, 1]: fine for MaxRL
    arms[1]["advantage"] = {"preset": "full"}
    assert load_spec(spec).candidate_arms == ["full"]


def test_sweep_without_lrs_list_is_rejected():
    spec = spec_with("arms.1.lr", "from_sweep")
    spec["sweep"] = {"lrs": []}
    with pytest.raises(ConfigError, match=r"sweep\.lrs: expected at least one learning rate"):
        load_spec(spec)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="no_such.yaml: file not found"):
        load_spec(tmp_path / "no_such.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_spec(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="list.yaml: expected a mapping"):
        load_spec(listy)
    twice = tmp_path / "twice.yaml"
    twice.write_text("name: a\nseeds: 3\nseeds: 5\n")
    with pytest.raises(ConfigError, match=r"twice.yaml: not valid YAML \(.*key 'seeds' appears twice \(line 3\)"):
        load_spec(twice)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.yaml: not UTF-8 text \(byte 9 is 0xe9\); save it as UTF-8"):
        load_spec(latin)


def test_plan_command_rejects_a_bad_spec_before_writing_anything(tmp_path):
    from textrl.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\narms: []\n")
    assert main(["plan", str(bad), "--out", str(tmp_path / "results")]) == 2
    assert not (tmp_path / "results").exists()


def test_docs_campaigns_md_documents_every_field_as_the_code_does():
    from textrl.campaign.reference import DOC, render, rows

    page = DOC.read_text()
    assert render(page) == page, "docs/campaigns.md is stale: run python -m textrl.campaign.reference --write"
    assert len(rows()) > 60 and all(desc for _, desc in rows())


def test_a_control_arm_is_not_a_default_candidate_and_cannot_be_the_baseline():
    arms = [*GOOD["arms"], {"name": "noise", "advantage": {"preset": "grpo"}, "control": "bernoulli"}]
    spec = load_spec({**GOOD, "arms": arms})
    assert spec.candidate_arms == ["full"]
    controls = {r.arm: r.config["reward_control"] for r in expand_runs(spec)}
    assert controls == {"grpo": None, "full": None, "noise": {"kind": "bernoulli", "rate": None}}
    with pytest.raises(ConfigError, match="analysis.baseline: 'noise' is a control arm"):
        load_spec({**GOOD, "arms": arms, "analysis": {"baseline": "noise"}})
    with pytest.raises(ConfigError, match=r"arms\.2\.control|arms\[2\]\.control|control"):
        load_spec({**GOOD, "arms": [*GOOD["arms"], {**arms[2], "control": "shuffle"}]})
