"""VGG11 on CIFAR-10: training throughput and the 60-epoch recipe, on CUDA when present.

Goals on one H100: ≥ 25,000 training images/s at batch 128 and about 87% test
accuracy after 60 epochs (on the JPEG copy of CIFAR-10, expect 2–3 points less
than on the original). The recipe: SGD lr 0.05, momentum 0.9, Nesterov, weight
decay 5e-4, batch 128, cosine schedule after a 5% linear warm-up, random crop +
flip, bf16 autocast and channels_last; the whole training set lives on the GPU.

    python -m benchmarks.vgg11_cifar10                      # throughput, then the recipe
    python -m benchmarks.vgg11_cifar10 --epochs 0           # throughput only
    python -m benchmarks.vgg11_cifar10 --smoke              # tiny CPU run: the script works
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from fedot.experiments import machine, shared_data_dir
from fedot.data import load_dataset
from fedot.models import build_model
from fedot.train import TrainConfig, evaluate, train

RECIPE = TrainConfig(
    batch_size=128, optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4,
    schedule="cosine", warmup=0.05, augment=True, mixed_precision=True, channels_last=True, progress=True,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir(),
                        help="a folder with cifar10-jpeg.npz or cifar-10-batches-py/")
    parser.add_argument("--model", default="vgg11_nobias", help="a fedot.models name (default: the paper's VGG11)")
    parser.add_argument("--epochs", type=int, default=60, help="recipe length; 0 skips the recipe")
    parser.add_argument("--lr", type=float, default=RECIPE.lr, help="peak learning rate of the recipe")
    parser.add_argument("--throughput-steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny run that works on a CPU in seconds")
    parser.add_argument("--out", type=Path, help="also write the numbers here as JSON")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    start = time.perf_counter()
    dataset = load_dataset("cifar10", args.data_dir, download=False).to(device)
    report: dict[str, object] = {"machine": machine(), "model": args.model, "load_seconds": time.perf_counter() - start}
    train_indices = None
    eval_indices = None
    steps, epochs = args.throughput_steps, args.epochs
    if args.smoke:
        generator = torch.Generator().manual_seed(args.seed)  # the JPEG copy is sorted by class
        train_indices = torch.randperm(len(dataset.train_labels), generator=generator)[:256]
        eval_indices = torch.randperm(len(dataset.test_labels), generator=generator)[:256]
        steps, epochs = 3, 1

    torch.manual_seed(args.seed)
    model = build_model(args.model, dataset.input_shape, dataset.num_classes)
    warm = TrainConfig(**{**RECIPE.to_dict(), "steps": min(20, steps), "progress": False})
    train(model, dataset, warm, indices=train_indices)  # cudnn autotuning, allocator warm-up
    timed = train(model, dataset, TrainConfig(**{**warm.to_dict(), "steps": steps}), indices=train_indices)
    report["throughput_images_per_s"] = timed.steps * RECIPE.batch_size / timed.seconds
    print(f"{report['machine']}: {args.model} trains at {report['throughput_images_per_s']:,.0f} images/s "
          f"(batch {RECIPE.batch_size}, {timed.steps} steps)")

    if epochs > 0:
        torch.manual_seed(args.seed)
        model = build_model(args.model, dataset.input_shape, dataset.num_classes)
        recipe = TrainConfig(**{**RECIPE.to_dict(), "epochs": epochs, "seed": args.seed, "lr": args.lr})
        result = train(model, dataset, recipe, indices=train_indices)
        test = evaluate(model, dataset, indices=eval_indices)
        report.update(epochs=epochs, train_seconds=result.seconds, train_loss=result.loss,
                      test_accuracy=test.accuracy, test_loss=test.loss)
        print(f"{epochs} epochs in {result.seconds:.0f} s: test accuracy {test.accuracy:.4f}, loss {test.loss:.4f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
