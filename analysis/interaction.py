"""Does the candidate's advantage depend on the group size? OLS of `y ~ candidate * C(group_size)`.

With the first group size as reference, the coefficient of candidate:C(group_size)[G] is the
difference of differences (candidate - baseline at G) - (candidate - baseline at the reference G).
Standard errors are HC3 (heteroskedasticity-robust), since arms and group sizes may differ in
between-seed spread, as Welch allows in the per-cell tests. This is exploratory: no multiplicity claim.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from analysis.compare import json_float

FORMULA = "y ~ candidate * C(group_size)"
COV_TYPE = "HC3"


def interaction_frame(runs: pd.DataFrame, endpoint: str, baseline: str, candidate: str) -> pd.DataFrame:
    d = runs[runs["label"].isin([baseline, candidate])][["label", "group_size", endpoint]].dropna()
    return pd.DataFrame({"y": d[endpoint].astype(float), "candidate": (d["label"] == candidate).astype(int),
                         "group_size": d["group_size"].astype(int)})


def interaction_estimate(runs: pd.DataFrame, endpoint: str, baseline: str, candidate: str, conf: float = 0.95) -> dict | None:
    """None unless both arms have at least 2 runs in each of at least two group sizes."""
    d = interaction_frame(runs, endpoint, baseline, candidate)
    counts = d.groupby(["group_size", "candidate"]).size().unstack(fill_value=0)
    if counts.shape[1] < 2:
        return None
    counts = counts[(counts >= 2).all(axis=1)]
    if len(counts) < 2:
        return None
    d = d[d["group_size"].isin(counts.index)]
    fit = smf.ols(FORMULA, data=d).fit(cov_type=COV_TYPE)
    ci = fit.conf_int(1 - conf)
    ref = int(min(counts.index))
    terms = [t for t in fit.params.index if t.startswith("candidate:")]
    out = {"model": FORMULA, "cov_type": COV_TYPE, "reference_group_size": ref, "n_runs": int(len(d)), "terms": []}
    for t in terms:
        g = int(re.search(r"\[T\.(-?\d+)\]", t).group(1))
        out["terms"].append({"group_size": g, "term": t, "difference_of_differences": json_float(fit.params[t]),
                             "se": json_float(fit.bse[t]), "ci_low": json_float(ci.loc[t, 0]), "ci_high": json_float(ci.loc[t, 1]),
                             "p": json_float(fit.pvalues[t])})
    if len(terms) > 1:
        with np.errstate(all="ignore"):
            restriction = np.eye(len(fit.params))[[list(fit.params.index).index(t) for t in terms]]
            wald = fit.wald_test(restriction, scalar=True)
        out["joint_p"] = json_float(wald.pvalue)
    return out
