"""The matmuls of one GRPO update alone, in mlx or torch: a floor under what any engine on that backend
can reach for benchmarks/grpo_iteration.py's update (8 x 8 sequences of 6 prompt + 64 new tokens).

Per layer: the forward's projections (q, k, v, o; gate, up, down) and attention products (Q K^T, P V),
and for each of them the two backward products (input and weight gradients), at the shapes the real
update runs. Nothing else (no norms, activations, softmax, optimizer; the 15-token vocabulary's output
layer is negligible). Median of --repeats. Prints JSON.

    .venv/bin/python benchmarks/matmul_floor.py [--arch 1m 20m]               # mlx (+ OpenBLAS)
    .venv-trl/bin/python benchmarks/matmul_floor.py --backend torch            # torch, 2 threads
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROWS, WIDTH = 64, 69  # sequences x (6 + 64 - 1) positions scored
ARCHES = {"1m": {"hidden": 128, "layers": 4, "heads": 4, "mlp": 384},
          "20m": {"hidden": 512, "layers": 6, "heads": 8, "mlp": 1536}}


def products(arch: dict) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(a shape, b shape) of every matmul of one forward + backward pass, for a @ b."""
    n, h, m, H = ROWS * WIDTH, arch["hidden"], arch["mlp"], arch["heads"]
    d = h // H
    linear = [(h, h)] * 4 + [(h, m), (h, m), (m, h)]  # (in, out): q k v o, gate up down
    per_layer = []
    for i, o in linear:
        per_layer += [((n, i), (i, o)), ((n, o), (o, i)), ((i, n), (n, o))]  # forward, d input, d weight
    bh, L = ROWS * H, WIDTH
    per_layer += [((bh, L, d), (bh, d, L)), ((bh, L, L), (bh, L, d))]  # S = Q K^T, O = P V
    per_layer += [((bh, L, L), (bh, L, d))] * 3 + [((bh, L, d), (bh, d, L))]  # dQ, dK, dV; dP
    return per_layer * arch["layers"]


def _size(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def run_mlx(shapes, repeats):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from textrl import fastblas

    fastblas.enable()
    import mlx.core as mx

    pairs = [(mx.random.normal(a), mx.random.normal(b)) for a, b in shapes]
    mx.eval(pairs)

    def once():
        t = time.perf_counter()
        for a, b in pairs:
            mx.eval(a @ b)
        return time.perf_counter() - t

    once()
    return [once() for _ in range(repeats)], {"mlx": mx.__version__, "blas": fastblas.status()["library"]}


def run_torch(shapes, repeats):
    import torch

    torch.set_num_threads(2)
    pairs = [(torch.randn(a), torch.randn(b)) for a, b in shapes]

    def once():
        t = time.perf_counter()
        with torch.no_grad():
            for a, b in pairs:
                a @ b
        return time.perf_counter() - t

    once()
    return [once() for _ in range(repeats)], {"torch": torch.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["mlx", "torch"], default="mlx")
    ap.add_argument("--arch", nargs="+", default=["1m", "20m"], choices=list(ARCHES))
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    out = {"backend": args.backend, "models": {}}
    for name in args.arch:
        shapes = products(ARCHES[name])
        times, versions = (run_mlx if args.backend == "mlx" else run_torch)(shapes, args.repeats)
        flops = sum(2 * _size(a) * b[-1] for a, b in shapes)
        median = statistics.median(times)
        out["models"][name] = {"matmuls": len(shapes), "gflop": round(flops / 1e9, 2),
                               "seconds": round(median, 4), "gflops_per_s": round(flops / median / 1e9, 1)}
        out["versions"] = versions
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
