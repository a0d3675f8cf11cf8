"""The matmuls of one GRPO iteration alone, in mlx or torch: a floor under what any engine on that backend
can reach for benchmarks/grpo_iteration.py's update or generation (8 x 8 sequences of 6 prompt + 64
new tokens).

Update (`--phase update`), per layer: the forward's projections (q, k, v, o; gate, up, down) and
attention products (Q K^T, P V), and for each of them the two backward products (input and weight
gradients), at the shapes the real update runs. Generation (`--phase generation`): the same forward
products for one new token of all 64 rows at each of the 64 decode steps, attention over the keys so
far (the 6-token prefill is left out); mlx evaluates each step's products together, as a decode step
does. Nothing else (no norms, activations, softmax, optimizer; the 15-token vocabulary's output layer
is negligible). Median of --repeats. Prints JSON.

    .venv/bin/python benchmarks/matmul_floor.py [--arch 1m 20m] [--phase update generation]  # mlx (+ OpenBLAS)
    .venv-trl/bin/python benchmarks/matmul_floor.py --backend torch                          # torch, 2 threads
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROWS, PROMPT, NEW = 64, 6, 64  # sequences, prompt tokens, new tokens
WIDTH = PROMPT + NEW - 1  # positions scored in the update
ARCHES = {"1m": {"hidden": 128, "layers": 4, "heads": 4, "mlp": 384},
          "20m": {"hidden": 512, "layers": 6, "heads": 8, "mlp": 1536}}


Shapes = list[tuple[tuple[int, ...], tuple[int, ...]]]  # (a shape, b shape) of each a @ b


def linear_shapes(arch: dict) -> list[tuple[int, int]]:
    h, m = arch["hidden"], arch["mlp"]
    return [(h, h)] * 4 + [(h, m), (h, m), (m, h)]  # (in, out): q k v o, gate up down


def update_products(arch: dict) -> list[Shapes]:
    """Every matmul of one forward + backward pass, as one group."""
    n, H = ROWS * WIDTH, arch["heads"]
    d = arch["hidden"] // H
    per_layer = []
    for i, o in linear_shapes(arch):
        per_layer += [((n, i), (i, o)), ((n, o), (o, i)), ((i, n), (n, o))]  # forward, d input, d weight
    bh, L = ROWS * H, WIDTH
    per_layer += [((bh, L, d), (bh, d, L)), ((bh, L, L), (bh, L, d))]  # S = Q K^T, O = P V
    per_layer += [((bh, L, L), (bh, L, d))] * 3 + [((bh, L, d), (bh, d, L))]  # dQ, dK, dV; dP
    return [per_layer * arch["layers"]]


def generation_products(arch: dict) -> list[Shapes]:
    """The forward's matmuls of each decode step, a group per step."""
    bh, d = ROWS * arch["heads"], arch["hidden"] // arch["heads"]
    steps = []
    for keys in range(PROMPT + 1, PROMPT + NEW + 1):
        per_layer = [((ROWS, i), (i, o)) for i, o in linear_shapes(arch)]
        per_layer += [((bh, 1, d), (bh, d, keys)), ((bh, 1, keys), (bh, keys, d))]
        steps.append(per_layer * arch["layers"])
    return steps


def _size(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def run_mlx(groups: list[Shapes], repeats: int, phase: str):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from textrl import fastblas

    fastblas.enable()
    import mlx.core as mx

    groups = [[(mx.random.normal(a), mx.random.normal(b)) for a, b in shapes] for shapes in groups]
    mx.eval(groups)

    def once():
        t = time.perf_counter()
        for pairs in groups:
            if phase == "generation":  # one evaluation per decode step
                mx.eval([a @ b for a, b in pairs])
            else:  # one at a time: the update's products are large, together they would not fit in memory
                for a, b in pairs:
                    mx.eval(a @ b)
        return time.perf_counter() - t

    once()
    return [once() for _ in range(repeats)], {"mlx": mx.__version__, "blas": fastblas.status()["library"]}


def run_torch(groups: list[Shapes], repeats: int, phase: str):
    import torch

    torch.set_num_threads(2)
    groups = [[(torch.randn(a), torch.randn(b)) for a, b in shapes] for shapes in groups]

    def once():
        t = time.perf_counter()
        with torch.no_grad():
            for pairs in groups:
                for a, b in pairs:
                    a @ b
        return time.perf_counter() - t

    once()
    return [once() for _ in range(repeats)], {"torch": torch.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["mlx", "torch"], default="mlx")
    ap.add_argument("--arch", nargs="+", default=["1m", "20m"], choices=list(ARCHES))
    ap.add_argument("--phase", nargs="+", default=["update", "generation"], choices=["update", "generation"])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    out = {"backend": args.backend, "models": {}}
    for name in args.arch:
        for phase in args.phase:
            groups = (update_products if phase == "update" else generation_products)(ARCHES[name])
            run = run_mlx if args.backend == "mlx" else run_torch
            times, versions = run(groups, args.repeats, phase)
            shapes = [s for group in groups for s in group]
            flops = sum(2 * _size(a) * b[-1] for a, b in shapes)
            median = statistics.median(times)
            out["models"].setdefault(name, {})[phase] = {
                "matmuls": len(shapes), "gflop": round(flops / 1e9, 2), "seconds": round(median, 4),
                "gflops_per_s": round(flops / median / 1e9, 1)}
            out["versions"] = versions
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
