"""report.md from the comparison document, and report.html from report.md with the figures embedded.

The HTML is the Markdown rendered by markdown-it (raw HTML disabled, so text from run logs cannot
inject markup) inside one page with inline CSS and base64 images: it opens offline, with no network.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

from analysis.sanity import AA_MAX_SPLITS
from analysis.sequential_report import stage_rows
from analysis.verdict import _p, endpoint_name

GENERATION_LEVEL_WHY = (
    "These tests pool every held-out completion of all seeds of an arm as if each were an independent replicate. "
    "They are not: completions of one run share that run's training seed and are repeated measurements of it "
    "(pseudo-replication). With real between-seed spread such tests fire far more often than alpha when the arms "
    "do not differ (0.12 to 0.68 at alpha 0.05 in simulation). They are shown only because papers often report "
    "them; the seed-level comparison above is the evidence.")


def _n(x, fmt=".4f", signed=False) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    return format(x, ("+" if signed else "") + fmt)


def _ci(lo, hi, fmt=".4f") -> str:
    return "n/a" if lo is None or hi is None else f"[{_n(lo, fmt)}, {_n(hi, fmt)}]"


def _cell(x) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(map(_cell, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _base(r: list | None) -> str:
    if not r:
        return "n/a"
    return _n(r[0]) if r[0] == r[1] else f"{_n(r[0])} to {_n(r[1])} across runs"


def _arm(a: dict) -> str:
    return f"{_n(a['mean'])} {_ci(a['ci_low'], a['ci_high'])} (n={a['n']})"


def _with_interval(x, ci) -> str:
    lo, hi = ci if ci else (None, None)
    return _n(x, ".2f") + ("" if x is None or lo is None else f" {_ci(lo, hi, '.2f')}")


def _estimates(rows: list[dict], with_family: bool) -> str:
    headers = ["G", "comparison", "baseline mean [95% CI]", "candidate mean [95% CI]", "difference [95% CI]", "test",
               "p"]
    if with_family:
        headers += ["p adjusted", "permutation p", "significant"]
    headers += ["Hedges' g [95% bootstrap]", "P(improvement) [95% bootstrap]"]
    margin = next((r["equivalence"]["margin"] for r in rows if r.get("equivalence")), None)
    if with_family and margin is not None:
        headers.append(f"equivalent within +/- {margin:g} (TOST)")
    out = []
    for r in rows:
        row = [r["group_size"], f"{r['candidate']} - {r['baseline']}", _arm(r["baseline_arm"]), _arm(r["candidate_arm"]),
               f"{_n(r['difference'], signed=True)} {_ci(r['ci_low'], r['ci_high'])}",
               r["test"] + (f" (r = {_n(r['correlation'], '.2f')})" if r.get("correlation") is not None else ""), _p(r["p"])]
        if with_family:
            perm = r["permutation"]
            perm_s = "n/a" if perm["p"] is None else (
                f"{_p(perm['p'])} ({'exact' if perm['exact'] else str(perm['n_resamples']) + ' resamples'}; min {_p(perm['min_p'])})")
            row += [_p(r["p_adjusted"]), perm_s, _n(r["significant"])]
        row += [_with_interval(r["hedges_g"], r.get("hedges_g_ci")), _with_interval(r["prob_improvement"], r.get("prob_improvement_ci"))]
        if with_family and r.get("equivalence"):
            eq = r["equivalence"]
            row.append(f"{_n(eq.get('equivalent'))} (p adj {_p(eq.get('p_adjusted'))})")
        out.append(row)
    return table(headers, out)


def _needed(n) -> str:
    return _n(n) if n else "> 100000"


def _power_table(rows: list[dict]) -> str | None:
    rows = [r for r in rows if r.get("power")]
    if not rows:
        return None
    p0 = rows[0]["power"]
    out = []
    for r in rows:
        p = r["power"]
        out.append([r["group_size"], f"{r['candidate']} - {r['baseline']}", p["n_per_arm"],
                    f"{_n(p['sd_baseline'])} / {_n(p['sd_candidate'])}",
                    f"{_n(p['sd_baseline_upper'])} / {_n(p['sd_candidate_upper'])}", _n(p["mde"]), _n(p["mde_at_sd_upper"]),
                    _with_interval(p["power_at_effect"], p.get("power_at_effect_range")),
                    _needed(p["seeds_needed"]),
                    f"{_needed(p.get('seeds_needed_at_sd_lower'))} to {_needed(p['seeds_needed_at_sd_upper'])}"])
    head = (f"{p0['method']}; {p0['n_tests']} test(s), {p0['per_test_alpha']:.4g} per test "
            f"(alpha / number of tests: Holm's strictest step, so power under Holm is at least this), "
            f"power {p0['power']:.0%}, effect of interest {p0['effect_of_interest']:g}. "
            "The SDs are estimates from these few seeds: every power figure is a plug-in from them, and the "
            "brackets and ranges show what the 95 % chi-square interval of each SD implies (SD upper: its upper end, "
            "the planning figure).\n\n")
    return head + table(["G", "comparison", "seeds per arm", "between-seed SD (base / cand)", "SD upper bound",
                         "minimum detectable effect", "MDE at SD upper",
                         f"power at {p0['effect_of_interest']:g} [over the SD intervals]",
                         f"seeds needed for {p0['effect_of_interest']:g}", "seeds needed (SD lower to upper)"], out)


def _runs_section(doc: dict) -> list[str]:
    r = doc["runs"]
    out = [f"{r['done']} of {r['planned']} planned runs finished ("
           + ", ".join(f"{k}: {v}" for k, v in sorted(r["by_status"].items())) + ")."]
    if r["not_done"]:
        out.append("\nRuns not analysed (never silently dropped):\n")
        for x in r["not_done"]:
            first, _, tail = (x["detail"] or "").partition("\n")
            out.append(f"- `{x['run_id']}`: {x['status']}: {first}")
            if tail:
                out.append("\n  ```\n" + "\n".join("  " + ln for ln in tail.splitlines()) + "\n  ```")
    if doc["file_problems"]:
        out.append("\nFiles that could not be read (fully):\n")
        out += [f"- `{f['path']}`: {f['problem']}" for f in doc["file_problems"]]
    out += [f"\nNote: {n}" for n in doc["notes"]]
    return out


def _sanity_section(doc: dict) -> list[str]:
    san, out = doc["sanity"], []
    if san["aa"]:
        s = doc["settings"]
        out.append("**A/A check.** The baseline's seeds split in two halves (seed order) and compared with Welch's t "
                   f"test, every cell in one family ({s['correction']}, family-wise alpha {s['alpha']:g}, as the "
                   "primary tests): with no real difference, some cell fires in at most that share of campaigns. "
                   "The rate over balanced splits (every one, or a seeded random sample of "
                   f"{AA_MAX_SPLITS}) should be near alpha or below.\n")
        out.append(table(["arm", "G", "seeds", "split", "difference", "p", "p adjusted", "fired", "splits tested",
                          "rate fired"],
                         [[a["arm"], a["group_size"], a["n_seeds"],
                           " vs ".join(",".join(map(str, h)) for h in a["split"]) if a["split"] else a.get("note", ""),
                           _n(a.get("difference"), signed=True), _p(a["p"]), _p(a.get("p_adjusted")), _n(a["fired"]),
                           a["splits_tested"], _n(a["rate_fired"], ".2f")] for a in san["aa"]]))
    else:
        out.append("A/A check: off in the spec (analysis.aa_check: false).")
    if san["eval_noise"]:
        out.append("\n**Evaluation noise vs between-seed spread.** RMS over runs of each run's held-out sampling noise "
                   "(problems fixed, K samples each), against the SD of avg@K across seeds. A large share means more "
                   "samples per problem would sharpen the comparison; a small one means seeds dominate.\n")
        out.append(table(["arm", "G", "runs", "problems x K", "eval SE (RMS)", "bound sqrt(0.25/(P K))",
                          "between-seed SD", "noise share of variance"],
                         [[e["arm"], e["group_size"], e["n_runs"], f"{e['problems']} x {_n(e['k'], 'g')}",
                           _n(e["eval_se_rms"]), _n(e["eval_se_bound"]), _n(e["between_seed_sd"]),
                           _n(e["noise_share_of_variance"], ".2f")] for e in san["eval_noise"]]))
    out.append("\n**Degenerate data.** " + ("none found." if not san["degenerate"] else ""))
    out += [f"- {d}" for d in san["degenerate"]]
    return out


def _interaction_section(doc: dict) -> list[str]:
    out = []
    for name, it in doc["interaction"].items():
        if it is None:
            out.append(f"{name}: not estimable (needs at least two group sizes with 2+ finished runs per arm).")
            continue
        out.append(f"{name}: `{it['model']}`, {it['cov_type']} standard errors, {it['n_runs']} runs; each term is "
                   f"(candidate - baseline at G) - (candidate - baseline at G={it['reference_group_size']}).\n")
        out.append(table(["G", "difference of differences [95% CI]", "SE", "p"],
                         [[t["group_size"], f"{_n(t['difference_of_differences'], signed=True)} {_ci(t['ci_low'], t['ci_high'])}",
                           _n(t["se"]), _p(t["p"])] for t in it["terms"]]))
        if "joint_p" in it:
            out.append(f"\nJoint Wald test of all interaction terms: p = {_p(it['joint_p'])}.")
    return out


def _generation_section(doc: dict) -> list[str]:
    if not doc["generation_level"]:
        return ["No per-problem held-out counts available."]
    return [f"> **Not primary evidence.** {GENERATION_LEVEL_WHY}\n",
            table(["G", "comparison", "correct / generations (base)", "correct / generations (cand)",
                   "pooled accuracy difference", "bootstrap 95% CI (percentile, over generations)", "Fisher exact p"],
                  [[g["group_size"], f"{g['candidate']} - {g['baseline']}",
                    f"{g['correct_baseline']} / {g['generations_baseline']}",
                    f"{g['correct_candidate']} / {g['generations_candidate']}", _n(g["accuracy_difference"], signed=True),
                    _ci(g["bootstrap_ci_low"], g["bootstrap_ci_high"]), _p(g["fisher_p"])] for g in doc["generation_level"]])]


def _learning_section(doc: dict, k) -> list[str]:
    lrn = doc.get("learning")
    if not lrn or not lrn["arms"]:
        return ["No finished run with a base-model score."]
    out = [f"Gain = {endpoint_name(lrn['endpoint'], k)} of each run minus the untrained base model's, on the same "
           "held-out problems; 95 % t interval across seeds. An arm beat the base when the whole interval is above 0.\n",
           table(["arm", "G", "seeds", "base", "gain [95% CI]", "gain / between-seed SD", "beat the base"],
                 [[r["arm"] + (" (negative control)" if r["control"] else ""), r["group_size"], r["n"], _n(r["base"]),
                   f"{_n(r['gain'], signed=True)} {_ci(r['ci_low'], r['ci_high'])}", _n(r["gain_in_sds"], ".1f"),
                   "yes" if r["beat_base"] else "**NO**"] for r in lrn["arms"]])]
    if lrn["did_not_learn"]:
        out.append(f"\n**Did not beat the base model:** {', '.join(lrn['did_not_learn'])}. A comparison involving these "
                   "cells says nothing about whether a method helps: train longer, or change the lr or the task.")
    if lrn["controls"]:
        out.append("\n**Negative controls** (rewards replaced by seeded Bernoulli draws at the base model's success rate, "
                   "same compute). The control must not beat the base, and the baseline must beat the control "
                   f"(Welch t, {doc['settings']['correction']} over these tests):\n")
        out.append(table(["G", "baseline - control [95% CI]", "p", "p adjusted", "baseline beats the control"],
                         [[t["group_size"], f"{t['baseline']} - {t['control']}: {_n(t['difference'], signed=True)} "
                           f"{_ci(t['ci_low'], t['ci_high'])}", _p(t["p"]), _p(t["p_adjusted"]),
                           "yes" if t["baseline_beats_control"] else "**NO**"] for t in lrn["controls"]]))
    if lrn["controls_that_beat_base"]:
        out.append(f"\n**WARNING: a negative control beat the base model** ({', '.join(lrn['controls_that_beat_base'])}): "
                   "something besides the reward teaches the policy (a leak between training and held-out problems, a "
                   "format the base had not learned, or a base score measured under other settings).")
    return out


def _stage_section(doc: dict) -> list[str]:
    act = doc.get("stage_activity") or {}
    if not act:
        return []

    def share(x) -> str:
        return "off" if x is None else f"{x:.1%}"

    rows = [[label, share(a["planning_token_frac"]),
             "n/a" if not a["planning_token_frac_run_range"] else
             f"{a['planning_token_frac_run_range'][0]:.1%} to {a['planning_token_frac_run_range'][1]:.1%}",
             "off" if not a["sepa_lambda_range"] else f"{a['sepa_lambda_range'][0]:.2f} to {a['sepa_lambda_range'][1]:.2f}",
             share(a["changed_frac_sepa"]), share(a["changed_frac_gtpo"]), share(a["changed_frac_hicra"])]
            for label, a in act.items()]
    return ["**Which stages acted** (means over every training step of the finished runs; a stage at 0.0 % is "
            "on but changed no token's advantage):", "",
            table(["arm", "planning tokens", "planning tokens, run means", "SEPA lambda", "tokens SEPA changed",
                   "tokens GTPO changed", "tokens HICRA changed"], rows), ""]


def render_markdown(doc: dict, figures: list[tuple[str, str, str]]) -> str:
    """figures: (section, file name relative to the report, caption); sections: primary, curves, sepa."""
    d, s = doc["design"], doc["settings"]
    ep = endpoint_name(s["primary"], d["k"])
    prim = doc["primary"]["comparisons"]
    fig = {sec: [f"![{cap}]({name})\n\n*{cap}*\n" for sc, name, cap in figures if sc == sec]
           for sec in ("primary", "curves", "sepa", "sequential")}
    n_sig = sum(r["significant"] for r in prim)
    against_controls = list(dict.fromkeys(f"{t['baseline']} vs {t['control']} (negative control)"
                                          for t in (doc.get("learning") or {}).get("controls", [])))
    title = ", ".join(d["comparisons"] + against_controls) or "no comparison"
    L = [f"# Campaign `{doc['campaign']}`: {title}", ""]
    if doc.get("sequential"):
        return "\n".join(L + _sequential_verdict(doc, ep) + _after_verdict(doc, d, ep, prim, fig))
    L += ["## Verdict", "",
          f"Primary endpoint: **{ep}**, one number per run, compared across seeds ({d['primary_test']}), "
          f"{d['correction']} correction over {d['n_primary_tests']} test(s), family-wise alpha {d['alpha']:g}. "
          f"Significant in {n_sig} of {len(prim)} comparison(s)." if prim else
          f"Primary endpoint: **{ep}**, one number per run. No candidate arm: the tests are the baseline against its "
          f"negative controls (Welch t, {d['correction']} over them, family-wise alpha {d['alpha']:g}).", ""]
    controls = doc["learning"]["controls"] if doc.get("learning") else []
    if len(prim) >= SUMMARY_FROM:  # many arms: the family at a glance before the sentences
        L += [table(["G", "comparison", "difference [95% CI]", "p adjusted", "result"],
                    [[r["group_size"], f"{r['candidate']} vs {r['baseline']}",
                      f"{_n(r['difference'], signed=True)} {_ci(r['ci_low'], r['ci_high'])}", _p(r["p_adjusted"]),
                      _result(r)] for r in prim]), ""]
    L += [f"- {r['verdict']}" for r in prim] or ([] if controls else ["- no comparison could be made."])
    L += [f"- Negative control: {t['verdict']}" for t in controls]
    return "\n".join(L + _after_verdict(doc, d, ep, prim, fig))


SUMMARY_FROM = 4  # comparisons from which the verdict opens with a summary table


def _result(r: dict) -> str:
    eq = r.get("equivalence") or {}
    if r.get("significant"):
        return f"**{'better' if r['difference'] > 0 else 'worse'}**"
    if eq.get("equivalent"):
        return f"equivalent within +/- {eq['margin']:g}"
    return "inconclusive by design" if r.get("cannot_reach_significance") else "no significant difference"


def _sequential_verdict(doc: dict, ep: str) -> list[str]:
    q = doc["sequential"]
    m = len(q["comparisons"]) or "no"
    L = ["## Verdict (sequential design)", "",
         f"Primary endpoint: **{ep}**, one number per run. Seeds came in stages of {q['per_stage']} per arm and group "
         f"size, up to {q['max_stages']} stages; after each stage AdaStop's two-sided permutation test "
         f"({q['spending']} spending, family-wise alpha {q['alpha']:g} over the {m} comparisons of candidates and "
         f"negative controls with the baseline) decided each comparison or gave it the next stage's seeds. "
         f"Runs used: **{q['runs_used']} of at most {q['runs_max']}**.", ""]
    L += [f"- {r['verdict']}" for r in q["comparisons"]] or [f"- {q.get('note', 'no interim analysis yet')}."]
    L += ["", "## Sequential stages", "",
          "Per stage, each comparison still open at it: seeds so far (candidate / baseline), the difference of means "
          "over all its seeds, the statistic T (the sum over stages of each stage's difference), the boundary |T| had to "
          "exceed at this stage, the family-wise alpha spent so far of what the spending function allows, the futility "
          "boundary (when futility is on) and the decision. Confidence intervals in the verdicts invert the sequential "
          "test (valid at the stage it stopped). The Welch/permutation columns further down treat the seeds as a fixed "
          "sample and only describe.", "",
          table(["stage", "comparison", "seeds (cand / base)", "difference", "T", "boundary on |T|",
                 "alpha spent / allowed", "futility boundary", "decision"], stage_rows(q)), "",
          table(["arm, G", "seeds used", "at most"],
                [[a, n, q["max_seeds_per_arm"]] for a, n in q["seeds_used"].items()]), ""]
    return L


def _after_verdict(doc: dict, d: dict, ep: str, prim: list[dict], fig: dict) -> list[str]:
    L = [*fig["sequential"]]
    L += ["", "## Did the arms learn?", "", *_learning_section(doc, d["k"])]
    L += ["", "## Design", "",
          table(["item", "value"], [
              ["arms", ", ".join(d["arms"])], ["comparisons (candidate vs baseline)", ", ".join(d["comparisons"])],
              ["group sizes", ", ".join(map(str, d["group_sizes"]))], ["seeds planned", ", ".join(map(str, d["seeds"]))],
              ["finished runs per arm and G", ", ".join(f"{k}: {v}" for k, v in d["finished_seeds"].items())],
              ["task / held-out size / K", f"{d['task']} / {d['heldout_size']} / {d['k']}"],
              ["base model (untrained) held-out avg@K", _base(d["base_model_avg_at_k"])],
              ["training steps / prompts per step", f"{d['steps']} / {d['prompts_per_step']}"],
              ["primary endpoint (fixed in the spec)", d["primary"]], ["secondary endpoints", ", ".join(d["secondary"])],
              ["primary test", d["primary_test"]], ["alpha / correction", f"{d['alpha']:g} / {d['correction']}"],
              ["effect of interest / power", f"{d['effect_of_interest']:g} / {d['power']:.0%}"]]), ""]
    if doc.get("arm_differences"):
        base = ", ".join(dict.fromkeys(r["baseline"] for r in prim)) or "the baseline"
        L += [f"What each arm changes from {base} (its runs' resolved configs, config.json):", "",
              table(["arm", "changes"], [[label, "; ".join(items) or "nothing (an A/A arm)"]
                                         for label, items in doc["arm_differences"].items()]), ""]
    L += ["## Runs", "", *_runs_section(doc), ""]
    L += [f"## Primary endpoint: {ep}", "",
          "Difference = candidate - baseline. Confidence intervals are unadjusted 95 % t intervals; significance is "
          "decided on the adjusted p. The permutation test is a distribution-free check of the same difference. "
          "Hedges' g and P(improvement) carry 95 % percentile intervals from 2,000 bootstrap resamples of the runs "
          "within each arm.", "",
          _estimates(prim, with_family=True), "", *fig["primary"]]
    L += ["## Power", ""]
    L += [_power_table(prim) or "Not computable: fewer than 2 finished runs in an arm.", ""]
    L += ["## Arm x group size interaction (exploratory)", "", *_interaction_section(doc), ""]
    L += ["## Secondary endpoints (no multiplicity claim)", "",
          "Same comparison per group size, unadjusted p-values; these describe, they do not decide.", ""]
    for sec_ep, rows in doc["secondary"].items():
        L += [f"### {endpoint_name(sec_ep, d['k'])}", "", _estimates(rows, with_family=False), ""]
    L += ["## Learning curves", "", *fig["curves"]]
    if fig["sepa"]:
        L += ["## SEPA schedule", "", *fig["sepa"]]
    L += ["## Resolved advantage pipeline per arm", ""]
    for label, p in doc["pipelines"].items():
        flag = "" if p["consistent_across_runs"] else " (WARNING: runs of this arm do not share one pipeline; first shown)"
        L += [f"**{label}**{flag}", "", "```json", json.dumps({"advantage_pipeline": p["advantage_pipeline"],
                                                                "loss": p["loss"]}, indent=2), "```", ""]
    L += _stage_section(doc)
    L += ["## Sanity checks", "", *_sanity_section(doc), ""]
    L += ["## Generation-level tests (secondary, not primary evidence)", "", *_generation_section(doc), ""]
    rep = doc["reproducibility"]
    L += ["## Reproducibility appendix", "",
          table(["item", "value"], [
              ["git revision(s) of the training runs", ", ".join(rep["git_revisions"]) or "n/a"],
              ["hosts", ", ".join(rep["hosts"]) or "n/a"],
              ["runs started", f"{rep['first_started_at']} to {rep['last_started_at']}"],
              *[[f"training: {k}", ", ".join(v)] for k, v in rep["training_versions"].items()],
              *[[f"analysis: {k}", v or "n/a"] for k, v in rep["analysis_environment"].items()]]), "",
          "Campaign spec (resolved, from plan.json):", "", "```yaml",
          yaml.safe_dump(rep["spec"], sort_keys=False).rstrip() if rep["spec"] else "# not available", "```", "",
          "Every number in this report is in `comparison.json`; one row per run with its endpoints is in `runs.csv`.", ""]
    return L


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1150px;margin:2em auto;
padding:0 1em;color:#1b1b1b;line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:.86em}
th,td{border:1px solid #ccc;padding:.3em .55em;text-align:left;vertical-align:top}th{background:#f1f3f5}
code,pre{background:#f6f8fa;font-size:.88em}pre{padding:.8em;overflow-x:auto}img{max-width:100%}
blockquote{border-left:4px solid #e8a33d;background:#fff8ec;margin:1em 0;padding:.5em 1em}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}"""


def render_html(markdown: str, title: str, figure_dir: Path) -> str:
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)

    def embed(m: re.Match) -> str:
        src = html.unescape(m.group(1))
        path = figure_dir.parent / src
        if not path.is_file():
            return m.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([^"]+\.png)"', embed, body)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n{body}</body></html>\n")
