"""The verdict sentence of one comparison, in plain words, honest about what the data cannot say."""

from __future__ import annotations

from analysis.power import loosest_alpha, per_test_alpha


def endpoint_name(endpoint: str, k: int | None = None) -> str:
    kk = "K" if k is None else str(k)
    return {"avg_at_k": f"held-out avg@{kk}", "pass_at_1": "held-out pass@1", "pass_at_k": f"held-out pass@{kk}",
            "greedy_acc": "held-out greedy accuracy", "reward_auc": "training-reward AUC",
            "final_reward": "final-window training reward",
            "final_correct_rate": "final-window training correct rate",
            "heldout_auc": f"held-out avg@{kk} curve AUC"}.get(endpoint, endpoint)


def _num(x: float | None, signed: bool = True) -> str:
    return "n/a" if x is None else (f"{x:+.4f}" if signed else f"{x:.4f}")


def _p(x: float | None) -> str:
    return "n/a" if x is None else (f"{x:.2g}" if x < 0.001 else f"{x:.3f}")


def verdict(c: dict, endpoint: str, alpha: float, correction: str, k: int | None = None) -> str:
    """c: one primary comparison from comparison.json (with p_adjusted, significant, power)."""
    who = f"G={c['group_size']}: {c['candidate']} vs {c['baseline']}"
    ep = endpoint_name(endpoint, k)
    nb, nc = c["n_baseline"], c["n_candidate"]
    seeds = f"{nc} seed pairs" if c.get("paired") else f"{nc} vs {nb} seeds"
    if min(nb, nc) < 2:
        return (f"{who}: cannot compare: {nc} and {nb} usable finished runs "
                f"(at least 2 per arm are needed{'; paired runs must share a seed' if c.get('paired') else ''}).")
    if c["p"] is None:
        return f"{who}: cannot test: the between-seed variance is zero or undefined (see sanity checks)."
    adj = "" if correction == "none" else f", {correction}-adjusted {_p(c['p_adjusted'])}"
    est = (f"difference {_num(c['difference'])} (95 % CI {_num(c['ci_low'])} to {_num(c['ci_high'])}; "
           f"{c['test']} p = {_p(c['p'])}{adj}; {seeds})")
    perm = c.get("permutation") or {}
    cannot = c.get("cannot_reach_significance")
    eq = c.get("equivalence") or {}
    tost = (f"TOST {'' if correction == 'none' else correction + '-adjusted '}p = {_p(eq.get('p_adjusted'))}"
            if eq else "")
    if c["significant"]:
        direction = "better than" if c["difference"] > 0 else "worse than"
        s = f"{who}: {c['candidate']} is {direction} {c['baseline']} on {ep}: {est}."
        if cannot:
            s += (f" Caution: with so few seeds an exact permutation test cannot go below p = {perm['min_p']:.3f}, "
                  "so this rests on the t test's normality assumption alone.")
        elif perm.get("p") is not None and perm["p"] > alpha:
            s += (f" Caution: the permutation check gives p = {_p(perm['p'])}, above {alpha:g}: the result leans on "
                  "the t test's assumptions.")
        if eq.get("equivalent"):
            s += (f" It is also within the equivalence margin +/- {eq['margin']:g} ({tost}): real, but smaller than "
                  "the difference the spec counts as mattering.")
        return s
    if eq.get("equivalent"):
        return (f"{who}: equivalent within +/- {eq['margin']:g} on {ep} ({tost}): the data rule out any difference "
                f"as large as the margin; {est}.")
    m = c.get("n_tests") or 1
    not_eq = f" Nor are they shown equivalent within +/- {eq['margin']:g} ({tost})." if eq else ""
    if cannot:
        level = loosest_alpha(alpha, m, correction)
        where = f"{level:g}" if level == alpha else f"{level:g} ({correction} over {m} tests)"
        return (f"{who}: inconclusive by design: with {seeds} an exact permutation test cannot reach "
                f"p < {where} (its smallest possible p is {perm['min_p']:.3f}), so these data cannot establish a "
                f"difference on {ep} either way; {est}. This is not evidence of no difference.{not_eq}")
    pw = c.get("power") or {}
    mde = pw.get("mde")
    miss = (f" Differences smaller than about {mde:.4f} (the minimum detectable effect at {pw['power']:.0%} power) "
            "could well be missed at these seeds, so" if mde is not None else " So")
    others = (f" With {seeds} an exact permutation test cannot go below p = {perm['min_p']:.3f}, above Holm's first "
              f"step ({per_test_alpha(alpha, m, correction):g}): this comparison can only be significant once "
              "other tests of the family are." if c.get("needs_others_rejected") else "")
    return (f"{who}: no significant difference on {ep} at family-wise alpha {alpha:g}: {est}.{miss} "
            f"this is not evidence that the arms are equal.{not_eq}{others}")
