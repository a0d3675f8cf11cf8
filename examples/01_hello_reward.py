"""Step 1: a reward function tells RL what "good" text looks like.

A reward takes (prompt, completion, example) and returns a number. RL raises the probability of
completions with high reward, so this function *is* the training objective.

    python examples/01_hello_reward.py
"""


def hello_reward(prompt: str, completion: str, example: dict, **kwargs) -> float:
    """1.0 for a friendly greeting that answers the name asked for, partial credit otherwise."""
    text = completion.lower()
    score = 0.0
    if any(word in text for word in ("hello", "hi", "hey")):
        score += 0.5
    if example["name"].lower() in text:
        score += 0.5
    return score


if __name__ == "__main__":
    example = {"prompt": "Greet Ada.", "name": "Ada"}
    for completion in ["Hello Ada!", "Hi there.", "Ada.", "Go away."]:
        print(f"{completion!r:14} -> reward {hello_reward(example['prompt'], completion, example):.1f}")
    # A policy that says "Hello Ada!" more often earns more reward: that is all RL optimises.
