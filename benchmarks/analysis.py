"""Time and memory to analyse a campaign: `textrl report` on synthetic results.

    .venv/bin/python benchmarks/analysis.py [--runs-per-cell 10] [--repeats 3]    # 100 runs, target <= 15 s
    .venv/bin/python benchmarks/analysis.py --runs-per-cell 100 --repeats 1       # 1,000 runs, <= 30 s, <= 1 GB

The campaign is 2 arms x 5 group sizes x 10 seeds = 100 runs of 100 steps, 200 held-out problems x K=4,
written by analysis.synthetic in the real file layout. Prints one JSON object: the import time of the
analysis package, and the median and every repeat of build_report (load, statistics, figures,
report.md/html) on that directory, and the peak resident memory of this process (the report's own
ceiling: the synthetic campaign is written by the same process before, so the figure is an upper bound).
"""

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS_S = {100: 15.0, 1000: 30.0}  # by planned runs
TARGET_MB = 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-per-cell", type=int, default=10, help="seeds per arm and group size (default 10)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from analysis.report import build_report
    from analysis.synthetic import write_campaign
    import_s = time.perf_counter() - t0

    sizes = (2, 4, 8, 16, 32)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_campaign(Path(tmp) / "bench", group_sizes=sizes, seeds=tuple(range(args.runs_per_cell)),
                              effect=0.02, steps=100, problems=200, k=4, rng=0)
        times, doc = [], None
        for _ in range(args.repeats):
            t = time.perf_counter()
            doc = build_report(root)
            times.append(time.perf_counter() - t)
    median = statistics.median(times)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    runs = doc["runs"]["done"]
    target_s = TARGETS_S.get(runs, max(TARGETS_S.values()))
    print(json.dumps({"benchmark": "analysis.build_report", "runs": runs, "steps_per_run": 100,
                      "heldout_problems": 200, "k": 4, "import_s": round(import_s, 3),
                      "build_report_s_median": round(median, 3), "build_report_s": [round(x, 3) for x in times],
                      "peak_rss_mb": round(peak_mb, 1), "target_s": target_s, "target_mb": TARGET_MB,
                      "within_target": median + import_s <= target_s and peak_mb <= TARGET_MB}, indent=2))


if __name__ == "__main__":
    main()
