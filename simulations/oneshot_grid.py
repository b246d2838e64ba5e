"""One-shot fusion grid (issue 6): every aggregation variant on the same trained clients, per cell and seed.

    python -m simulations.oneshot_grid --config simulations/grid_mnist_mlp.toml [--workers 2]
        [--splits iid dir0.5] [--inits same] [--clients 4] [--seeds 0] [--variants fedavg otfusion]

For every cell (split × init × number of clients) and seed the federation is built from its RunConfig
(``simulations/common.py``), the clients are trained once (cached under ``simulations/.cache``), and every
variant of the config's ``[variants]`` aggregates those same models; the test set only scores the results.
Writes ``<output>.json`` (every row), ``<output>.md`` (mean ± std tables) and ``<output>.png`` (the plot).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from fedot.experiments import machine, single_threaded_worker
from fedot.federation import server_batches, server_dataset
from simulations.common import (
    CACHE,
    REPO,
    aggregate,
    base_config,
    describe_run,
    load_toml,
    mean_std,
    mean_std_text,
    accuracy_of,
    train_clients,
    variants_of,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "simulations" / "grid_mnist_mlp.toml")
    parser.add_argument("--output", type=Path, help="results path without suffix (default: the config's `output`)")
    parser.add_argument("--workers", type=int, default=1, help="federations run in parallel (1 thread each)")
    for name, kind in (("splits", str), ("inits", str), ("clients", int), ("seeds", int), ("variants", str)):
        parser.add_argument(f"--{name}", type=kind, nargs="+", help=f"only these {name} (default: the config's)")
    parser.add_argument("--data-dir", type=Path, help="where the data set is (default: the config's data-dir)")
    parser.add_argument("--report-only", action="store_true", help="rebuild the tables and plot from <output>.json")
    parser.add_argument("--smoke", action="store_true",
                        help="check the pipeline quickly (e.g. CIFAR-10 on a CPU): 2 training steps per client, "
                             "512 test images, no cache; the numbers mean nothing")  # fmt: skip
    args = parser.parse_args(argv)

    spec = load_toml(args.config)
    output = args.output or REPO / spec["output"]
    if args.report_only:
        document = json.loads(output.with_suffix(".json").read_text())
        write_report(document, output)
        return
    base = base_config(spec["run"])
    if args.data_dir:
        base = base.replace(data_dir=str(args.data_dir.resolve()))
    grid = spec["grid"]
    splits = {name: spec["splits"][name] for name in (args.splits or grid["splits"])}
    inits = args.inits or grid["inits"]
    counts = args.clients or grid["clients"]
    seeds = args.seeds or grid["seeds"]
    variants = [v for v in variants_of(spec["variants"]) if not args.variants or v.name in args.variants]
    jobs = [
        (base.to_flower(), split, splits[split], init, count, seed, variants, None if args.smoke else CACHE, args.smoke)
        for split in splits for init in inits for count in counts for seed in seeds
    ]  # fmt: skip
    print(f"{len(jobs)} federations × {len(variants)} variants; {describe_run(base)}", flush=True)

    document = {
        "config": str(args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config),
        "run": base.to_flower(),
        "splits": splits,
        "variants": [{"name": v.name, "strategy": v.strategy, **v.overrides} for v in variants],
        "machine": machine(),
        "wall_seconds": 0.0,
        "rows": [],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # spawn, not fork: a forked worker cannot use CUDA once the parent has touched it
    with ProcessPoolExecutor(args.workers, multiprocessing.get_context("spawn"), single_threaded_worker) as pool:
        for done, result in enumerate(pool.map(run_federation, jobs), start=1):
            document["rows"].extend(result)
            document["wall_seconds"] = time.perf_counter() - started
            head = result[0]
            print(
                f"[{done}/{len(jobs)}] {head['split']} {head['init']} {head['clients']} clients seed {head['seed']}: "
                + ", ".join(f"{r['variant']} {100 * r['accuracy']:.1f}" for r in result)
                + f"  ({document['wall_seconds']:.0f} s)",
                flush=True,
            )
            # Written after every federation, so an interrupted run keeps what it finished.
            output.with_suffix(".json").write_text(json.dumps(document, indent=1))
    write_report(document, output)


def run_federation(job: tuple) -> list[dict[str, Any]]:
    """Train one federation's clients (or load them) and score every variant on them."""
    run, split, split_values, init, count, seed, variants, cache, smoke = job
    from fedot.config import RunConfig

    config = RunConfig.from_flower({**run, **split_values, "init": init, "clients": count, "seed": seed})
    dataset = server_dataset(config)
    inputs = server_batches(config, dataset)
    clients = train_clients(config, dataset, cache=cache, max_steps=2 if smoke else None)
    test_rows = torch.arange(min(512, len(dataset.test_labels))) if smoke else None
    client_accuracies = [accuracy_of(model, dataset, clients, test_rows) for model in clients.models]
    rows = []
    for variant in variants:
        start = time.perf_counter()
        model, info = aggregate(variant, config, dataset, clients, inputs)
        seconds = time.perf_counter() - start
        rows.append({
            "split": split, "init": init, "clients": count, "seed": seed, "variant": variant.name,
            "accuracy": accuracy_of(model, dataset, clients, test_rows), "seconds": seconds,
            "client_accuracies": client_accuracies, "client_examples": clients.examples,
            "dropped_clients": clients.dropped, **info,
        })  # fmt: skip
    return rows


def write_report(document: dict[str, Any], output: Path) -> None:
    """``<output>.md``: one mean ± std table per split, the FedAvg check; ``<output>.png``: the plot."""
    rows = document["rows"]
    variants = [v["name"] for v in document["variants"]]
    splits = list(document["splits"])
    columns = sorted({(r["init"], r["clients"]) for r in rows}, key=lambda c: (c[0] != "same", c[1]))
    table = _aggregate(rows)
    lines = [f"Run: {describe(document['run'])}. Machine: {document['machine']}. "
             f"Wall time {document['wall_seconds'] / 60:.1f} min. Test accuracy (%), mean ± std over the seeds "
             f"{sorted({r['seed'] for r in rows})}.", ""]  # fmt: skip
    for split in splits:
        lines += [f"**{split}** ({_split_text(document['splits'][split])})", ""]
        lines.append("| variant | " + " | ".join(f"{init}, {n} clients" for init, n in columns) + " |")
        lines.append("| --- |" + " ---: |" * len(columns))
        clients_row = [mean_std_text([100 * sum(r["client_accuracies"]) / len(r["client_accuracies"])
                                       for r in rows if (r["split"], r["init"], r["clients"]) == (split, *c)
                                       and r["variant"] == variants[0]]) for c in columns]  # fmt: skip
        lines.append("| clients (mean of their own models) | " + " | ".join(clients_row) + " |")
        for variant in variants:
            cells = [table.get((split, *column, variant)) for column in columns]
            lines.append(f"| {variant} | " + " | ".join(mean_std_text(v) if v else "—" for v in cells) + " |")
        lines.append("")
    lines += _fedavg_check(table, variants, splits, columns)
    lines += _choices(rows)
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(table, variants, splits, columns, output.with_suffix(".png"), document)
    print(f"tables → {output.with_suffix('.md')}\nplot → {output.with_suffix('.png')}")


def describe(run: dict[str, Any]) -> str:
    keys = ("dataset", "model", "local-epochs", "batch-size", "optimizer", "lr", "momentum", "server-samples")
    return ", ".join(f"{key} {run[key]}" for key in keys)


def _split_text(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


def _aggregate(rows: list[dict[str, Any]]) -> dict[tuple, list[float]]:
    table: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        table[(r["split"], r["init"], r["clients"], r["variant"])].append(100 * r["accuracy"])
    return table


def _fedavg_check(table: dict[tuple, list[float]], variants: list[str], splits: list[str], columns: list) -> list[str]:
    """Per variant: in how many cells its mean is below FedAvg's, and its worst margin."""
    if "fedavg" not in variants:
        return []
    lines = ["**Against FedAvg** (cells where the variant's mean is below FedAvg's mean; worst margin, points)", "",
             "| variant | cells below FedAvg | worst margin | seeds below FedAvg |", "| --- | ---: | ---: | ---: |"]  # fmt: skip
    for variant in variants:
        if variant == "fedavg":
            continue
        below, worst, seeds_below, total = 0, math.inf, 0, 0
        for split in splits:
            for column in columns:
                mine, theirs = table.get((split, *column, variant)), table.get((split, *column, "fedavg"))
                if not mine or not theirs:
                    continue
                total += 1
                margin = sum(mine) / len(mine) - sum(theirs) / len(theirs)
                below += margin < 0
                worst = min(worst, margin)
                seeds_below += sum(a < b for a, b in zip(mine, theirs))
        lines.append(f"| {variant} | {below} of {total} | {worst:+.1f} | {seeds_below} |")
    return [*lines, ""]


def _choices(rows: list[dict[str, Any]]) -> list[str]:
    """How often each variant with a guard/selection kept each kind of candidate."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        if "chosen" in r:
            kind = r["chosen"].split(", anchor")[0].replace(", predicted output weights", "")
            kind += " + predicted output weights" if "predicted" in r["chosen"] else ""
            counts[r["variant"]][kind] += 1
    if not counts:
        return []
    lines = ["**Candidates kept** by the variants that choose (count over all federations)", ""]
    for variant, kinds in counts.items():
        lines.append(f"- {variant}: " + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items(), key=lambda x: -x[1])))
    return [*lines, ""]


def plot(table: dict[tuple, list[float]], variants: list[str], splits: list[str], columns: list, path: Path,
         document: dict[str, Any]) -> None:  # fmt: skip
    """One panel per split; x: init × clients; one marker series per variant (mean ± std)."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * len(splits), 4.6), layout="constrained")
    axes_list = figure.subplots(1, len(splits), sharey=True, squeeze=False)[0]
    colours = colormaps["tab10" if len(variants) <= 10 else "tab20"]
    width = 0.8 / max(1, len(variants))
    for axes, split in zip(axes_list, splits):
        for index, variant in enumerate(variants):
            xs, means, stds = [], [], []
            for position, column in enumerate(columns):
                values = table.get((split, *column, variant))
                if values:
                    mean, std = mean_std(values)
                    xs.append(position - 0.4 + width * (index + 0.5))
                    means.append(mean)
                    stds.append(std)
            style = {"marker": "*", "markersize": 9} if variant == "ensemble" else {"marker": "o", "markersize": 4}
            axes.errorbar(xs, means, yerr=stds, linestyle="none", color=colours(index), label=variant, **style)
        axes.set_xticks(range(len(columns)), [f"{init}\n{n} cl." for init, n in columns], fontsize="small")
        axes.set_title(f"{split}")
        axes.grid(axis="y", alpha=0.3)
    axes_list[0].set_ylabel("test accuracy (%)")
    figure.suptitle(f"One-shot aggregation: {describe(document['run'])}", fontsize="medium")
    figure.legend(*axes_list[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    figure.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
