"""Upload a campaign's analysis/ (report, tables, figures) to W&B as one artifact, when wandb is online.

    python -m textrl.campaign.wandb_report results/<campaign>

The training runs log themselves (the trainer); this adds the report to the campaign's W&B group.
Offline and disabled modes skip the upload: an offline artifact of a report nobody syncs helps no one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from textrl.io import read_json


def upload_report(campaign_dir: str | Path) -> str | None:
    """Returns the artifact name, or None when skipped."""
    campaign_dir = Path(campaign_dir)
    plan = read_json(campaign_dir / "plan.json")
    settings = plan["spec"]["wandb"]
    if settings["mode"] != "online":
        return None
    import wandb

    name = plan["campaign"]
    run = wandb.init(project=settings["project"], entity=settings.get("entity"), group=name,
                     job_type="report", name=f"{name}-report", tags=list(settings.get("tags", [])),
                     config={"campaign": name, "runs": len(plan["runs"])})
    artifact = wandb.Artifact(f"{name}-report", type="report")
    artifact.add_dir(str(campaign_dir / "analysis"))
    run.log_artifact(artifact)
    run.finish()
    return artifact.name


if __name__ == "__main__":
    uploaded = upload_report(sys.argv[1])
    print(f"wandb: uploaded {uploaded}" if uploaded else "wandb: report upload skipped (wandb mode is not online)")
