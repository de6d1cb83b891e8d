"""Forward and forward+backward time and peak memory of every registered pooling, as ratios to `max`.

    python benchmarks/bench_pooling.py [--repeats 5] [--device cpu|cuda] [--shape 0|1] [--pools aps flc ...]

Goal (issue 2): `lift` within 4x of `blur`'s forward+backward time at both shapes. The row `lift-module` is the
same layer pooled through `decompose` (the op-by-op module path), the peer of the fused Function `lift` runs.
Goal (issue 25): every published pooling (`PUBLISHED`, plus the blurred `aps3` / `lps3`) within 4x of `blur` at
the layer; where one is inherently slower, docs/poolings.md says why (FFTs, per-location filters).
"""

import argparse

import torch
from timing import best_of  # benchmarks/timing.py, next to this script
from torch import nn

from robustbench_lift.pooling import create_pool, list_pools

SHAPES = [(32, 64, 112, 112), (32, 256, 28, 28)]
PUBLISHED = ("aps", "aps3", "lps", "lps3", "flc", "asap", "pasa", "dwt")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device):
    """`fn` followed by a device sync, so that a phase's wall time covers its kernels."""
    def run() -> None:
        fn()
        _sync(device)
    return run


def peak_memory_mb(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        return torch.cuda.max_memory_allocated(device) / 2**20
    saved: dict[int, int] = {}  # storage address -> bytes, so a tensor saved by several ops counts once

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(saved.values()) / 2**20


class ModulePath(nn.Module):
    """A LiftDownPool2d pooled through `decompose`, the module path its fused forward replaces."""

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bands = self.pool.decompose(x)
        return bands.ll + bands.lh + bands.hl + bands.hh


def bench(shape: tuple[int, ...], device: torch.device, repeats: int, only: list[str] | None = None) -> list[dict]:
    """One row per pooling (all, or `only` plus the peers max, blur and lift) at input `shape`: the best wall
    times over `repeats` interleaved rounds."""
    x = torch.randn(shape, device=device)
    xg = x.clone().requires_grad_()  # one input for all, its gradient accumulating alike
    pools = {name: create_pool(name, shape[1]) for name in list_pools()}
    pools["lift-module"] = ModulePath(pools["lift"])
    pools["aps3"] = create_pool("aps", shape[1], filter_size=3)
    pools["lps3"] = create_pool("lps", shape[1], filter_size=3)
    if only:
        pools = {name: pool for name, pool in pools.items() if name in {"max", "blur", "lift", "lift-module", *only}}
    phases, memory = {}, {}
    for name, pool in pools.items():
        pool = pool.to(device).train()

        def forward(pool: nn.Module = pool) -> None:
            with torch.no_grad():
                pool(x)

        def forward_backward(pool: nn.Module = pool) -> None:
            pool(xg).sum().backward()

        forward_backward()  # warm-up (caches, allocator)
        phases[name, "fwd"], phases[name, "fwd_bwd"] = timed(forward, device), timed(forward_backward, device)
        memory[name] = peak_memory_mb(forward_backward, device)
    best = best_of(phases, repeats)  # interleaved rounds: a busy machine slows every pooling alike
    return [{"pool": name, "fwd_ms": 1000 * best[name, "fwd"][0], "fwd_bwd_ms": 1000 * best[name, "fwd_bwd"][0],
             "saved_mb": memory[name]} for name in pools]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--shape", type=int, choices=range(len(SHAPES)), help="only SHAPES[i]")
    parser.add_argument("--pools", nargs="+", help="only these rows (max, blur and lift always run, as peers)")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    for shape in SHAPES if args.shape is None else [SHAPES[args.shape]]:
        rows = bench(shape, device, args.repeats, args.pools)
        base = next(r for r in rows if r["pool"] == "max")
        blur = next(r for r in rows if r["pool"] == "blur")
        print(f"\nshape {shape}   (ratios against max measured in this run; memory = tensors kept for backward"
              f"{'' if device.type == 'cpu' else ', CUDA peak'})")
        print(f"{'pool':<11} {'fwd ms':>9} {'x max':>7} {'fwd+bwd ms':>11} {'x max':>7} {'x blur':>7} {'mem MB':>8}")
        for r in rows:
            print(f"{r['pool']:<11} {r['fwd_ms']:>9.2f} {r['fwd_ms'] / base['fwd_ms']:>7.2f} {r['fwd_bwd_ms']:>11.2f}"
                  f" {r['fwd_bwd_ms'] / base['fwd_bwd_ms']:>7.2f} {r['fwd_bwd_ms'] / blur['fwd_bwd_ms']:>7.2f}"
                  f" {r['saved_mb']:>8.1f}")
        lift = next(r for r in rows if r["pool"] == "lift")
        ratio = lift["fwd_bwd_ms"] / blur["fwd_bwd_ms"]
        print(f"goal lift fwd+bwd <= 4x blur: {ratio:.2f}x -> {'met' if ratio <= 4 else 'MISSED'}")
        for name in [name for name in PUBLISHED if any(r["pool"] == name for r in rows)]:
            r = next(r for r in rows if r["pool"] == name)["fwd_bwd_ms"] / blur["fwd_bwd_ms"]
            print(f"goal {name} fwd+bwd <= 4x blur: {r:.2f}x -> {'met' if r <= 4 else 'MISSED'}")
        module = next(r for r in rows if r["pool"] == "lift-module")
        print(f"lift (fused) / lift-module: forward {lift['fwd_ms'] / module['fwd_ms']:.2f}x, "
              f"fwd+bwd {ratio * blur['fwd_bwd_ms'] / module['fwd_bwd_ms']:.2f}x, "
              f"memory {lift['saved_mb'] / module['saved_mb']:.2f}x")


if __name__ == "__main__":
    main()
