"""How fast fedot.fusion fuses, and how it scales with the number of models.

    python -m benchmarks.fusion_speed [--repeats 5] [--many 16]     # from the repository root

For each architecture: fuse 2 and ``--many`` randomly initialised models (weights mode, exact OT,
CIFAR-10 shapes), report the median wall time over ``--repeats`` runs after one warm-up, the
ratio of the two, and the peak resident memory of the process that ran them. Each scenario runs
in a fresh process so the peak belongs to it alone. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from fedot.fusion import fuse
from fedot.models import build_model

INPUT_SHAPE = (3, 32, 32)


def _measure(model_name: str, count: int, repeats: int) -> dict[str, float]:
    small = build_model("cnn_bn", INPUT_SHAPE, 10)
    fuse([small, small], input_shape=INPUT_SHAPE)  # warm-up: lazy imports, solver, allocator
    torch.manual_seed(0)
    models = [build_model(model_name, INPUT_SHAPE, 10) for _ in range(count)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fuse(models, input_shape=INPUT_SHAPE)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": statistics.median(times),
        "peak_mib": peak / 1024,
        "extra_mib": (peak - before) / 1024,
        "parameters": sum(p.numel() for p in models[0].parameters()),
    }


def _in_fresh_process(model_name: str, count: int, repeats: int) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as executor:
        return executor.submit(_measure, model_name, count, repeats).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg11", "vgg11_nobias", "resnet18"])
    parser.add_argument("--many", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.1f}"
    )
    print()
    print(
        f"| model | params | 2 models (s) | {args.many} models (s) | ratio | "
        f"peak RSS, 2 / {args.many} (MiB) | added by fusing, 2 / {args.many} (MiB) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.models:
        two = _in_fresh_process(name, 2, args.repeats)
        many = _in_fresh_process(name, args.many, max(1, args.repeats // 2))
        print(
            f"| {name} | {two['parameters'] / 1e6:.1f} M | {two['seconds']:.2f} | {many['seconds']:.2f} | "
            f"{many['seconds'] / two['seconds']:.1f}× | {two['peak_mib']:.0f} / {many['peak_mib']:.0f} | "
            f"{two['extra_mib']:.0f} / {many['extra_mib']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
