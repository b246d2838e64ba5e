"""How fast fedot.fusion fuses, and how it scales with the number of models.

    python -m benchmarks.fusion_speed [--models vgg11 resnet18] [--many 16] [--repeats 5]

Run from the repository root. For each architecture, randomly initialised models with CIFAR-10
shapes are fused in weights mode with exact OT (the defaults of ``fedot.fusion.fuse``):

* time — 2 and ``--many`` models, fused alternately in one process after a warm-up, so both
  see the same machine load; best and median of ``--repeats`` runs, and the ratio of the bests;
* memory — the peak resident set of a fresh process that builds the models and fuses once, and
  how far fusing raised it above the level reached once the models were built (torch's
  allocations are invisible to ``tracemalloc``, so this uses ``resource.getrusage``).

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch

from fedot.fusion import PAPER, fuse
from fedot.models import build_model

INPUT_SHAPE = (3, 32, 32)


def _models(name: str, count: int) -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return [build_model(name, INPUT_SHAPE, 10) for _ in range(count)]


def _warm_up() -> None:
    small = build_model("cnn_bn", INPUT_SHAPE, 10)
    fuse([small, small], recipe=PAPER, input_shape=INPUT_SHAPE)  # lazy imports, solver, allocator


def _times(name: str, many: int, repeats: int) -> dict[str, list[float]]:
    _warm_up()
    models = _models(name, many)
    times: dict[str, list[float]] = {"two": [], "many": []}
    for _ in range(repeats):
        for key, subset in (("two", models[:2]), ("many", models)):
            start = time.perf_counter()
            fuse(subset, recipe=PAPER, input_shape=INPUT_SHAPE)
            times[key].append(time.perf_counter() - start)
    return times


def _memory(name: str, count: int) -> dict[str, float]:
    _warm_up()
    models = _models(name, count)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fuse(models, recipe=PAPER, input_shape=INPUT_SHAPE)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_mib": peak / 1024, "added_mib": (peak - before) / 1024}


def _in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as executor:
        return executor.submit(function, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vgg11", "vgg11_nobias", "resnet18"])
    parser.add_argument("--many", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"{platform.machine()}, load average at start {os.getloadavg()[0]:.1f}\n"
    )
    n = args.many
    print(
        f"| model | params | 2 models: best / median (s) | {n} models: best / median (s) | ratio of bests "
        f"| peak RSS, 2 / {n} models (MiB) | added by fusing, 2 / {n} (MiB) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.models:
        times = _in_fresh_process(_times, name, n, args.repeats)
        two, many = _in_fresh_process(_memory, name, 2), _in_fresh_process(_memory, name, n)
        parameters = sum(p.numel() for p in build_model(name, INPUT_SHAPE, 10).parameters())
        best_two, best_many = min(times["two"]), min(times["many"])
        print(
            f"| {name} | {parameters / 1e6:.1f} M "
            f"| {best_two:.2f} / {statistics.median(times['two']):.2f} "
            f"| {best_many:.2f} / {statistics.median(times['many']):.2f} | {best_many / best_two:.1f}× "
            f"| {two['peak_mib']:.0f} / {many['peak_mib']:.0f} | {two['added_mib']:.0f} / {many['added_mib']:.0f} |",
            flush=True,
        )
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
