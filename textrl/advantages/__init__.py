"""Advantages for both arms of the A/B, defined once and computed the same way on every backend.

Pure Python + numpy (+ pydantic for the spec): importable without mlx. Formulas, edge cases and worked
examples: docs/advantages.md; plug-ins: docs/extending.md.

- episode:   grpo, grpo_batch, maxrl, reinforce_batch, EmaBaseline        (one number per completion)
- shaping:   sepa_pool, gtpo, gtpo_weights, hicra                          (one completion's tokens)
- sepa:      SepaSchedule                                                  (lambda(step), checkpointed)
- planning:  planning_mask, grams_for, GENERIC_GRAMS, ARITHMETIC_GRAMS     (strategic-phrase tokens)
- plugins:   EpisodeBatch, register_advantage, rloo, reinforce_pp          (episode-level plug-ins)
- pipeline:  AdvantagePipeline (+ presets "grpo" and "full"), PipelineController, PipelineNeeds
"""

from textrl.advantages.episode import EmaBaseline, grpo, grpo_batch, maxrl, reinforce_batch
from textrl.advantages.pipeline import (
    PRESETS,
    AdvantagePipeline,
    GtpoConfig,
    HicraConfig,
    PipelineController,
    PipelineNeeds,
    ReinforceConfig,
    SepaConfig,
)
from textrl.advantages.planning import ARITHMETIC_GRAMS, GENERIC_GRAMS, TASK_GRAMS, grams_for, planning_mask
from textrl.advantages.sepa import SepaSchedule
from textrl.advantages.shaping import gtpo, gtpo_weights, hicra, sepa_pool

__all__ = [
    "ARITHMETIC_GRAMS", "GENERIC_GRAMS", "PRESETS", "TASK_GRAMS",
    "AdvantagePipeline", "EmaBaseline", "GtpoConfig", "HicraConfig", "PipelineController", "PipelineNeeds",
    "ReinforceConfig", "SepaConfig", "SepaSchedule",
    "grams_for", "grpo", "grpo_batch", "gtpo", "gtpo_weights", "hicra", "maxrl", "planning_mask",
    "reinforce_batch", "sepa_pool",
]
