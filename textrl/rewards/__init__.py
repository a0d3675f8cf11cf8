"""Rewards: the @reward / @verifier registry, built-ins, combination and batch scoring (pure Python).

    from textrl.rewards import reward, score_batch

    @reward
    def shout(prompt, completion, example, **kwargs):
        return float(completion.isupper())

    score_batch("shout", ["HI", "hi"], [{"prompt": "say hi"}] * 2)
"""
from textrl.rewards.registry import (BoundReward, RewardError, RewardSpec, get_reward, known_rewards,
                                     resolve_reward, reward, verifier)
from textrl.rewards.combine import Combined, combine
from textrl.rewards.batch import score_batch
# importing the built-in modules registers them
from textrl.rewards.builtin import exact_match, format_compliance, keyword_contains, length_penalty
from textrl.rewards.math_answer import extract_answer, math_correctness
from textrl.rewards.code_exec import code_execution

__all__ = ["BoundReward", "Combined", "RewardError", "RewardSpec", "code_execution", "combine",
           "exact_match", "extract_answer", "format_compliance", "get_reward", "keyword_contains",
           "known_rewards", "length_penalty", "math_correctness", "resolve_reward", "reward",
           "score_batch", "verifier"]
