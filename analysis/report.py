"""Build a campaign's analysis/ directory: runs.csv, comparison.json, figures/, report.md, report.html."""

from __future__ import annotations

import json
from pathlib import Path

from analysis import figures
from analysis.analyse import analyse, arm_order, json_safe
from analysis.load import load_campaign
from analysis.render import render_html, render_markdown
from analysis.sequential_report import stage_points
from textrl.io import atomic_write_text

FIGURE_DIR = "figures"


def _mean_or_none(values) -> float | None:
    values = values.dropna()
    return float(values.mean()) if len(values) else None


def _figures(campaign, doc: dict, out: Path) -> list[tuple[str, str, str]]:
    fig_dir = out / FIGURE_DIR
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in fig_dir.glob("*.png"):  # a figure with nothing to draw this time must not linger from a past build
        old.unlink()
    labels, ep = arm_order(campaign), doc["settings"]["primary"]
    done_curves, heldout = campaign.curves, campaign.heldout_curves
    base = _mean_or_none(campaign.done["base_avg_at_k"])
    base_of_endpoint = {"avg_at_k": base, "greedy_acc": _mean_or_none(campaign.done["base_greedy_acc"])}.get(ep)
    heldout_base = _mean_or_none(heldout.loc[heldout["step"] == 0, "avg_at_k"])
    jobs = [
        ("primary", "dots.png", lambda p: figures.dot_plot(campaign.runs, labels, ep, p, base=base_of_endpoint)),
        ("primary", "forest.png", lambda p: figures.forest_plot(doc["primary"]["comparisons"], ep, p)),
        ("curves", "heldout_curves.png",
         lambda p: figures.learning_curves(heldout, labels, p, metric="avg_at_k", base=heldout_base, heldout=True)),
        ("curves", "curves_steps.png", lambda p: figures.learning_curves(done_curves, labels, p, x="step", base=base)),
        ("curves", "curves_tokens.png",
         lambda p: figures.learning_curves(done_curves, labels, p, x="tokens_generated", base=base)),
        ("sepa", "sepa.png", lambda p: figures.sepa_plot(done_curves, labels, p)),
        ("sequential", "sequential.png", lambda p: figures.sequential_plot(stage_points(doc["sequential"]), p)),
    ]
    made = []
    for section, name, draw in jobs:
        caption = draw(fig_dir / name)
        if caption:
            made.append((section, f"{FIGURE_DIR}/{name}", caption))
    return made


def build_report(campaign_dir: str | Path) -> dict:
    """Rebuild <campaign_dir>/analysis/ from the result files alone; returns the comparison document."""
    campaign = load_campaign(campaign_dir)
    doc = json_safe(analyse(campaign))
    out = Path(campaign_dir) / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    made = _figures(campaign, doc, out)
    doc["figures"] = [{"file": name, "caption": cap} for _, name, cap in made]
    atomic_write_text(out / "runs.csv", campaign.runs.to_csv(index=False))
    atomic_write_text(out / "comparison.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    markdown = render_markdown(doc, made)
    atomic_write_text(out / "report.md", markdown)
    atomic_write_text(out / "report.html", render_html(markdown, f"textrl report: {doc['campaign']}", out / FIGURE_DIR))
    return doc


def verdict_lines(campaign_dir: str | Path) -> list[str]:
    """The verdicts of a built report (comparison.json), one line each: what a campaign's log ends with."""
    doc = json.loads((Path(campaign_dir) / "analysis" / "comparison.json").read_text())
    controls = [] if doc.get("sequential") else [  # a sequential campaign's verdicts include its controls
        f"Negative control: {t['verdict']}" for t in (doc.get("learning") or {}).get("controls", [])]
    return [*doc.get("verdicts", []), *controls]
