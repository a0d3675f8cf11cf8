"""Group-sequential comparison over seed stages: AdaStop's permutation test, two-sided.

The design (Mathieu et al., "AdaStop: adaptive statistical testing for sound comparisons of deep RL
agents", TMLR 2024): seeds arrive in stages of `per_stage` runs per arm; after stage k every open
comparison (candidate vs baseline at one group size) has the statistic

    T_k = sum over stages j <= k of (mean of the candidate's stage-j values - mean of the baseline's)

Its null distribution comes from permutation paths: each path relabels the values within every stage
independently (seeds of one stage are exchangeable between two arms that do not differ). The family-wise
level alpha is spent over the stages by a spending function (linear, as AdaStop; Pocock or
O'Brien-Fleming type, after Lan & DeMets), and stage k rejects, step-down, the open comparisons whose
|T_k| exceed the boundary: the value that the maximum |T| over the open comparisons exceeds on at most
the stage's share of the permutation paths that crossed no earlier boundary.

Why not the `adastop` package itself: adastop 0.1.3 (the current release) builds the null distribution from
the signed maximum of the permuted differences but compares |T| with it, which roughly doubles the error
rate of its two-sided test (benchmarks/sequential.py measures about 0.11 to 0.14 at alpha 0.05). This
module keeps its algorithm and fixes that; the benchmark prints both side by side.

Everything is a pure function of the stage values and the design's seed, so an interim can be recomputed
from the result files at any time and must agree with the decisions already written (analysis.interim checks).
Numpy and scipy only: no mlx.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

SPENDING = ("linear", "pocock", "obrien_fleming")
OPEN, BETTER, WORSE, FUTILE, UNDECIDED = "continue", "better", "worse", "futile", "undecided"
TIE_TOLERANCE = 1e-9  # relative to the data's scale


def spent(alpha: float, t: float, kind: str) -> float:
    """Level spent by information fraction t (0 < t <= 1): alpha at t = 1 for every kind."""
    if kind == "linear":
        return alpha * t
    if kind == "pocock":  # Lan-DeMets Pocock type: spends early
        return alpha * math.log(1 + (math.e - 1) * t)
    if kind == "obrien_fleming":  # Lan-DeMets O'Brien-Fleming type: keeps most of alpha for the end
        return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(t)))
    raise ValueError(f"spending must be one of {', '.join(SPENDING)}, got {kind!r}")


@dataclass(frozen=True)
class Design:
    per_stage: int            # runs per arm (agent) and stage
    max_stages: int
    alpha: float = 0.05       # family-wise level over the whole design
    spending: str = "pocock"
    futility: float = 0.0     # level spent on early "futile" stops (AdaStop's beta); 0: none
    n_permutations: int = 10_000
    seed: int = 0

    @property
    def max_seeds(self) -> int:
        return self.per_stage * self.max_stages


@dataclass(frozen=True)
class Comparison:
    key: str            # e.g. "full vs grpo G=4"
    baseline: str       # agent ids: the values dicts are keyed by them
    candidate: str


@dataclass
class StageResult:
    stage: int                                  # 1-based
    decisions: dict[str, str]                   # comparison key -> OPEN, BETTER, WORSE, FUTILE or UNDECIDED
    decided_now: list[str]
    statistic: dict[str, float]                 # T_k of each comparison open at this stage
    difference: dict[str, float]                # candidate mean - baseline mean over all seeds so far
    n: dict[str, tuple[int, int]]               # (baseline seeds, candidate seeds) so far
    boundary: float                             # the first step's boundary on |T_k| (inf: no rejection possible)
    step_boundaries: list[float]                # every step-down boundary tried at this stage
    faced: dict[str, float]                     # the boundary each open comparison was judged against
    futility_boundary: dict[str, float]
    alpha_spent: float                          # cumulative, as used (<= the spending function)
    next_agents: list[str] = field(default_factory=list)  # agents that the next stage's open comparisons need

    @property
    def finished(self) -> bool:
        return all(d != OPEN for d in self.decisions.values())


def _permuted_differences(rng: np.random.Generator, baseline: np.ndarray, candidate: np.ndarray, n_paths: int) -> np.ndarray:
    """Candidate-minus-baseline mean difference under n_paths random relabellings of one stage's values."""
    pool = np.concatenate([candidate, baseline])
    order = rng.random((n_paths, pool.size)).argsort(axis=1)
    permuted = pool[order]
    return permuted[:, :candidate.size].mean(axis=1) - permuted[:, candidate.size:].mean(axis=1)


def _threshold(null_max: np.ndarray, alive: np.ndarray, budget_paths: int) -> float:
    """The smallest b with at most budget_paths alive paths above it; inf when the budget is zero."""
    values = np.sort(null_max[alive])[::-1]
    if budget_paths <= 0 or values.size == 0:
        return math.inf
    if budget_paths >= values.size:
        return -math.inf
    return float(values[budget_paths])


def _stage_values(values: dict[str, np.ndarray], agent: str, stage: int, key: str) -> np.ndarray:
    v = np.asarray(values.get(agent, []), dtype=float)
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"stage {stage}: comparison {key!r} is open but {agent!r} has no finite values for this stage")
    return v


class SequentialTest:
    """The interims of one campaign, one stage at a time (run_interims replays them from the files)."""

    def __init__(self, design: Design, comparisons: list[Comparison]):
        self.design, self.comparisons = design, comparisons
        B = design.n_permutations
        self.decisions = {c.key: OPEN for c in comparisons}
        self.stat = {c.key: 0.0 for c in comparisons}
        self.null = {c.key: np.zeros(B) for c in comparisons}
        self.seen: dict[str, list[np.ndarray]] = {}
        self.alive = np.ones(B, dtype=bool)  # permutation paths that crossed no boundary so far
        self.alpha_spent = self.futility_spent = 0.0
        self.scale = 0.0  # the largest |value| so far: the unit of the tie tolerance
        self.results: list[StageResult] = []

    @property
    def finished(self) -> bool:
        return all(d != OPEN for d in self.decisions.values())

    def step(self, values: dict[str, np.ndarray]) -> StageResult:
        """The interim after the next stage; values[agent]: that stage's values of every agent still needed."""
        d, decisions, stat, null = self.design, self.decisions, self.stat, self.null
        B, K, k = d.n_permutations, d.max_stages, len(self.results) + 1
        if k > K:
            raise ValueError(f"stage {k} given, the design has at most {K}")
        open_now = [c for c in self.comparisons if decisions[c.key] == OPEN]
        if not open_now:
            raise ValueError(f"stage {k} given, but every comparison was decided by stage {k - 1}")
        for agent, v in values.items():
            self.seen.setdefault(agent, []).append(np.asarray(v, dtype=float))
            self.scale = max(self.scale, float(np.max(np.abs(v), initial=0.0)))
        # Scores on a grid (avg@k) give exact ties between the observed arrangement and permuted ones, which
        # summed in another order differ in the last bits: a tie must not count as exceeding the boundary.
        tol = TIE_TOLERANCE * self.scale
        for i, c in enumerate(self.comparisons):
            if decisions[c.key] != OPEN:
                continue
            b = _stage_values(values, c.baseline, k, c.key)
            x = _stage_values(values, c.candidate, k, c.key)
            stat[c.key] += float(x.mean() - b.mean())
            rng = np.random.default_rng([d.seed, k, i])  # per stage and comparison: reproducible from files
            null[c.key] += _permuted_differences(rng, b, x, B)
        budget = int(math.floor((spent(d.alpha, k / K, d.spending) - self.alpha_spent) * B + 1e-9))
        current, decided_now, boundaries, faced = list(open_now), [], [], {}
        first_max = None
        while current:  # step-down: the largest |T| first, against the maximum over the comparisons left
            null_max = np.max(np.abs(np.stack([null[c.key] for c in current])), axis=0)
            bound = _threshold(null_max, self.alive, budget)
            boundaries.append(bound)
            if first_max is None:
                first_max = null_max
            top = max(current, key=lambda c: abs(stat[c.key]))
            if abs(stat[top.key]) <= bound + tol:
                break
            faced[top.key] = bound
            decisions[top.key] = BETTER if stat[top.key] > 0 else WORSE
            decided_now.append(top.key)
            current.remove(top)
        faced.update({c.key: boundaries[-1] for c in current})  # |T| <= the last step's boundary
        first = boundaries[0]
        self.alpha_spent += float(np.sum(self.alive & (first_max > first + tol)) / B)
        self.alive &= first_max <= first + tol
        futility_bound = {}
        if d.futility > 0:  # non-binding: the rejection boundaries above never assume these stops
            share = spent(d.futility, k / K, d.spending) - self.futility_spent
            self.futility_spent += share
            for c in current:
                futility_bound[c.key] = float(np.quantile(np.abs(null[c.key]), share)) if share > 0 else 0.0
                if abs(stat[c.key]) < futility_bound[c.key] - tol and k < K:
                    decisions[c.key] = FUTILE
                    decided_now.append(c.key)
        if k == K:
            for c in current:
                if decisions[c.key] == OPEN:
                    decisions[c.key] = UNDECIDED
                    decided_now.append(c.key)
        diff, n = {}, {}
        for c in open_now:
            b, x = np.concatenate(self.seen[c.baseline]), np.concatenate(self.seen[c.candidate])
            diff[c.key], n[c.key] = float(x.mean() - b.mean()), (int(b.size), int(x.size))
        needed = [a for c in self.comparisons if decisions[c.key] == OPEN for a in (c.baseline, c.candidate)]
        result = StageResult(
            stage=k, decisions=dict(decisions), decided_now=decided_now,
            statistic={c.key: stat[c.key] for c in open_now}, difference=diff, n=n, boundary=first,
            step_boundaries=boundaries, faced=faced, futility_boundary=futility_bound, alpha_spent=self.alpha_spent,
            next_agents=list(dict.fromkeys(needed)))
        self.results.append(result)
        return result


def run_interims(design: Design, comparisons: list[Comparison], stages: list[dict[str, np.ndarray]],
                 ignore_after_finish: bool = False) -> list[StageResult]:
    """The interim analysis after each stage given so far. stages[j][agent]: the values of stage j+1's runs.
    A stage after every comparison is decided is an error, or ignored with ignore_after_finish."""
    test = SequentialTest(design, comparisons)
    for values in stages:
        if test.finished and ignore_after_finish:
            break
        test.step(values)
    return test.results


def repeated_ci(design: Design, baseline: list[np.ndarray], candidate: list[np.ndarray],
                level_alpha: float) -> tuple[float, float]:
    """A confidence interval for candidate - baseline after the last stage given, valid at a data-dependent
    stopping stage: every shift d that the single-comparison sequential test at level_alpha, run on the
    candidate's values minus d, has not rejected at any stage so far (inverting the sequential test, as
    Jennison & Turnbull's repeated confidence intervals do). The true shift is rejected at some stage with
    probability at most level_alpha, so the interval covers it at least 1 - level_alpha of the time."""
    all_b, all_c = np.concatenate(baseline), np.concatenate(candidate)
    est = float(all_c.mean() - all_b.mean())
    spread = float(np.ptp(np.concatenate([all_b, all_c]))) + abs(est) + 1e-9
    single = Design(design.per_stage, design.max_stages, level_alpha, design.spending, 0.0,
                    design.n_permutations, design.seed)
    comp = [Comparison("c", "b", "x")]

    def rejected(d: float) -> bool:
        stages = [{"b": b, "x": x - d} for b, x in zip(baseline, candidate)]
        return run_interims(single, comp, stages, ignore_after_finish=True)[-1].decisions["c"] in (BETTER, WORSE)

    def edge(direction: float) -> float:
        inside, outside = est, est + direction * 2 * spread
        if not rejected(outside):
            return outside
        for _ in range(30):
            mid = (inside + outside) / 2
            inside, outside = (inside, mid) if rejected(mid) else (mid, outside)
        return inside

    return edge(-1.0), edge(1.0)
