"""Step 2: @reward registers a function by name, so configs and tasks can refer to it.

Built-in rewards (exact_match, keyword_contains, length_penalty, format_compliance,
math_correctness, code_execution) live in the same registry; parameters are bound with get_reward.

    python examples/02_reward_decorator.py
"""
from textrl.rewards import get_reward, known_rewards, reward, score_batch, verifier


@reward
def concise(prompt, completion, example, **kwargs):
    """Shorter is better, up to a floor of 3 words."""
    return 1.0 / max(3, len(completion.split()))


@reward(name="cites_source")
def _cites(prompt, completion, example, **kwargs):
    ok = "[1]" in completion
    return {"reward": float(ok), "correct": ok}  # the dict form also reports correctness


@verifier
def ends_with_period(prompt, completion, example, **kwargs):
    return completion.rstrip().endswith(".")


if __name__ == "__main__":
    print("registered:", ", ".join(known_rewards()))
    completion = "Water boils at 100 C at sea level [1]."
    for name in ("concise", "cites_source", "ends_with_period"):
        print(f"{name:17}", score_batch(name, [completion], [{"id": "q1"}])[0])
    keywords = get_reward("keyword_contains", keywords=["boils", "freezes"])
    print("keyword_contains ", keywords("", completion, {}))
    print("math_correctness ", get_reward("math_correctness")("", "so \\boxed{\\frac{1}{2}}", {"answer": "0.5"}))
