"""Step 4: several objectives at once. combine() weights registered rewards, can gate on a verifier,
and keeps every component's raw value, which the trainer writes to generations.jsonl.gz.

    python examples/04_multiple_rewards.py
"""
from textrl.rewards import combine, score_batch, verifier


@verifier
def shows_work(prompt, completion, example, **kwargs):
    return "because" in completion or "=" in completion


objective = combine(
    {"math_correctness": 1.0, "format_compliance": 0.2, "length_penalty": 1.0},
    params={"format_compliance": {"patterns": [r"\\boxed\{"]},
            "length_penalty": {"target_length": 12, "penalty_scale": 0.01}},
    gates=["shows_work"],  # no reasoning shown -> reward 0, whatever the answer
)

if __name__ == "__main__":
    example = {"id": "half", "prompt": "What is 1/4 + 1/4?", "answer": "\\frac{1}{2}"}
    completions = [
        "1/4 + 1/4 = 2/4, which simplifies, so the answer is \\boxed{\\frac{1}{2}}",
        "1/4 + 1/4 = 2/4 = 0.5",
        "\\boxed{0.5}",
        "1/4 + 1/4 = 1/8 so \\boxed{1/8}",
    ]
    for text, score in zip(completions, score_batch(objective, completions, [example] * len(completions))):
        parts = ", ".join(f"{k}={v:+.2f}" for k, v in score["components"].items())
        print(f"{score['reward']:+.3f} correct={score['correct']!s:5}  [{parts}]  {text[:40]!r}")
