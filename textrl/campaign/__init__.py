"""Campaigns: a YAML spec (spec.py) expanded into runs (expand.py), previewed (plan), watched (status).

Importing this package does not import mlx.
"""

from textrl.campaign.expand import PlannedRun, expand_probes, expand_runs, write_plan
from textrl.campaign.spec import CampaignSpec, load_spec

__all__ = ["CampaignSpec", "PlannedRun", "expand_probes", "expand_runs", "load_spec", "write_plan"]
