"""Forward and forward+backward time and peak memory of every registered pooling, as ratios to `max`.

    python benchmarks/bench_pooling.py [--repeats 5] [--device cpu|cuda]

Goal (issue 2): `lift` within 4x of `blur`'s forward+backward time at both shapes.
"""

import argparse
import statistics
import time

import torch

from robustbench_lift.pooling import create_pool, list_pools

SHAPES = [(32, 64, 112, 112), (32, 256, 28, 28)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn, device: torch.device, repeats: int) -> float:
    """Median wall time of `fn()` in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


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


def bench(shape: tuple[int, ...], device: torch.device, repeats: int) -> list[dict]:
    x = torch.randn(shape, device=device)
    rows = []
    for name in list_pools():
        pool = create_pool(name, shape[1]).to(device).train()
        xg = x.clone().requires_grad_()

        def forward() -> None:
            with torch.no_grad():
                pool(x)

        def forward_backward() -> None:
            pool(xg).sum().backward()

        rows.append({"pool": name, "fwd_ms": time_call(forward, device, repeats),
                     "fwd_bwd_ms": time_call(forward_backward, device, repeats),
                     "saved_mb": peak_memory_mb(forward_backward, device)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    for shape in SHAPES:
        rows = bench(shape, device, args.repeats)
        base = next(r for r in rows if r["pool"] == "max")
        blur = next(r for r in rows if r["pool"] == "blur")
        print(f"\nshape {shape}   (ratios against max measured in this run; memory = tensors kept for backward"
              f"{'' if device.type == 'cpu' else ', CUDA peak'})")
        print(f"{'pool':<6} {'fwd ms':>9} {'x max':>7} {'fwd+bwd ms':>11} {'x max':>7} {'x blur':>7} {'mem MB':>8}")
        for r in rows:
            print(f"{r['pool']:<6} {r['fwd_ms']:>9.2f} {r['fwd_ms'] / base['fwd_ms']:>7.2f} {r['fwd_bwd_ms']:>11.2f}"
                  f" {r['fwd_bwd_ms'] / base['fwd_bwd_ms']:>7.2f} {r['fwd_bwd_ms'] / blur['fwd_bwd_ms']:>7.2f}"
                  f" {r['saved_mb']:>8.1f}")
        lift = next(r for r in rows if r["pool"] == "lift")
        ratio = lift["fwd_bwd_ms"] / blur["fwd_bwd_ms"]
        print(f"goal lift fwd+bwd <= 4x blur: {ratio:.2f}x -> {'met' if ratio <= 4 else 'MISSED'}")


if __name__ == "__main__":
    main()
