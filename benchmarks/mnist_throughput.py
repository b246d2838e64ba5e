"""Training throughput: fedot's device-tensor loop vs a plain torchvision DataLoader loop.

Both train the same MLPNet (same initial weights, SGD lr 0.01 momentum 0.5, batch
64) for one epoch on MNIST. The baseline reads a torchvision-layout copy of MNIST
made in a temporary folder, with ``ToTensor`` + ``Normalize`` per sample and the
standard ``for x, y in loader`` loop. Epochs alternate between the two loops and
the speed-up is the median of the per-pair ratios, so a change in machine load
(this machine is shared) hits both sides of a pair alike.

    python -m benchmarks.mnist_throughput [--mnist DIR] [--repeats 5] [--workers 0]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader
from torchvision import transforms

from fedot.experiments import machine, shared_data_dir
from fedot.data import load_dataset
from fedot.data.idx import IDX_FILES, find_idx_files
from fedot.models import build_model
from fedot.train import TrainConfig, train

BATCH, LR, MOMENTUM = 64, 0.01, 0.5


def torchvision_copy(mnist_dir: Path, root: Path) -> Path:
    """Unpack the four idx files into ``root/MNIST/raw/``, the layout torchvision reads."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    files = find_idx_files(mnist_dir)
    if files is None:
        raise SystemExit(f"no MNIST idx files in {mnist_dir}; pass --mnist DIR")
    for key, path in files.items():
        data = path.read_bytes()
        (raw / IDX_FILES[key]).write_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return root


def dataloader_epoch(model: torch.nn.Module, loader: DataLoader) -> float:
    """One standard epoch; returns images per second."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    model.train()
    count, start = 0, time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        count += len(y)
    return count / (time.perf_counter() - start)


def fedot_epoch(model: torch.nn.Module, dataset, seed: int) -> float:
    result = train(model, dataset, TrainConfig(epochs=1, batch_size=BATCH, lr=LR, momentum=MOMENTUM, seed=seed))
    return result.num_examples / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", type=Path, default=shared_data_dir() / "mnist")
    parser.add_argument("--repeats", type=int, default=5, help="epochs per loop (median reported)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader num_workers for the baseline")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = torchvision_copy(args.mnist, Path(tmp) / "tv")
        start = time.perf_counter()
        dataset = load_dataset("mnist", args.mnist, download=False, cache_dir=Path(tmp) / "cache")
        first_load = time.perf_counter() - start
        start = time.perf_counter()
        dataset = load_dataset("mnist", args.mnist, download=False, cache_dir=Path(tmp) / "cache")
        cached_load = time.perf_counter() - start

        normalise = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        mnist = torchvision.datasets.MNIST(str(root), train=True, download=False, transform=normalise)
        loader = DataLoader(mnist, batch_size=BATCH, shuffle=True, num_workers=args.workers,
                            persistent_workers=args.workers > 0)

        torch.manual_seed(0)
        initial = build_model("mlp", dataset.input_shape, dataset.num_classes).state_dict()
        baseline, ours = [], []
        for repeat in range(args.repeats):
            for runner, rates in ((lambda m: dataloader_epoch(m, loader), baseline),
                                  (lambda m: fedot_epoch(m, dataset, repeat), ours)):
                model = build_model("mlp", dataset.input_shape, dataset.num_classes)
                model.load_state_dict(initial)
                rates.append(runner(model))
            print(f"epoch {repeat + 1}: DataLoader {baseline[-1]:,.0f} img/s, fedot {ours[-1]:,.0f} img/s")

    base, fast = statistics.median(baseline), statistics.median(ours)
    ratios = sorted(f / b for f, b in zip(ours, baseline))
    print(f"machine: {machine()}")
    print(f"fedot load_dataset: first (decode + cache) {first_load:.2f} s, cached {cached_load:.2f} s")
    print(f"DataLoader (num_workers={args.workers}): {base:,.0f} img/s (median of {args.repeats} epochs)")
    print(f"fedot train():               {fast:,.0f} img/s (median of {args.repeats} epochs)")
    print(f"speed-up: {statistics.median(ratios):.1f}x (median of per-epoch ratios {', '.join(f'{r:.1f}' for r in ratios)})")


if __name__ == "__main__":
    main()
