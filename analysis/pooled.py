"""Reading several campaigns together (`textrl compare results/a results/b ...`): finished runs are
matched by arm, task, group size and resolved config, pooled across campaigns only where those are
identical, and every candidate is compared with the baseline at each (task, group size), Holm-corrected
over the whole family.

A run's identity is its config.json "run" without what differs between seeds and campaigns of the same
experiment (run_id, arm, seed, campaign, wandb) and with the built-in model's directory replaced by its
build key (each campaign builds its own copy of the same model). Two runs of one identity and one seed
are the same run trained twice: it counts once. An arm whose runs have two identities is not pooled:
each identity becomes its own group, named arm@campaign, and the report says which settings differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.compare import adjust, primary_test
from analysis.load import load_campaign
from analysis.verdict import verdict
from textrl.config import changed_settings
from textrl.errors import ConfigError
from textrl.io import atomic_write_json, atomic_write_text, stable_hash

NOT_IDENTITY = ("run_id", "arm", "seed", "campaign", "wandb")


@dataclass
class PooledGroup:
    arm: str
    task: str
    group_size: int
    identity: str
    config: dict
    name: str = ""                      # the arm, or arm@campaign when the arm was not pooled
    campaigns: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    tokens: list[float] = field(default_factory=list)  # generated tokens per run: what an arm spent
    wall_s: list[float] = field(default_factory=list)


def run_identity(config: dict) -> dict:
    """The settings that make two runs the same experiment (see the module docstring)."""
    ident = {k: v for k, v in config.items() if k not in NOT_IDENTITY}
    model = dict(ident.get("model") or {})
    build = Path(str(model.get("path", ""))) / "build.json"
    if build.is_file():
        model["path"] = "built:" + str(json.loads(build.read_text()).get("key"))
    ident["model"] = model
    return ident


def pool(campaign_dirs: list[str | Path], endpoint: str) -> tuple[list[PooledGroup], list[str]]:
    """The pooled groups of the campaigns' finished runs, and notes on what was pooled or not."""
    groups: dict[tuple, PooledGroup] = {}
    notes: list[str] = []
    seen: dict[tuple, str] = {}
    for d in campaign_dirs:
        c = load_campaign(d)
        for row in c.done.itertuples():
            record = c.configs.get(row.run_id) or {}
            config = record.get("run") if isinstance(record, dict) else None
            value = getattr(row, endpoint)
            if not isinstance(config, dict) or pd.isna(value):
                notes.append(f"{c.name}/{row.run_id}: no config.json or no {endpoint}: left out")
                continue
            ident = run_identity(config)
            task = str((config.get("task") or {}).get("name"))
            key = (row.arm, task, int(row.group_size), stable_hash(ident))
            if (key, row.seed) in seen:
                notes.append(f"{c.name}/{row.run_id}: the same config and seed as {seen[key, row.seed]}: counted once")
                continue
            seen[key, row.seed] = f"{c.name}/{row.run_id}"
            g = groups.setdefault(key, PooledGroup(row.arm, task, int(row.group_size), key[3], ident))
            if c.name not in g.campaigns:
                g.campaigns.append(c.name)
            g.seeds.append(int(row.seed))
            g.values.append(float(value))
            g.tokens.append(float(row.tokens_generated))
            g.wall_s.append(float(row.wall_s))
    by_arm: dict[tuple, list[PooledGroup]] = {}
    for g in groups.values():
        by_arm.setdefault((g.arm, g.task, g.group_size), []).append(g)
    for (arm, task, size), same in by_arm.items():
        for g in same:
            g.name = arm if len(same) == 1 else f"{arm}@{'+'.join(g.campaigns)}"
        if len(same) > 1:
            first = same[0]
            for other in same[1:]:
                diff = [f"{k} {a!r} vs {b!r}" for k, a, b in changed_settings(first.config, other.config)]
                notes.append(f"not pooled: {arm} on {task} at G={size} in {', '.join(first.campaigns)} and in "
                             f"{', '.join(other.campaigns)} ran other configs ({'; '.join(diff[:4])}): kept apart")
        elif len(same[0].campaigns) > 1:
            notes.append(f"pooled: {arm} on {task} at G={size} from {', '.join(same[0].campaigns)} "
                         f"({len(same[0].values)} seeds, identical configs)")
    return list(groups.values()), notes


def compare_campaigns(campaign_dirs: list[str | Path], baseline: str | None = None, endpoint: str = "avg_at_k",
                      alpha: float = 0.05, correction: str = "holm") -> dict:
    """The pooled comparison document: groups, notes, and every candidate group vs the baseline."""
    if len(campaign_dirs) < 2:
        raise ConfigError("textrl compare: expected at least two campaign directories")
    for d in campaign_dirs:
        if not (Path(d) / "plan.json").is_file():
            raise ConfigError(f"{d}: no plan.json; expected a campaign results directory such as results/ab")
    groups, notes = pool(campaign_dirs, endpoint)
    if baseline is None:
        baseline = load_campaign(campaign_dirs[0]).settings.baseline or (groups[0].arm if groups else None)
    comparisons = []
    cells = sorted({(g.task, g.group_size) for g in groups})
    for task, size in cells:
        here = [g for g in groups if (g.task, g.group_size) == (task, size)]
        base = [g for g in here if g.arm == baseline]
        if len(base) != 1:
            notes.append(f"{task} at G={size}: {len(base)} baseline groups of {baseline!r}; nothing compared there")
            continue
        for g in here:
            if g is base[0]:
                continue
            test = primary_test(pd.Series(base[0].values), pd.Series(g.values))
            comparisons.append({"task": task, "group_size": size, "baseline": base[0].name, "candidate": g.name,
                                **test})
    p_adj, significant = adjust([c["p"] for c in comparisons], alpha, correction)
    for c, p, s in zip(comparisons, p_adj, significant):
        c.update(p_adjusted=p, significant=s, n_tests=len(comparisons))
        c["verdict"] = f"{c['task']}, " + verdict(c, endpoint, alpha, correction)
    return {"campaigns": [str(d) for d in campaign_dirs], "endpoint": endpoint, "baseline": baseline,
            "alpha": alpha, "correction": correction, "notes": notes,
            "groups": [{"name": g.name, "arm": g.arm, "task": g.task, "group_size": g.group_size,
                        "identity": g.identity, "campaigns": g.campaigns, "seeds": sorted(g.seeds),
                        "n": len(g.values), "mean": sum(g.values) / len(g.values),
                        "tokens_generated_mean": _mean(g.tokens), "wall_s_mean": _mean(g.wall_s)} for g in groups],
            "comparisons": comparisons}


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v == v]
    return sum(finite) / len(finite) if finite else None


def _compact(x: float | None) -> str:
    return "" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def render(doc: dict) -> str:
    lines = [f"# Campaigns read together: {', '.join(Path(c).name for c in doc['campaigns'])}", "",
             f"Endpoint {doc['endpoint']}; baseline {doc['baseline']}; {doc['correction']} over "
             f"{len(doc['comparisons'])} comparison(s) at family-wise alpha {doc['alpha']:g}.", "",
             "## Groups", "",
             "A trick that wins only by spending more shows in the last two columns (means per run).", "",
             "| group | task | G | campaigns | seeds | mean | tokens generated | wall s |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {g['name']} | {g['task']} | {g['group_size']} | {', '.join(g['campaigns'])} | {g['n']} | "
              f"{g['mean']:.4f} | {_compact(g['tokens_generated_mean'])} | {_compact(g['wall_s_mean'])} |"
              for g in doc["groups"]]
    lines += ["", "## What was pooled", ""] + [f"- {n}" for n in doc["notes"] or ["nothing: each arm came from one campaign"]]
    lines += ["", "## Comparisons", ""] + [f"- {c['verdict']}" for c in doc["comparisons"]]
    return "\n".join(lines) + "\n"


def write_comparison(campaign_dirs: list[str | Path], out: str | Path, **kwargs) -> dict:
    doc = compare_campaigns(campaign_dirs, **kwargs)
    out = Path(out)
    atomic_write_json(out / "compare.json", doc)
    atomic_write_text(out / "compare.md", render(doc))
    return doc
