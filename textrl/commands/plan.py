"""`textrl plan SPEC`: the runs a campaign will train, their compute, wall time and a power preview.

Writes results/<name>/plan.json and spec.resolved.yaml. Unlike `snakemake -n`, the plan also lists the
runs whose learning rate the sweep phase has not picked yet.
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="campaign spec YAML, e.g. campaigns/ab.yaml")
    parser.add_argument("--out", default="results", help="results root; the plan goes to OUT/<name>/ (default results)")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                        help="cores Snakemake will get, for the wall-time estimate (default: this machine's)")
    parser.add_argument("--runs", action="store_true", help="list every run id, not one line per arm x G x lr")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write plan.json")


def _seeds(seeds: list[int]) -> str:
    """0,1,2,3,7 -> 0-3,7"""
    parts = []
    for _, grp in itertools.groupby(enumerate(sorted(seeds)), key=lambda t: t[1] - t[0]):
        vals = [v for _, v in grp]
        parts.append(str(vals[0]) if len(vals) == 1 else f"{vals[0]}-{vals[-1]}")
    return ",".join(parts)


def _lr(lr) -> str:
    return "from sweep" if isinstance(lr, str) else format(lr, "g")


def _group_lines(runs, kind: str) -> list[str]:
    lines = [f"  {'arm':<14} {'G':>4} {'lr':>10} {'steps':>6} {'runs':>5}  seeds"]
    order = {r.arm: i for i, r in enumerate(runs)}

    def key(r):
        return order[r.arm], r.group_size, r.lr if isinstance(r.lr, float) else float("inf")

    for (_, g, _), grp in itertools.groupby(sorted(runs, key=key), key=key):
        grp = list(grp)
        lines.append(f"  {grp[0].arm:<14} {g:>4} {_lr(grp[0].lr):>10} {grp[0].config['train']['steps']:>6} "
                     f"{len(grp):>5}  {_seeds([r.seed for r in grp])}")
    return [f"{kind}:"] + lines


def _arm_lines(spec, runs) -> list[str]:
    """Per arm, exactly what its resolved run config changes from the baseline arm's."""
    from textrl.config import arm_difference

    base = {(r.group_size, r.seed): r.config for r in runs if r.arm == spec.baseline_arm}
    lines, seen = [f"what each arm changes from the baseline {spec.baseline_arm} (resolved run configs):"], set()
    for r in runs:
        if r.arm == spec.baseline_arm or r.arm in seen or (r.group_size, r.seed) not in base:
            continue
        seen.add(r.arm)
        items = arm_difference(base[(r.group_size, r.seed)], r.config)
        lines.append(f"  {r.arm}: {'; '.join(items) or 'nothing: the same runs as the baseline (an A/A arm)'}")
    return lines + [""] if seen else []


def render(spec, runs, probes, compute, preview, sequential=None) -> str:
    from textrl.campaign.estimate import format_duration

    def n(count, noun):
        return f"{count} {noun}{'' if count == 1 else 's'}"

    out = [f"campaign {spec.name}: task {spec.task.name}, model {spec.model.path}, backend {spec.backend}",
           f"  {n(len(spec.arms), 'arm')} x {n(len(spec.group_sizes), 'group size')} x {n(len(spec.seed_list), 'seed')}"
           + (" x lrs" if any(isinstance(a.lr, list) for a in spec.arms) else "")
           + f" = {len(runs)} training runs" + (f", plus {len(probes)} LR probe runs" if probes else ""), ""]
    if probes:
        sw = spec.sweep
        out += _group_lines(probes, f"LR probes ({sw.probe_steps} steps, best lr per arm by {sw.metric})") + [""]
    out += _group_lines(runs, "training runs") + [""]
    if probes:
        swept = sorted({r.arm for r in runs if isinstance(r.lr, str)})
        out += [f"  lr 'from sweep' ({', '.join(swept)}): chosen after the probes; snakemake -n lists these runs "
                "with the lr still open", ""]
    cands = spec.candidate_arms
    out += _arm_lines(spec, runs)
    if spec.stages is None and spec.analysis.comparisons == "all_pairs":
        pairs = spec.comparison_pairs
        out += [f"comparisons: all pairs ({', '.join(f'{b} vs {a}' for a, b in pairs)}), at each group size "
                f"({', '.join(map(str, spec.group_sizes))}): {len(pairs)} pair(s), one primary family, "
                f"{spec.analysis.correction} across all of its tests", ""]
    elif spec.stages is None:
        out += [f"comparisons: {', '.join(cands)} vs baseline {spec.baseline_arm}, at each group size "
                f"({', '.join(map(str, spec.group_sizes))}): {len(cands)} candidate(s), one primary family, "
                f"{spec.analysis.correction} across all of its tests", ""]
    else:
        out += [f"comparisons: {', '.join(spec.sequential_family)} vs baseline {spec.baseline_arm}, at each group "
                f"size ({', '.join(map(str, spec.group_sizes))}): one sequential family (negative controls included: "
                "a control decided early needs no more seeds)", ""]
    out += [
        "compute:",
        f"  training completions {compute.train_completions:,} (at most {compute.train_tokens_max:,} tokens)",
        f"  held-out completions {compute.eval_completions:,}",
        f"  estimated wall time  {format_duration(compute.wall_s)} with {compute.parallel_jobs} job(s) at a time"
        + (" (stored tiny-model benchmark)" if compute.wall_s is not None else
           " (no stored benchmark for this model/backend)"),
        "",
    ]
    if preview is not None:
        p = preview
        out += [
            f"power preview for {p.endpoint}, a planning estimate (ASSUMPTION: between-seed SD {p.prior_sd:g}, "
            "from power_preview.prior_sd):",
            f"  {p.n_per_arm} seeds per arm, {p.n_tests} test(s) ({p.correction}), alpha {p.alpha:g}, "
            f"{'paired' if p.paired else 'Welch'}, power {p.power:g}",
            f"  minimum detectable effect {p.mde:.4f}"
            f"  ({p.mde_at_sd_upper:.4f} if the SD is at its 95% upper bound {p.sd_upper:.4f} for {p.n_per_arm} seeds)",
        ]
        if p.effect_of_interest is not None:
            out.append(f"  seeds per arm to detect {p.effect_of_interest:g}: {p.seeds_needed}")
    if sequential is not None:
        q, t = sequential, spec.sequential_test
        eff = spec.analysis.effect_of_interest or 0.0
        out += [
            f"sequential seeds: stages of {q.per_stage} seeds per arm and group size, at most {q.stages} stages; after "
            f"each, the {t.method} test ({t.spending} spending, alpha {spec.analysis.alpha:g} over "
            f"{len(spec.sequential_family) * len(spec.group_sizes)} comparisons) decides or adds a stage",
            f"  at most {q.max_runs} training runs (the compute and wall time above are this maximum); snakemake -n "
            "shows stage 1 and the interim, later stages appear as interims decide",
            f"  expected, by {q.simulations} simulations at the ASSUMED SD {spec.power_preview.prior_sd:g} "
            f"({q.n_permutations} permutations each; negative controls simulated as no different):",
            f"    no effect:          {q.runs_no_effect:.1f} runs, {q.stages_no_effect:.2f} stages",
            f"    candidates {eff:+g}:  {q.runs_effect:.1f} runs, {q.stages_effect:.2f} stages; power {q.power:.2f} "
            "(share of candidate comparisons found better)",
        ]
    return "\n".join(out)


def finished_runs_that_change(campaign_dir: Path, runs) -> list[tuple[str, list[str]]]:
    """(run id, changed settings) of each finished run whose recorded config differs from its new plan entry."""
    from analysis.run_state import planned_vs_trained
    from textrl.io import read_json

    out = []
    for r in runs:
        run_dir = campaign_dir / "runs" / r.run_id
        if not (run_dir / "summary.json").is_file():
            continue
        try:
            config = read_json(run_dir / "config.json")
        except (OSError, ValueError):
            continue
        changed = planned_vs_trained(r.as_plan_entry(), config)
        if changed:
            out.append((r.run_id, changed))
    return out


def run(args: argparse.Namespace) -> int:
    from textrl.campaign import expand_probes, expand_runs, load_spec, write_plan
    from textrl.campaign.estimate import estimate
    from textrl.campaign.preview import power_preview, sequential_preview

    spec = load_spec(args.spec)
    runs, probes = expand_runs(spec, args.out), expand_probes(spec, args.out)
    compute = estimate(spec, runs, probes, args.cores)
    sequential = sequential_preview(spec)
    # a sequential design's seeds are not fixed: its own preview replaces the fixed-seed power figures
    print(render(spec, runs, probes, compute, None if sequential else power_preview(spec), sequential))
    if args.runs:
        print("\nrun ids:")
        print("\n".join(f"  {r.run_id}  lr={_lr(r.lr)}  {r.config_hash}" for r in probes + runs))
    retrained = finished_runs_that_change(Path(args.out) / spec.name, runs)
    if retrained:
        shown = "; ".join(f"{run_id} ({', '.join(changed[:3])})" for run_id, changed in retrained[:5])
        print(f"\nnote: {len(retrained)} finished run(s) were trained with other settings than this plan's: {shown}"
              f"{f' and {len(retrained) - 5} more' if len(retrained) > 5 else ''}. The next campaign run moves each aside (<run>.stale-<time>) "
              "and trains it again; until then `textrl status` and the report list them as stale. To keep them, "
              "restore the spec they were planned from.")
    if not args.no_write:
        out = write_plan(spec, args.out)
        print(f"\nwrote {out / 'plan.json'} and {out / 'spec.resolved.yaml'}")
    return 0
