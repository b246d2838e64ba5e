"""One one-shot round through Flower's Deployment Engine vs the same round in simulation; upload sizes.

    python -m benchmarks.deploy_vs_sim                # 2 runs per engine, alternating
    python -m benchmarks.deploy_vs_sim --repeats 3 --clients 3

Both engines run the identical federation (digits, MLP, one-shot OT fusion, the
same seeds), so they must also reach the identical accuracy. The deployment is
a TLS SuperLink with one SuperNode per client on this machine, the SuperNodes
connecting through the Fleet proxy (``fedot.deploy.LocalDeployment``); the simulation is ``fedot.simulate``'s own
SuperLink with Ray. Reported per run, from the ServerApp's ``events.jsonl``:

- round: from sending the training messages to the global model's evaluation
  (client training + replies + fusion + server-side evaluation);
- train phase: from sending the messages to the last reply;
- run: from ``flwr run`` to the run's end (ServerApp start-up included);
- total: the run plus starting and stopping the SuperLink (and SuperNodes).

Upload sizes are the serialized bytes of one client's training reply (its
``RecordDict``: the model's ``ArrayRecord`` and its metrics) as Flower encodes it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from flwr.app import ArrayRecord, MetricRecord, RecordDict
from flwr.common.serde import recorddict_to_proto

from fedot.config import RunConfig
from fedot.deploy import LocalDeployment
from fedot.runs import run_and_wait
from fedot.models import build_model
from fedot.simulate import run_federation

SIZE_MODELS = [("mlp", (1, 8, 8), 10, "digits"), ("mlp", (1, 28, 28), 10, "MNIST"), ("cnn", (1, 28, 28), 10, "MNIST"),
               ("vgg11", (3, 32, 32), 10, "CIFAR-10"), ("resnet18", (3, 32, 32), 10, "CIFAR-10")]


def phases(output: Path) -> dict[str, float]:
    """Round and train-phase seconds of round 1 (and of the last round, when there are more), from events.jsonl."""
    events = [json.loads(line) for line in (output / "events.jsonl").read_text().splitlines() if line.strip()]
    last = max(e["round"] for e in events if e["event"] == "evaluated")
    found = {}
    for name, number in (("", 1), ("last_", last)) if last > 1 else (("", 1),):
        sent = next(e["time"] for e in events if e["event"] == "round" and e["phase"] == "train" and e["round"] == number)
        replies = [e["time"] for e in events if e["event"] == "reply" and e["phase"] == "train" and e["round"] == number]
        evaluated = next(e["time"] for e in events if e["event"] == "evaluated" and e["round"] == number)
        found |= {f"{name}round": evaluated - sent, f"{name}train_phase": max(replies) - sent}
    return found


def accuracy(output: Path) -> float:
    report = json.loads((output / "results.json").read_text())["strategies"]["otfusion"]
    return float(report["rounds"][-1]["accuracy"])


def run_deployment(config: RunConfig, output: Path) -> dict[str, float]:
    start = time.perf_counter()
    with LocalDeployment(config.clients, tls=True) as deployment:
        deployment.wait_for_nodes(120)
        submitted = time.perf_counter()
        status = run_and_wait(deployment.superlink.connection, config, log_path=output / "flower.log", timeout=600)
        run = time.perf_counter() - submitted
    if not status.succeeded:
        raise RuntimeError(f"deployment run ended as {status}")
    return {**phases(output), "run": run, "total": time.perf_counter() - start, "accuracy": accuracy(output)}


def run_simulation(config: RunConfig, output: Path) -> dict[str, float]:
    start = time.perf_counter()
    status = run_federation(config, output)
    if not status.succeeded:
        raise RuntimeError(f"simulation ended as {status}")
    total = time.perf_counter() - start
    return {**phases(output), "run": total, "total": total, "accuracy": accuracy(output)}


def upload_bytes(model: str, input_shape: tuple[int, ...], classes: int) -> tuple[int, int, int]:
    """(parameters, raw tensor bytes, serialized reply bytes) of one client's training reply."""
    net = build_model(model, input_shape, classes)
    state = net.state_dict()
    reply = RecordDict({
        "arrays": ArrayRecord(state),
        "metrics": MetricRecord({"num-examples": 400, "partition-id": 0, "train-loss": 0.1,
                                 "train-accuracy": 0.9, "train-seconds": 1.0}),
    })
    params = sum(p.numel() for p in net.parameters())
    raw = sum(t.numel() * t.element_size() for t in state.values())
    return params, raw, recorddict_to_proto(reply).ByteSize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--local-epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="more than 1 also times the last (warm) round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: dict[str, list[dict[str, float]]] = {"deployment": [], "simulation": []}
    with tempfile.TemporaryDirectory(prefix="fedot-bench-") as folder:
        for repeat in range(args.repeats):
            for engine, runner in (("deployment", run_deployment), ("simulation", run_simulation)):
                output = Path(folder) / f"{engine}-{repeat}"
                output.mkdir()
                config = RunConfig(clients=args.clients, strategy="otfusion", local_epochs=args.local_epochs,
                                   rounds=args.rounds, output_dir=str(output))
                row = runner(config, output)
                rows[engine].append(row)
                print(f"{engine:10s} #{repeat}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    print("\n| engine | round (s) | train phase (s) | run (s) | total (s) | accuracy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    medians: dict[str, dict[str, float]] = {}
    for engine, runs in rows.items():
        medians[engine] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        m = medians[engine]
        print(f"| {engine} | {m['round']:.1f} | {m['train_phase']:.1f} | {m['run']:.1f} | {m['total']:.1f} | "
              f"{100 * m['accuracy']:.2f} % |")
    ratio = {key: medians["deployment"][key] / medians["simulation"][key] for key in ("round", "train_phase", "run", "total")}
    print("| deployment / simulation | " + " | ".join(f"{ratio[k]:.1f}×" for k in ("round", "train_phase", "run", "total"))
          + " | |")
    if args.rounds > 1:
        print(f"\nlast round ({args.rounds}): " + ", ".join(
            f"{engine} {m['last_round']:.1f} s (train phase {m['last_train_phase']:.1f} s)" for engine, m in medians.items()))
    print("\n| model | input | parameters | tensor bytes | serialized reply (one client's upload) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for model, shape, classes, data in SIZE_MODELS:
        params, raw, wire = upload_bytes(model, shape, classes)
        print(f"| {model} | {data} {'×'.join(map(str, shape))} | {params:,} | {raw:,} | {wire:,} ({wire / 2**20:.2f} MiB) |")


if __name__ == "__main__":
    main()
