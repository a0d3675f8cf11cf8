"""Step 3: score a whole batch at once, the way the trainer does every step.

Fast rewards run inline; slow ones run in a bounded pool. code_execution runs every completion in
its own sandboxed child process (timeouts, rlimits, no network, empty environment).

    python examples/03_batch_processing.py
"""
import random
import time

from textrl.rewards import get_reward, score_batch
from textrl.tasks import get_task

if __name__ == "__main__":
    task = get_task("arithmetic")  # the built-in tiny task: "07+45=" -> "52"
    train, _ = task.split(seed=1234, heldout_size=500)
    rng = random.Random(0)
    batch = train[:2000]
    # pretend policy: right 30 % of the time, off by one otherwise
    completions = [task.target(ex) if rng.random() < 0.3 else str(ex.answer + 1) for ex in batch]

    start = time.perf_counter()
    scores = score_batch("exact_match", completions, batch)
    elapsed = time.perf_counter() - start
    accuracy = sum(s["correct"] for s in scores) / len(scores)
    print(f"exact_match: {len(batch)} completions in {elapsed * 1000:.0f} ms, correct rate {accuracy:.3f}")
    assert scores == task.score(completions, batch)  # the task scores the same way

    tests = {"id": "inc", "tests": ["assert inc(1) == 2", "assert inc(-1) == 0"]}
    programs = ["def inc(x): return x + 1", "def inc(x): return x", "while True: pass", "import os; os.fork()"]
    start = time.perf_counter()
    scores = score_batch(get_reward("code_execution", timeout_s=1.0), programs, [tests] * 4, max_workers=4)
    print(f"code_execution: {len(programs)} sandboxed programs in {time.perf_counter() - start:.1f} s ->",
          [s["reward"] for s in scores])
