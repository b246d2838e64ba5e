"""Fusion quality (issue 2): two models trained from different seeds on the full training set, fused.

Reports the parents, their prediction ensemble, plain averaging, OT fusion as in the paper
(weights mode, activations mode) and fedot's further variants, all on the test set. Fusion
reads only ``--samples`` unlabelled training images (activations, repair, guard); no label
and no test image influences a fused model. Trained parents are cached under
``benchmarks/.cache`` (git-ignored), so reruns only fuse.

    python -m benchmarks.fusion_quality                                  # MNIST, MLPNet, 10 epochs
    python -m benchmarks.fusion_quality --dataset cifar10 --model vgg11_nobias --epochs 60   # GPU
    python -m benchmarks.fusion_quality --dataset cifar10 --model resnet18 --epochs 60       # GPU
    python -m benchmarks.fusion_quality --dataset cifar10 --model vgg11_nobias --smoke       # CPU check
    python -m benchmarks.fusion_quality --dataset cifar10 --seeds 1 --train-only   # one parent (parallel jobs)

MNIST recipe (the paper's): SGD lr 0.01, momentum 0.5, batch 64, no augmentation
(``fedot.train.TrainConfig`` defaults). CIFAR-10 recipe: ``benchmarks.vgg11_cifar10.RECIPE``
(SGD lr 0.05, momentum 0.9, Nesterov, weight decay 5e-4, batch 128, cosine after a 5% warm-up,
crop + flip).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from fedot.data import ImageDataset, load_dataset, normalized_batches
from fedot.experiments import REPO, fuse_on_device_or_cpu, machine, shared_data_dir
from fedot.fusion import PAPER, average, fuse
from fedot.fusion.distill import distill
from fedot.models import build_model
from fedot.recipe import DistillRecipe
from fedot.train import TrainConfig, evaluate, evaluate_ensemble, train

CACHE = REPO / "benchmarks" / ".cache"
DEFAULT = "fedot default (the default Recipe: select + refine + repair + guard)"

Variant = Callable[[list[nn.Module], list[torch.Tensor]], nn.Module]

VARIANTS: dict[str, Variant] = {
    "plain average": lambda m, x: average(m),
    "OT, weights (paper)": lambda m, x: fuse(m, recipe=PAPER),
    "OT, activations (paper)": lambda m, x: fuse(m, inputs=x, recipe=PAPER.replace(align="activations")),
    "plain average + repair": lambda m, x: fuse(m, inputs=x, recipe=PAPER.replace(align="none", repair=True)),
    "OT, weights + repair": lambda m, x: fuse(m, inputs=x, recipe=PAPER.replace(repair=True)),
    "OT, activations (correlation) + repair": lambda m, x: fuse(
        m, inputs=x, recipe=PAPER.replace(align="activations", metric="correlation", repair=True)
    ),
    "OT, weights, sinkhorn 0.01 + repair": lambda m, x: fuse(
        m, inputs=x, recipe=PAPER.replace(solver="sinkhorn", reg=0.01, repair=True)
    ),
    "OT, weights, barycenter 3 it. + repair": lambda m, x: fuse(m, inputs=x, recipe=PAPER.replace(iterations=3, repair=True)),
    "OT, weights + refine 20 + repair": lambda m, x: fuse(m, inputs=x, recipe=PAPER.replace(refine=20, repair=True)),
    DEFAULT: lambda m, x: fuse(m, inputs=x),
}
DISTILLED = "fedot default, then distill (distill-* defaults; not pure fusion)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10"])
    parser.add_argument("--model", default=None, help="fedot.models name (default: mlp for MNIST, vgg11_nobias for CIFAR-10)")
    parser.add_argument("--data-dir", type=Path, help="default: ../shared/data/mnist or ../shared/data")
    parser.add_argument("--epochs", type=int, default=None, help="default: 10 (MNIST) or 60 (CIFAR-10)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="the parents' seeds (≥ 2 to fuse)")
    parser.add_argument("--train-only", action="store_true",
                        help="train and cache the parents, then stop (run one process per seed to train in parallel)")
    parser.add_argument("--samples", type=int, nargs="+", default=[200],
                        help="unlabelled training images the fusion may read; several values: one table each")
    parser.add_argument("--smoke", action="store_true", help="tiny subsets and 1 epoch: checks the script on a CPU")
    parser.add_argument("--out", type=Path, help="also write the numbers here as JSON")
    args = parser.parse_args()
    if len(args.seeds) < 2 and not args.train_only:
        parser.error(f"fusing needs at least two parents: give --seeds two or more seeds (got {args.seeds})")

    mnist = args.dataset == "mnist"
    model_name = args.model or ("mlp" if mnist else "vgg11_nobias")
    epochs = args.epochs or (10 if mnist else 60)
    data_dir = args.data_dir or (shared_data_dir() / "mnist" if mnist else shared_data_dir())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dataset = load_dataset(args.dataset, data_dir, download=False).to(device)
    recipe = TrainConfig(epochs=epochs) if mnist else _cifar_recipe(epochs)
    train_rows = test_rows = None
    if args.smoke:
        generator = torch.Generator().manual_seed(0)
        train_rows = torch.randperm(len(dataset.train_labels), generator=generator)[:512]
        test_rows = torch.randperm(len(dataset.test_labels), generator=generator)[:512]
        recipe = TrainConfig(**{**recipe.to_dict(), "epochs": 1, "progress": False})

    parents = [parent(model_name, dataset, recipe, seed, train_rows, args.smoke) for seed in args.seeds]
    if args.train_only:
        return
    score = lambda model: 100 * evaluate(model, dataset, indices=test_rows).accuracy  # noqa: E731
    report: dict[str, object] = {
        "machine": machine(), "dataset": args.dataset, "model": model_name, "epochs": epochs,
        "recipe": recipe.to_dict(), "seeds": args.seeds,
        "parents": [score(p) for p in parents],
        "ensemble": 100 * evaluate_ensemble(parents, dataset, indices=test_rows).accuracy,
        "fusions": {},
    }  # fmt: skip
    print(f"{report['machine']}; {args.dataset}, {model_name}, {epochs} epochs, seeds {args.seeds}")
    print(f"parents {', '.join(f'{a:.2f}' for a in report['parents'])}; ensemble {report['ensemble']:.2f}")
    for samples in args.samples:
        rows = torch.randperm(len(dataset.train_labels), generator=torch.Generator().manual_seed(1234))[:samples]
        inputs = normalized_batches(dataset, num_batches=-(-samples // 100), batch_size=100, indices=rows, seed=0)
        results: dict[str, dict[str, float]] = {}
        for name, variant in VARIANTS.items():
            start = time.perf_counter()
            fused, info = fuse_on_device_or_cpu(variant, parents, inputs)
            results[name] = {"accuracy": score(fused), "seconds": time.perf_counter() - start, **info}
            print(f"  [{samples} samples] {name}: {results[name]['accuracy']:.2f} ({results[name]['seconds']:.1f} s)", flush=True)
            if name == DEFAULT:
                start = time.perf_counter()
                distilled, info = fuse_on_device_or_cpu(
                    lambda models, x: distill(fused.to(next(models[0].parameters()).device), models, inputs=x, recipe=DistillRecipe()),
                    parents, inputs,
                )  # fmt: skip
                results[DISTILLED] = {"accuracy": score(distilled), "seconds": time.perf_counter() - start, **info}
                print(f"  [{samples} samples] {DISTILLED}: {results[DISTILLED]['accuracy']:.2f}", flush=True)
        report["fusions"][samples] = results
    print_table(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


def print_table(report: dict) -> None:
    """The results as a Markdown table: one row per variant, one column per sample count."""
    counts = list(report["fusions"])
    print("\n| | " + " | ".join(f"test accuracy, fusion reads {n} unlabelled images" for n in counts) + " |")
    print("| --- |" + " ---: |" * len(counts))
    for index, accuracy in enumerate(report["parents"]):
        print(f"| parent {index} (seed {report['seeds'][index]}) |" + f" {accuracy:.2f} |" * len(counts))
    print("| prediction ensemble |" + f" {report['ensemble']:.2f} |" * len(counts))
    for name in report["fusions"][counts[0]]:
        print(f"| {name} | " + " | ".join(f"{report['fusions'][n][name]['accuracy']:.2f}" for n in counts) + " |")


def _cifar_recipe(epochs: int) -> TrainConfig:
    from benchmarks.vgg11_cifar10 import RECIPE

    return TrainConfig(**{**RECIPE.to_dict(), "epochs": epochs, "progress": False})


def parent(name: str, dataset: ImageDataset, recipe: TrainConfig, seed: int, rows: torch.Tensor | None, smoke: bool) -> nn.Module:
    """A model trained from seed ``seed`` with ``recipe`` (loaded from the cache when there)."""
    path = CACHE / f"{dataset.name}-{name}-e{recipe.epochs}-s{seed}{'-smoke' if smoke else ''}.pt"
    torch.manual_seed(seed)
    model = build_model(name, dataset.input_shape, dataset.num_classes).to(dataset.device)
    if path.exists():
        model.load_state_dict(torch.load(path, map_location=dataset.device))
        return model.eval()
    start = time.perf_counter()
    result = train(model, dataset, TrainConfig(**{**recipe.to_dict(), "seed": seed}), indices=rows)
    print(f"trained {name} seed {seed}: {result.seconds:.0f} s, final train loss {result.loss:.4f} "
          f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, path)
    return model.eval()


if __name__ == "__main__":
    main()
