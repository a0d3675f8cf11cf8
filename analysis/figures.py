"""Report figures, drawn with matplotlib's object API (no pyplot state, no display needed).

Each function writes one PNG and returns its caption, or None when there is nothing to draw.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

DPI = 110
TOKEN_GRID = 120
MANY_ARMS = 4


def _colours(labels) -> dict:
    cycle = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    return {lab: cycle[i % len(cycle)] for i, lab in enumerate(labels)}


def _band(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over rows (seeds) and its 95 % t interval, column by column."""
    n = np.sum(~np.isnan(matrix), axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns with fewer than 2 seeds get no band
        mean = np.nanmean(matrix, axis=0)
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * np.nanstd(matrix, axis=0, ddof=1) / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)
    return mean, mean - half, mean + half


def smoothing_window(n_steps: int) -> int:
    return max(1, n_steps // 25)


def _base_line(ax, base: float | None, text: str = "base model") -> None:
    if base is not None and np.isfinite(base):
        ax.axhline(base, color="grey", lw=1.2, ls="--", zorder=1, label=f"{text} ({base:.3f})")


def learning_curves(curves: pd.DataFrame, labels: list[str], path: Path, x: str = "step",
                    metric: str = "reward_mean", base: float | None = None, heldout: bool = False) -> str | None:
    """One panel per group size, sharing the y axis. `heldout`: eval_curve.jsonl points, drawn unsmoothed."""
    d = curves.dropna(subset=[x, metric])
    if d.empty:
        return None
    sizes = sorted(d["group_size"].dropna().unique())
    colours = _colours(labels)
    fig = Figure(figsize=(5.2 * len(sizes), 3.8), dpi=DPI)
    axes = fig.subplots(1, len(sizes), squeeze=False, sharey=True)[0]
    fig.subplots_adjust(left=0.08 / len(sizes) + 0.04, right=0.98, bottom=0.14, top=0.9, wspace=0.25)
    window = 1 if heldout else smoothing_window(int(d["step"].max()))
    per_seed = len(labels) < MANY_ARMS  # with many arms, one thin line per seed buries the means
    seeds_note = "one thin line per seed" if per_seed else f"seed lines omitted with {len(labels)} arms"
    for ax, g in zip(axes, sizes):
        for label in labels:
            cell = d[(d["label"] == label) & (d["group_size"] == g)]
            if cell.empty:
                continue
            per_run = {rid: r.sort_values("step") for rid, r in cell.groupby("run_id")}
            smooth = {rid: r[metric].rolling(window, min_periods=1).mean().to_numpy() for rid, r in per_run.items()}
            for rid, r in per_run.items() if per_seed else ():
                ax.plot(r[x], smooth[rid], color=colours[label], lw=0.6, alpha=0.35)
            if x == "step":
                grid = np.sort(cell["step"].unique()).astype(float)
                mat = np.full((len(per_run), grid.size), np.nan)
                for i, (rid, r) in enumerate(per_run.items()):
                    mat[i, np.searchsorted(grid, r["step"].to_numpy(float))] = smooth[rid]
            else:  # runs reach different token counts at a step: compare on a common token grid
                top = min(r[x].max() for r in per_run.values())
                grid = np.linspace(0, top, TOKEN_GRID)
                mat = np.vstack([np.interp(grid, r[x].to_numpy(float), smooth[rid], left=np.nan)
                                 for rid, r in per_run.items()])
            mean, lo, hi = _band(mat)
            ax.plot(grid, mean, color=colours[label], lw=2, label=f"{label} (n={len(per_run)})")
            ax.fill_between(grid, lo, hi, color=colours[label], alpha=0.18, lw=0)
        _base_line(ax, base, "base model, held-out" if not heldout else "base model")
        ax.set_title(f"G = {int(g)}")
        ax.set_xlabel("training step" if x == "step" else "generated tokens (cumulative)")
        ax.set_ylabel(f"{metric} ({'held-out subset' if heldout else 'training'})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path)
    reference = " Dashed: the untrained base model." if base is not None else ""
    if heldout:
        n = int(d["step"].nunique())
        return (f"Held-out {metric} during training on the fixed curve subset ({n} evaluated steps, step 0 is the "
                f"base model): mean over seeds (thick), 95 % t band, {seeds_note}.{reference}")
    return (f"Training {metric} against {'steps' if x == 'step' else 'generated tokens'}: mean over seeds (thick), "
            f"95 % t band, {seeds_note}; rolling mean over {window} step(s). Training reward is on-policy "
            f"and not the primary endpoint.{reference}")


def dot_plot(runs: pd.DataFrame, labels: list[str], endpoint: str, path: Path, base: float | None = None) -> str | None:
    d = runs[(runs["status"] == "done")].dropna(subset=[endpoint, "group_size"])
    if d.empty:
        return None
    sizes = sorted(d["group_size"].unique())
    colours = _colours(labels)
    fig = Figure(figsize=(max(4.5, 1.6 * len(sizes) * len(labels)), 3.8), dpi=DPI)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.2, top=0.95)
    ticks, names = [], []
    jitter = np.random.default_rng(0)
    for i, g in enumerate(sizes):
        for j, label in enumerate(labels):
            pos = i * (len(labels) + 1) + j
            v = d[(d["label"] == label) & (d["group_size"] == g)][endpoint].to_numpy(float)
            ticks.append(pos)
            names.append(f"{label}\nG={int(g)}")
            if not v.size:
                continue
            ax.scatter(pos + jitter.uniform(-0.12, 0.12, v.size), v, color=colours[label], s=22, alpha=0.8, zorder=3)
            m = v.mean()
            if v.size > 1 and v.std() > 0:
                lo, hi = stats.ttest_1samp(v, 0).confidence_interval()
                ax.errorbar(pos + 0.3, m, yerr=[[m - lo], [hi - m]], fmt="s", color="black", ms=5, capsize=4)
            else:
                ax.plot(pos + 0.3, m, "s", color="black", ms=5)
    _base_line(ax, base)
    ax.set_xticks(ticks, names, fontsize=8)
    ax.set_ylabel(endpoint)
    ax.grid(axis="y", alpha=0.3)
    if base is not None:
        ax.legend(fontsize=8, loc="best")
    fig.savefig(path)
    reference = "; dashed: the untrained base model" if base is not None else ""
    return (f"{endpoint} of every finished run (dots, one per seed) with the arm mean and its 95 % t interval "
            f"(black){reference}.")


def forest_plot(rows: list[dict], endpoint: str, path: Path) -> str | None:
    rows = [r for r in rows if r.get("difference") is not None]
    if not rows:
        return None
    height = 1.2 + 0.55 * len(rows)
    fig = Figure(figsize=(7.5, height), dpi=DPI)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.26, right=0.97, bottom=0.6 / height, top=1 - 0.2 / height)
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        colour = "#d62728" if r.get("significant") else "#1f77b4"
        if r.get("ci_low") is not None:
            ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=colour, lw=2)
        ax.plot(r["difference"], y, "o", color=colour, ms=7)
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(range(len(rows)), [f"{r['candidate']} - {r['baseline']}, G={r['group_size']}" for r in reversed(rows)],
                  fontsize=8)
    ax.set_xlabel(f"difference in {endpoint} (candidate - baseline)")
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(path)
    return ("Difference of means with its 95 % confidence interval per comparison (unadjusted interval); "
            "red where significant after the multiplicity correction.")


def sepa_plot(curves: pd.DataFrame, labels: list[str], path: Path) -> str | None:
    d = curves.dropna(subset=["sepa_lambda"])
    if d.empty:
        return None
    have = [lab for lab in labels if lab in set(d["label"])]
    colours = _colours(labels)
    fig = Figure(figsize=(10, 3.6), dpi=DPI)
    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.25)
    for ax, metric in zip(axes, ("sepa_lambda", "planning_token_frac")):
        for label in have:
            for (g, rid), r in curves[curves["label"] == label].groupby(["group_size", "run_id"]):
                r = r.sort_values("step")
                ax.plot(r["step"], r[metric], color=colours[label], lw=0.8, alpha=0.6,
                        ls="-" if g == min(d["group_size"]) else "--")
        ax.set_xlabel("training step")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].set_title(f"SEPA lambda ({', '.join(have)})")
    axes[1].set_title("planning-token fraction")
    fig.savefig(path)
    return ("SEPA's lambda and the fraction of planning tokens over training, one line per run "
            "(solid: smallest group size, dashed: others), for the arms that use SEPA.")


def sequential_plot(stages: pd.DataFrame, path: Path) -> str | None:
    """|T_k| of each comparison at each stage it was open, against the boundary it was judged by."""
    if stages.empty:
        return None
    comparisons = list(dict.fromkeys(stages["comparison"]))
    colours = _colours(comparisons)
    fig = Figure(figsize=(6.4, 3.9), dpi=DPI)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.12, right=0.7, bottom=0.14, top=0.9)
    for name in comparisons:
        d = stages[stages["comparison"] == name].sort_values("stage")
        ax.plot(d["stage"], d["statistic"].abs(), "o-", color=colours[name], label=name)
        b = d[d["boundary"].notna()]
        ax.plot(b["stage"], b["boundary"], "_", color=colours[name], ms=18, mew=2)
        fut = d[d["futility"].notna()]
        if len(fut):
            ax.plot(fut["stage"], fut["futility"], "v", color=colours[name], alpha=0.6)
        for _, r in d[d["decision"] != "continue"].iterrows():
            ax.annotate(r["decision"], (r["stage"], abs(r["statistic"])), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=colours[name])
    ax.plot([], [], "_", color="black", ms=18, mew=2, label="boundary (same colour)")
    ax.set_xticks(sorted(stages["stage"].unique()))
    ax.set_xlabel("stage")
    ax.set_ylabel("|T| = |sum of stage differences|")
    ax.set_title("Sequential test: statistic against its boundary", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path)
    none = stages["boundary"].isna().any()
    return ("Each comparison's statistic (the sum over stages of the candidate-minus-baseline mean difference) at "
            "every stage it was open, and as a bar the boundary it was judged against (step-down: the family's "
            "maximum over the comparisons still open); a comparison is decided when its point lies above its bar"
            " (triangles: futility boundary)." + (" A stage without a bar could reject nothing: its share of alpha is "
                                                  "below the smallest permutation p it allows." if none else ""))
