"""Summarise the GPU-worker runs of ``benchmarks/gpu_simulate.sh`` (issue 16) into one JSON.

    python -m benchmarks.gpu_simulate_report OUT_FOLDER [--gpu h200] [--write benchmarks/results]

Reads the ``results.json`` of each run under ``OUT_FOLDER`` (``alone``: one client on the GPU at a
time, ``shared``: ``gpus-per-client`` 0.25, ``rounds``: the shared set-up for 5 rounds), the
commands' wall times (``<run>.seconds``) and ``nvidia-smi`` memory samples (``<run>.gpu.csv``,
MiB used, one per line), and reports: client training throughput (images/s) alone and shared and
their ratio (same script, same machine), peak GPU memory per client and in total, the simulation's
overhead ratio (total wall ÷ (clients' training + aggregation), as in BENCHMARKS.md), and the
per-round time after the first round of the multi-round run.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

RUNS = ("alone", "shared", "rounds")


def summarise_run(folder: Path, name: str) -> dict[str, Any] | None:
    """The numbers of one run, or None when it did not finish."""
    path = folder / name / "results.json"
    if not path.exists():
        return None
    results = json.loads(path.read_text())
    epochs = int(results["config"]["local-epochs"])
    wall = float((folder / f"{name}.seconds").read_text()) if (folder / f"{name}.seconds").exists() else None
    strategies = results["strategies"]
    rounds = [r for entry in strategies.values() for r in entry["rounds"] if r["round"] > 0]
    first = next(iter(strategies.values()))["rounds"]
    trained = [r for r in first if r["round"] > 0]
    clients = trained[0]["clients"] if trained else []
    images = sum(c["examples"] for c in clients) * epochs
    work = sum(r["client_train_seconds"] + r["aggregation_seconds"] for r in rounds)
    samples = _gpu_samples(folder / f"{name}.gpu.csv")
    return {
        "clients": len(clients),
        "gpus_per_client": results["config"]["gpus-per-client"],
        "round_1_train_wall_seconds": trained[0]["train_wall_seconds"] if trained else None,
        "throughput_images_per_s": images / trained[0]["train_wall_seconds"] if trained and trained[0]["train_wall_seconds"] else None,
        "client_images_per_s": [c["examples"] * epochs / c["train_seconds"] for c in clients if c["train_seconds"] > 0],
        "client_gpu_peak_mib": [c["gpu_peak_bytes"] / 2**20 for c in clients],
        "client_gpu_held_after_round_mib": [c["gpu_held_bytes"] / 2**20 for c in clients],
        "gpu_used_peak_mib": max(samples) if samples else None,
        "wall_seconds": wall,
        "overhead_ratio": wall / work if wall and work else None,
        "round_seconds": [r["train_wall_seconds"] + r["aggregation_seconds"] for r in first if r["round"] > 0],
        "accuracy": {name: entry["rounds"][-1]["accuracy"] for name, entry in strategies.items()},
    }


def _gpu_samples(path: Path) -> list[float]:
    if not path.exists():
        return []
    values = []
    for line in path.read_text().splitlines():
        try:
            values.append(float(line.strip().split()[0]))
        except (ValueError, IndexError):
            continue
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--gpu", default="cpu", help="short name of the device, for the file name")
    parser.add_argument("--write", type=Path, help="folder to write simulate_gpu_<gpu>.json into")
    args = parser.parse_args()
    runs = {name: summarise_run(args.folder, name) for name in RUNS}
    alone, shared = runs["alone"], runs["shared"]
    summary: dict[str, Any] = {"runs": runs, "machine": (args.folder / "machine.txt").read_text() if (args.folder / "machine.txt").exists() else ""}
    if alone and shared and alone["throughput_images_per_s"] and shared["throughput_images_per_s"]:
        summary["shared_vs_alone_throughput_ratio"] = shared["throughput_images_per_s"] / alone["throughput_images_per_s"]
    if runs["rounds"] and len(runs["rounds"]["round_seconds"]) > 1:
        later = runs["rounds"]["round_seconds"][1:]
        summary["rounds_first_vs_later_seconds"] = [runs["rounds"]["round_seconds"][0], statistics.median(later)]
    text = json.dumps(summary, indent=2)
    print(text)
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        (args.write / f"simulate_gpu_{args.gpu}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
