"""Did the arms learn? Each arm's held-out gain over the untrained base model, and the negative controls.

A "no difference" between two arms that both stayed at the base model's score is not an answer, so the
report checks learning before it reads the comparison: per arm and group size, the per-seed gain
avg@k(run) - avg@k(base) with its t interval across seeds. The base score is one measurement on the same
held-out problems (its own sampling noise is not in the interval). A negative control (rewards replaced by
noise) must not beat the base, and the baseline must beat the control: that second test is Welch's, as in
the primary comparison, with the spec's correction over the control tests (their own family).
"""

from __future__ import annotations

import pandas as pd
from scipy import stats

from analysis.compare import adjust, arm_summary, compare_cell, json_float

GAIN_ENDPOINT = "avg_at_k"


def control_arms(spec: dict) -> set[str]:
    return {str(a.get("name")) for a in spec.get("arms") or [] if isinstance(a, dict) and a.get("control")}


def arm_gain(done: pd.DataFrame, label: str, g: int) -> dict:
    d = done[(done["label"] == label) & (done["group_size"] == g)]
    gains = (pd.to_numeric(d[GAIN_ENDPOINT], errors="coerce") - pd.to_numeric(d["base_avg_at_k"], errors="coerce")).dropna()
    s = arm_summary(gains)
    p = None
    if s["n"] > 1 and s["sd"]:
        p = json_float(stats.ttest_1samp(gains.to_numpy(float), 0.0, alternative="greater").pvalue)
    base = pd.to_numeric(d["base_avg_at_k"], errors="coerce").dropna()
    return {"arm": label, "group_size": int(g), "n": s["n"], "base": json_float(base.mean()) if len(base) else None,
            "gain": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "sd": s["sd"],
            "gain_in_sds": json_float(s["mean"] / s["sd"]) if s["sd"] else None, "p_greater": p,
            # beat the base: the whole interval above zero
            "beat_base": bool(s["ci_low"] is not None and s["ci_low"] > 0)}


def learning(c, baseline_labels: list[str], sizes: list[int]) -> dict:
    """{"endpoint", "arms": [per arm and G], "controls": [baseline vs control per G], "did_not_learn": [...]}."""
    done, s = c.done, c.settings
    controls = control_arms(c.spec)
    labels = list(dict.fromkeys(done["label"].dropna()))
    arm_of = dict(zip(done["label"], done["arm"]))
    rows = [{**arm_gain(done, lab, g), "control": arm_of.get(lab) in controls} for lab in labels for g in sizes
            if ((done["label"] == lab) & (done["group_size"] == g)).any()]
    tests = []
    for ctl in (lab for lab in labels if arm_of.get(lab) in controls):
        for b in baseline_labels:
            for g in sizes:
                sel = lambda lab: done[(done["label"] == lab) & (done["group_size"] == g)]  # noqa: E731
                base_v = pd.Series(sel(b)[GAIN_ENDPOINT].to_numpy(float), index=sel(b)["seed"].to_numpy())
                ctl_v = pd.Series(sel(ctl)[GAIN_ENDPOINT].to_numpy(float), index=sel(ctl)["seed"].to_numpy())
                # compare_cell's "candidate" is the baseline here: difference = baseline - control
                cell = compare_cell(ctl_v.dropna(), base_v.dropna(), paired=False, permutation=False)
                cell["control_arm"], cell["baseline_arm"] = cell.pop("baseline_arm"), cell.pop("candidate_arm")
                tests.append({"baseline": b, "control": ctl, "group_size": int(g), **cell})
    adj, rej = adjust([t["p"] for t in tests], s.alpha, s.correction)
    for t, pa, sig in zip(tests, adj, rej):
        t.update(p_adjusted=pa, baseline_beats_control=bool(sig and t["difference"] > 0))
        t["verdict"] = control_verdict(t, next((r for r in rows if r["arm"] == t["control"]
                                                and r["group_size"] == t["group_size"]), None))
    return {"endpoint": GAIN_ENDPOINT, "arms": rows, "controls": tests,
            "did_not_learn": [f"{r['arm']} G={r['group_size']}" for r in rows if not r["control"] and not r["beat_base"]],
            "controls_that_beat_base": [f"{r['arm']} G={r['group_size']}" for r in rows if r["control"] and r["beat_base"]]}


def control_verdict(t: dict, control_row: dict | None) -> str:
    """One verdict line for a baseline-vs-negative-control test and the control's own gain over the base."""
    def num(x):
        return "n/a" if x is None else f"{x:+.4f}"

    outcome = "beats" if t["baseline_beats_control"] else "does not significantly beat"
    p_adj = "n/a" if t["p_adjusted"] is None else f"{t['p_adjusted']:.2g}"
    line = (f"G={t['group_size']}: {t['baseline']} {outcome} {t['control']} (the negative control): difference "
            f"{num(t['difference'])} (95 % CI {num(t['ci_low'])} to {num(t['ci_high'])}; Welch t adjusted p {p_adj}).")
    if control_row is not None and control_row["gain"] is not None:
        beat = control_row["beat_base"]
        line += (f" The control's gain over the base model is {num(control_row['gain'])} "
                 + ("and beats it: something other than the task's rewards moves the score, so treat every gain "
                    "here with suspicion." if beat else "(it does not beat the base, as a control must not)."))
    if not t["baseline_beats_control"]:
        line += " The baseline's learning is not distinguishable from training on noise."
    return line


def baseline_caution(lrn: dict, baseline: str, g: int) -> str | None:
    """The sentence a verdict gets when its baseline did not beat the base model at this group size."""
    row = next((r for r in lrn["arms"] if r["arm"] == baseline and r["group_size"] == g), None)
    if row is None or row["beat_base"]:
        return None
    gain = "n/a" if row["gain"] is None else f"{row['gain']:+.4f}"
    return (f"Caution: the baseline {baseline} did not beat the untrained base model at G={g} (held-out avg@k gain "
            f"{gain}); a comparison with a baseline that did not learn is not an answer to whether the candidate helps.")
