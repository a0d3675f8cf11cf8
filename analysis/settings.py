"""The analysis settings of a campaign: plan.json["spec"]["analysis"] with every missing key defaulted.

Keys read (all optional): baseline, candidates (or candidate), comparisons, primary, secondary, alpha, paired, primary_test, correction,
effect_of_interest, equivalence_margin, aa_check, and power_preview.power. Unknown keys are ignored, so the report does not
depend on the exact spec schema; a value of the wrong kind is a ConfigError naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from analysis.compare import PRIMARY_TESTS
from analysis.power import CORRECTIONS
from textrl.endpoints import ENDPOINTS
from textrl.errors import ConfigError



@dataclass(frozen=True)
class Settings:
    baseline: str | None = None             # arm name; None -> the first arm of the plan
    candidates: tuple[str, ...] = ()        # () -> every arm except the baseline
    comparisons: str = "baseline"           # baseline: candidates vs the baseline; all_pairs: every pair
    primary: str = "avg_at_k"
    secondary: tuple[str, ...] = ("reward_auc", "final_reward")  # the campaign spec's default too
    alpha: float = 0.05
    paired: bool = False
    primary_test: str = "welch"             # welch (t; paired t when paired) or permutation
    correction: str = "holm"
    effect_of_interest: float = 0.05
    equivalence_margin: float | None = None  # TOST within +/- this margin
    aa_check: bool = True
    power: float = 0.8

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _fail(key: str, expected: str, got) -> ConfigError:
    return ConfigError(f"plan.json spec.analysis{'.' + key if key else ''}: expected {expected}, got {got!r}")


def settings_from_spec(spec: dict | None) -> Settings:
    spec = spec or {}
    a = spec.get("analysis") or {}
    if not isinstance(a, dict):
        raise _fail("", "a mapping", a)
    kw: dict = {}
    if a.get("baseline") is not None:
        kw["baseline"] = str(a["baseline"])
    cand = a.get("candidates", a.get("candidate"))
    if isinstance(cand, str) and cand != "all":
        kw["candidates"] = (cand,)
    elif isinstance(cand, list):
        kw["candidates"] = tuple(str(c) for c in cand)
    elif cand not in (None, "all"):
        raise _fail("candidates", "an arm name, a list of arm names, 'all' or null", cand)
    if a.get("comparisons") is not None:
        if a["comparisons"] not in ("baseline", "all_pairs"):
            raise _fail("comparisons", "baseline or all_pairs", a["comparisons"])
        kw["comparisons"] = a["comparisons"]
    if a.get("primary") is not None:
        if a["primary"] not in ENDPOINTS:
            raise _fail("primary", f"one of {', '.join(ENDPOINTS)}", a["primary"])
        kw["primary"] = a["primary"]
    if a.get("secondary") is not None:
        sec = a["secondary"]
        if not isinstance(sec, list) or any(s not in ENDPOINTS for s in sec):
            raise _fail("secondary", f"a list drawn from {', '.join(ENDPOINTS)}", sec)
        kw["secondary"] = tuple(sec)
    if a.get("alpha") is not None:
        if not isinstance(a["alpha"], (int, float)) or not 0 < a["alpha"] < 1:
            raise _fail("alpha", "a number between 0 and 1", a["alpha"])
        kw["alpha"] = float(a["alpha"])
    for key in ("paired", "aa_check"):
        if a.get(key) is not None:
            if not isinstance(a[key], bool):
                raise _fail(key, "true or false", a[key])
            kw[key] = a[key]
    if a.get("primary_test") is not None:
        if a["primary_test"] not in PRIMARY_TESTS:
            raise _fail("primary_test", f"one of {', '.join(PRIMARY_TESTS)}", a["primary_test"])
        kw["primary_test"] = a["primary_test"]
    if a.get("correction") is not None:
        if a["correction"] not in CORRECTIONS:
            raise _fail("correction", f"one of {', '.join(CORRECTIONS)}", a["correction"])
        kw["correction"] = a["correction"]
    if a.get("effect_of_interest") is not None:
        e = a["effect_of_interest"]
        if not isinstance(e, (int, float)) or e <= 0:
            raise _fail("effect_of_interest", "a positive number", e)
        kw["effect_of_interest"] = float(e)
    if a.get("equivalence_margin") is not None:
        m = a["equivalence_margin"]
        if not isinstance(m, (int, float)) or isinstance(m, bool) or m <= 0:
            raise _fail("equivalence_margin", "a positive number or null", m)
        kw["equivalence_margin"] = float(m)
    pw = (spec.get("power_preview") or {}).get("power")
    if isinstance(pw, (int, float)) and 0 < pw < 1:
        kw["power"] = float(pw)
    out = Settings(**kw)
    return replace(out, secondary=tuple(dict.fromkeys(e for e in out.secondary if e != out.primary)))
