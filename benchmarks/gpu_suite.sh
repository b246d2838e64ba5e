#!/usr/bin/env bash
# Every GPU benchmark of BENCHMARKS.md in one go, sized for one ~10-minute call of a lent H100/H200:
#
#   OUT=/tmp/gpu FEDOT_SHARED_DATA=<folder with cifar10-jpeg.npz> benchmarks/gpu_suite.sh [seconds]
#   OUT=/tmp/gpu SMOKE=1 benchmarks/gpu_suite.sh 300      # the same plumbing on a CPU, tiny runs
#
# 1. VGG11 training throughput at batch 128, alone on the GPU (issue 3).
# 2. In parallel (small CIFAR models leave most of an H100 idle, so jobs share it):
#    - two VGG11 (no bias) parents, 60 epochs each: the recipe check (issue 3), then their fusion (issue 2);
#    - two ResNet18 (BN) parents, 10 epochs each, then their fusion (issue 2);
#    - the one-shot grids, 5 clients Dir(0.5), same/different init, seed 0: VGG11 and ResNet18 (issue 6);
#      they need more than one 10-minute call (on an H200 one of their four federations finished).
# Every job writes as it goes and is stopped at the deadline, so what finished comes back. Results go to
# $OUT/gpu-suite.tar.gz (logs, JSON, tables, plots) and the VGG11 parents as fp16 shards (≤ 16 MiB each),
# so their fusion can be studied further on a CPU. Needs fedot's dependencies importable (torch, POT, flwr,
# flwr-datasets); an offline GPU machine can take them as wheels (pip download --python-version ...,
# then pip install --no-index --no-deps --target DIR and PYTHONPATH=DIR), as BENCHMARKS.md's run did.
set -u
budget=${1:-520}
out=${OUT:?set OUT to the folder for the results}
data=${FEDOT_SHARED_DATA:-../shared/data}
export FEDOT_SHARED_DATA=$data PYTHONUNBUFFERED=1
logs=$out/suite
mkdir -p "$logs"
deadline=$(($(date +%s) + budget))
left() { echo $((deadline - $(date +%s) - ${1:-0})); }
smoke=()
vgg_epochs=60 resnet_epochs=10
if [ "${SMOKE:-0}" = 1 ]; then smoke=(--smoke) vgg_epochs=1; fi  # fusion_quality trains 1 epoch in smoke mode

# job NAME RESERVE CMD...: run CMD until RESERVE seconds before the deadline; log and exit code kept.
job() {
    local name=$1 reserve=$2
    shift 2
    timeout "$(left "$reserve")" "$@" >"$logs/$name.log" 2>&1
    echo "$name: exit $? at $(date +%T)" >>"$logs/exits.txt"
}

parents_then_fusion() {  # MODEL EPOCHS: train both parents in parallel, then fuse them
    local model=$1 epochs=$2
    local common=(--dataset cifar10 --model "$model" --epochs "$epochs" --data-dir "$data" "${smoke[@]}")
    job "$model-parent0" 90 python3 -m benchmarks.fusion_quality "${common[@]}" --seeds 0 --train-only &
    job "$model-parent1" 90 python3 -m benchmarks.fusion_quality "${common[@]}" --seeds 1 --train-only &
    wait
    job "$model-fusion" 5 python3 -m benchmarks.fusion_quality "${common[@]}" --samples 1000 \
        --out "$logs/fusion_$model.json"
}

{ nvidia-smi || true; } >"$logs/machine.txt" 2>&1
python3 -c "import torch, ot, flwr; print('torch', torch.__version__, 'pot', ot.__version__, 'flwr', flwr.__version__)" \
    >>"$logs/machine.txt" 2>&1
# Decode the JPEGs once (fedot caches the tensors next to the data) before the jobs read them together.
job prepare 0 python3 -c "from fedot.data import load_dataset; print(load_dataset('cifar10', '$data', download=False))"
job throughput 0 python3 -m benchmarks.vgg11_cifar10 --epochs 0 --data-dir "$data" --out "$logs/throughput.json" "${smoke[@]}"

parents_then_fusion vgg11_nobias "$vgg_epochs" &
parents_then_fusion resnet18 "$resnet_epochs" &
for model in vgg11 resnet18; do
    job "grid-$model" 5 python3 -m simulations.oneshot_grid --config "simulations/grid_cifar10_$model.toml" \
        --seeds 0 --workers 2 --data-dir "$data" --output "$logs/oneshot_cifar10_$model" "${smoke[@]}" &
done
wait

python3 - "$out" "$vgg_epochs" "${SMOKE:-0}" <<'EOF'  # the VGG11 parents, fp16, in shards of ≤ 16 MiB
import sys
from pathlib import Path

import torch

out, epochs, smoke = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
for seed in (0, 1):
    path = Path(f"benchmarks/.cache/cifar10-vgg11_nobias-e{epochs}-s{seed}{'-smoke' if smoke else ''}.pt")
    if not path.exists():
        continue
    state = {k: v.half() if v.is_floating_point() else v for k, v in torch.load(path).items()}
    parts, size = [{}], 0
    for key, tensor in state.items():
        if size + tensor.nbytes > 12 * 2**20 and parts[-1]:
            parts.append({})
            size = 0
        parts[-1][key] = tensor
        size += tensor.nbytes
    for index, part in enumerate(parts):
        torch.save(part, out / f"{path.stem}-fp16-part{index}.pt")
EOF
tar czf "$out/gpu-suite.tar.gz" -C "$out" suite && rm -rf "$logs"
