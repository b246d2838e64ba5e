"""Multi-round comparison (issue 6): accuracy per round of each strategy, and rounds to FedAvg's final accuracy.

    python -m simulations.rounds --config simulations/rounds_mnist_mlp.toml [--workers 2] [--seeds 0]

Every (seed, variant) runs its own federation for ``rounds`` rounds: each round the clients start from
that variant's global model (round 1: as ``init`` says), train as the ClientApp does
(``simulations/common.py``), and the variant aggregates them. Writes ``<output>.json``, ``<output>.md``
(accuracy at selected rounds, mean ± std; rounds each variant needs to reach FedAvg's last-round
accuracy) and ``<output>.png`` (accuracy per round).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import textwrap
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from fedot.experiments import machine, single_threaded_worker
from fedot.federation import server_batches, server_dataset
from simulations.common import (
    REPO,
    aggregate,
    base_config,
    describe_run,
    load_toml,
    mean_std_text,
    accuracy_of,
    train_clients,
    variants_of,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "simulations" / "rounds_mnist_mlp.toml")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--rounds", type=int, help="override the config's rounds (e.g. a quick check)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)

    spec = load_toml(args.config)
    output = args.output or REPO / spec["output"]
    if args.report_only:
        write_report(json.loads(output.with_suffix(".json").read_text()), output)
        return
    base = base_config(spec["run"])
    if args.rounds:
        base = base.replace(rounds=args.rounds)
    variants = variants_of(spec["variants"])
    seeds = args.seeds or spec["seeds"]
    jobs = [(base.to_flower(), seed, variant) for seed in seeds for variant in variants]
    print(f"{len(jobs)} federations of {base.rounds} rounds; {describe_run(base)}", flush=True)
    started = time.perf_counter()
    curves = []
    # spawn, not fork: a forked worker cannot use CUDA once the parent has touched it
    with ProcessPoolExecutor(args.workers, multiprocessing.get_context("spawn"), single_threaded_worker) as pool:
        for curve in pool.map(run_rounds, jobs):
            curves.append(curve)
            print(f"seed {curve['seed']} {curve['variant']}: " + " ".join(f"{100 * a:.1f}" for a in curve["accuracy"])
                  + f"  ({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    document = {
        "config": str(args.config), "run": base.to_flower(), "machine": machine(),
        "variants": [{"name": v.name, "strategy": v.strategy, **v.overrides} for v in variants],
        "wall_seconds": time.perf_counter() - started, "curves": curves,
    }  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(document, indent=1))
    write_report(document, output)


def run_rounds(job: tuple) -> dict[str, Any]:
    """One variant's federation for ``rounds`` rounds: test accuracy of its global model after each."""
    run, seed, variant = job
    from fedot.config import RunConfig
    from fedot.federation import initial_model

    config = RunConfig.from_flower({**run, "seed": seed})
    dataset = server_dataset(config)
    inputs = server_batches(config, dataset)
    global_state = {k: v.clone() for k, v in initial_model(config, dataset).state_dict().items()}
    accuracy, ensemble, seconds = [], [], []
    for server_round in range(1, config.rounds + 1):
        clients = train_clients(config, dataset, server_round, global_state, cache=None)
        start = time.perf_counter()
        model, _ = aggregate(variant, config, dataset, clients, inputs)
        seconds.append(time.perf_counter() - start)
        accuracy.append(accuracy_of(model, dataset, clients))
        ensemble.append(accuracy_of(None, dataset, clients))
        global_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"seed": seed, "variant": variant.name, "accuracy": accuracy, "ensemble": ensemble, "aggregation_seconds": seconds}


def rounds_to(curve: list[float], target: float) -> int | None:
    """The first round (1-based) whose accuracy reaches ``target``, or None."""
    return next((index + 1 for index, value in enumerate(curve) if value >= target), None)


def write_report(document: dict[str, Any], output: Path) -> None:
    curves = document["curves"]
    variants = [v["name"] for v in document["variants"]]
    rounds = len(curves[0]["accuracy"])
    marks = [r for r in (1, 2, 3, 5, 10, 20, 30, 40, 50, 100) if r <= rounds]
    if rounds not in marks:
        marks.append(rounds)
    by_variant = {v: [c for c in curves if c["variant"] == v] for v in variants}
    lines = [f"Run: {describe_run_values(document['run'])}. Machine: {document['machine']}. "
             f"Wall time {document['wall_seconds'] / 60:.1f} min. Test accuracy (%) of the global model after each "
             f"round, mean ± std over the seeds {sorted({c['seed'] for c in curves})}.", ""]  # fmt: skip
    lines.append("| variant | " + " | ".join(f"round {r}" for r in marks) + " |")
    lines.append("| --- |" + " ---: |" * len(marks))
    for variant in variants:
        cells = []
        for r in marks:
            cells.append(mean_std_text([100 * c["accuracy"][r - 1] for c in by_variant[variant]]))
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    if "fedavg" in by_variant:
        lines += ["", f"**Rounds to FedAvg's round-{rounds} accuracy** (per seed: FedAvg's own last-round accuracy)", "",
                  "| variant | " + " | ".join(f"seed {c['seed']}" for c in by_variant["fedavg"]) + " |",
                  "| --- |" + " ---: |" * len(by_variant["fedavg"])]  # fmt: skip
        targets = {c["seed"]: c["accuracy"][-1] for c in by_variant["fedavg"]}
        for variant in variants:
            cells = []
            for seed, target in targets.items():
                curve = next(c for c in by_variant[variant] if c["seed"] == seed)["accuracy"]
                reached = rounds_to(curve, target)
                cells.append(f"{reached} ({100 * target:.1f}%)" if reached else f"not in {rounds}")
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(by_variant, output.with_suffix(".png"), document)
    print(f"tables → {output.with_suffix('.md')}\nplot → {output.with_suffix('.png')}")


def describe_run_values(run: dict[str, Any]) -> str:
    keys = ("dataset", "model", "clients", "partition", "alpha", "init", "rounds", "local-epochs", "batch-size", "lr",
            "momentum", "server-samples")  # fmt: skip
    return ", ".join(f"{key} {run[key]}" for key in keys)


def plot(by_variant: dict[str, list[dict[str, Any]]], path: Path, document: dict[str, Any]) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.8), layout="constrained")
    axes = figure.add_subplot()
    for variant, curves in by_variant.items():
        values = torch.tensor([c["accuracy"] for c in curves], dtype=torch.float64) * 100
        mean = values.mean(0)
        rounds = range(1, values.shape[1] + 1)
        line, = axes.plot(rounds, mean, label=variant)
        if values.shape[0] > 1:
            std = values.std(0)
            axes.fill_between(rounds, mean - std, mean + std, alpha=0.2, color=line.get_color())
    ensemble = torch.tensor([c["ensemble"] for cs in by_variant.values() for c in cs[:1]], dtype=torch.float64) * 100
    axes.set_xlabel("round")
    axes.set_ylabel("test accuracy (%)")
    axes.set_ylim(max(0.0, float(ensemble.min()) - 30), 100)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    axes.set_title(textwrap.fill(describe_run_values(document["run"]), 110), fontsize="small")
    figure.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
