"""Sanity checks: an A/A comparison, evaluation noise against between-seed spread, degenerate data."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from analysis.compare import json_float, primary_test

AA_MAX_SPLITS = 500
AA_SPLIT_SEED = 0


def balanced_splits(n: int, max_splits: int = AA_MAX_SPLITS, seed: int = AA_SPLIT_SEED) -> list[tuple[int, ...]]:
    """The seeds of one half (n // 2 of them) for each balanced split of n seeds, mirror images counted
    once: every split when there are at most max_splits, else a seeded random sample of distinct ones
    (the first ones in order would all keep seeds 0 and 1 together)."""
    half = n // 2
    mirrored = n == 2 * half

    def canonical(idx) -> tuple[int, ...]:
        idx = tuple(sorted(idx))
        return tuple(sorted(set(range(n)) - set(idx))) if mirrored and 0 not in idx else idx

    total = math.comb(n, half) // (2 if mirrored else 1)
    if total <= max_splits:
        return sorted({canonical(idx) for idx in itertools.combinations(range(n), half)})
    rng, chosen = np.random.default_rng(seed), {}
    while len(chosen) < max_splits:
        chosen.setdefault(canonical(rng.permutation(n)[:half].tolist()), None)
    return list(chosen)


def aa_check(values: pd.Series, alpha: float) -> dict:
    """Split one arm's seeds in two and run the primary (Welch) test, which should not fire.

    The fixed split is first half vs second half in seed order; `fired` is decided family-wise by the
    caller (analysis.analyse), over every A/A cell with the primary test's correction. The rate over
    balanced splits (balanced_splits) should be near alpha or below, as the splits are not independent.
    """
    v = values.dropna().sort_index()
    n = len(v)
    out = {"n_seeds": n, "split": None, "p": None, "fired": None, "splits_tested": 0, "rate_fired": None}
    if n < 4:
        out["note"] = f"needs at least 4 seeds (2 per half), has {n}"
        return out
    half = n // 2
    first, second = v.iloc[:half], v.iloc[half:]
    res = primary_test(first, second)
    out.update(split=[[int(s) for s in first.index], [int(s) for s in second.index]], p=res["p"],
               difference=res["difference"])
    arr = v.to_numpy(float)
    splits = balanced_splits(n)
    mask = np.zeros((len(splits), n), bool)
    for i, idx in enumerate(splits):
        mask[i, list(idx)] = True
    # The same Welch test as primary_test, vectorised over the splits.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tiled = np.broadcast_to(arr, mask.shape)
        p = stats.ttest_ind(tiled[~mask].reshape(len(splits), -1), tiled[mask].reshape(len(splits), -1), axis=1,
                            equal_var=False).pvalue
    p = p[~np.isnan(p)]
    out.update(splits_tested=int(p.size), rate_fired=json_float(np.mean(p <= alpha)) if p.size else None)
    return out


def eval_noise(problems: pd.DataFrame, runs: pd.DataFrame) -> list[dict]:
    """Per arm and group size: the held-out sampling noise of one run's avg@K vs the between-seed SD.

    A run's avg@K is a mean over P problems of c_i / n_i; with the problems fixed, its own sampling
    noise is sqrt(sum_i p_i (1 - p_i) / (n_i - 1)) / P. When that noise is a large share of the
    between-seed variance, more samples per problem (a larger K) would sharpen the comparison.
    """
    if problems.empty:
        return []
    p = problems.dropna(subset=["correct", "n"])
    p = p[p["n"] > 0]
    rate = p["correct"] / p["n"]
    var = rate * (1 - rate) / np.maximum(p["n"] - 1, 1)
    per_run = p.assign(var=var).groupby("run_id").agg(var=("var", "sum"), P=("var", "size"), K=("n", "mean"))
    per_run["se"] = np.sqrt(per_run["var"]) / per_run["P"]
    d = runs[runs["status"] == "done"].merge(per_run, left_on="run_id", right_index=True)
    out = []
    for (label, g), grp in d.groupby(["label", "group_size"], sort=True):
        sd = grp["avg_at_k"].std(ddof=1) if len(grp) > 1 else math.nan
        rms = math.sqrt((grp["se"] ** 2).mean())
        P, K = int(grp["P"].median()), float(grp["K"].median())
        out.append({"arm": label, "group_size": int(g), "n_runs": int(len(grp)), "eval_se_rms": json_float(rms),
                    "eval_se_bound": json_float(math.sqrt(0.25 / (P * K))), "problems": P, "k": json_float(K),
                    "between_seed_sd": json_float(sd),
                    "noise_share_of_variance": json_float(rms**2 / sd**2) if sd and sd > 0 else None})
    return out


def degenerate(runs: pd.DataFrame, curves: pd.DataFrame, endpoints: list[str]) -> list[str]:
    """Plain-words findings about data that would make a test meaningless or misleading."""
    found = []
    done = runs[runs["status"] == "done"]
    for ep in endpoints:
        nan = done[done[ep].isna()]
        if len(nan):
            found.append(f"{ep} is missing or NaN in {len(nan)} finished run(s): {', '.join(nan['run_id'][:8])}")
        for (label, g), grp in done.groupby(["label", "group_size"]):
            v = grp[ep].dropna()
            if len(v) > 1 and v.nunique() == 1:
                found.append(f"{ep}: all {len(v)} runs of {label} at G={g} have the same value {v.iloc[0]:.4g} "
                             "(zero between-seed variance; the t test is undefined or degenerate)")
    if not curves.empty:
        bad = curves[curves["reward_mean"].isna()]
        if len(bad):
            runs_hit = bad["run_id"].unique()
            found.append(f"reward_mean is NaN at {len(bad)} step(s) in {len(runs_hit)} run(s): {', '.join(runs_hit[:8])}")
    for col, what in (("eval_task", "task"), ("eval_size", "held-out size"), ("eval_split_seed", "split seed"),
                      ("eval_k", "K")):
        if col in done and done[col].nunique(dropna=True) > 1:
            found.append(f"runs were evaluated with different {what}s: {sorted(map(str, done[col].dropna().unique()))}")
    return found
