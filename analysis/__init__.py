"""Statistics and reporting for textrl campaigns. Reads result files only; never imports mlx.

Public entry: `analysis.report.build_report(campaign_dir) -> dict` (also `python -m analysis DIR` and
`textrl report DIR`); power figures for `textrl plan`: `analysis.power`. See analysis/README.md.
"""
