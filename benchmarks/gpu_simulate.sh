#!/usr/bin/env bash
# Clients on GPU workers through Flower's Simulation Engine (issue 16), as one prepared script.
#
#   benchmarks/gpu_simulate.sh prepare            # here (internet to PyPI): .gpu/part1, .gpu/part2 (≤ 64 MiB each)
#   OUT=$OUT benchmarks/gpu_simulate.sh run       # on the offline GPU machine, carrying .gpu (see below)
#   GPUS=0 CPUS=1 MODEL=cnn EPOCHS=1 OUT=/tmp/g benchmarks/gpu_simulate.sh run   # the same runs on a CPU
#
# `run` installs what the machine lacks from the carried wheels (Ray travels in two parts, reassembled
# and checked against its SHA-256), then runs `python -m fedot.simulate` three times on CIFAR-10,
# 8 clients, Dirichlet(0.5), one-shot otfusion,fedavg:
#   alone  — --gpus-per-client 1: one client on the GPU at a time (the reference throughput);
#   shared — --gpus-per-client 0.25: four clients share the GPU at once;
#   rounds — the shared set-up for 5 rounds (actors stay warm: per-round time after the first).
# nvidia-smi samples the GPU's memory during each run. benchmarks.gpu_simulate_report turns the
# results into benchmarks/results/simulate_gpu_<gpu>.json (throughput ratio, peak memory per client
# and in total, overhead ratio, per-round times); $OUT gets that JSON and a tarball of the runs.
#
# Device tool: a call carries 64 MiB at most, and what a call leaves on a warm machine stays there.
#   call 1: carry [".gpu/part1"], command `mkdir -p /tmp/carry && cp -r .gpu/part1 /tmp/carry/`
#   call 2: carry [".gpu/part2"], command `cp -r /tmp/carry/part1 .gpu/ && OUT=$OUT benchmarks/gpu_simulate.sh run`
set -u
cd "$(dirname "$0")/.."
mode=${1:?usage: gpu_simulate.sh prepare|run}
gpu_python=3.12   # the lent GPU machine's python3 (its image's torch, numpy, scipy, pyarrow, ... are used as they are)

prepare() {
    local wheels=.gpu/wheels
    rm -rf .gpu && mkdir -p "$wheels" .gpu/part1 .gpu/part2
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
    # What fedot needs that the GPU image lacks (its package list: the device tool's KINDS.md, 2026-11-17).
    # POT 0.9.6.post1 rather than 0.9.7 (33 MB); uv (flwr's tool for installing app dependencies) stays
    # behind: fedot runs with runtime dependency installation off.
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$gpu_python" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$wheels" \
        flwr==1.42.0 ray==2.55.1 pot==0.9.6.post1 flwr-datasets==0.6.1 datasets==4.8.5 dill==0.4.1 \
        multiprocess==0.70.19 cryptography==50.0.2 pycryptodome==3.24.1 iterators==0.0.2 tomli==2.5.0 \
        tomli-w==1.2.0 grpcio-health-checking==1.81.1 sqlalchemy==2.1.9 greenlet==3.5.6 alembic==1.20.1 \
        mako==1.4.3 fastapi==0.138.2 starlette==1.3.1 uvicorn==0.49.0 pydantic==2.14.4 pydantic-core==2.50.5 \
        annotated-types==0.8.0 typing-inspection==0.4.5 websockets==17.4 httptools==0.9.0 watchfiles==1.3.0 \
        python-dotenv==1.2.4 prompt-toolkit==3.0.53 wcwidth==0.9.4 jsonschema==4.26.0 \
        jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 cffi==2.1.1 pycparser==3.12 \
        || exit 1
    local ray
    ray=$(ls "$wheels"/ray-*.whl)
    (cd "$(dirname "$ray")" && sha256sum "$(basename "$ray")") >.gpu/part2/ray.sha256
    split -n 2 -d "$ray" ".gpu/ray-part"
    mv .gpu/ray-part00 .gpu/part1/ && mv .gpu/ray-part01 .gpu/part2/ && rm "$ray"
    mkdir -p .gpu/part1/data && cp "${FEDOT_SHARED_DATA:-../shared/data}/cifar10-jpeg.npz" .gpu/part1/data/
    mv "$wheels"/*.whl .gpu/part2/ && rmdir "$wheels"
    du -sh .gpu/part1 .gpu/part2
}

install() {  # from .gpu/part1 + .gpu/part2 into /tmp/site, unless fedot's dependencies already import
    python3 -c "import flwr, ray, ot, flwr_datasets" 2>/dev/null && return 0
    [ -d .gpu/part1 ] && [ -d .gpu/part2 ] || { echo "carry .gpu/part1 and .gpu/part2 (see the header)"; exit 1; }
    local name
    name=$(cut -d' ' -f3 .gpu/part2/ray.sha256)
    cat .gpu/part1/ray-part00 .gpu/part2/ray-part01 >"/tmp/$name"
    (cd /tmp && sha256sum -c "$OLDPWD/.gpu/part2/ray.sha256") || { echo "the reassembled Ray wheel is corrupt"; exit 1; }
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/part2/*.whl "/tmp/$name" || exit 1
    export PYTHONPATH=/tmp/site:$PWD
    export PATH=/tmp/site/bin:$PATH
    python3 -c "import flwr, ray, ot, flwr_datasets; print('flwr', flwr.__version__, 'ray', ray.__version__)" || exit 1
}

run() {
    local out=${OUT:?set OUT to the folder for the results} gpus=${GPUS:-1}
    local model=${MODEL:-vgg11} epochs=${EPOCHS:-5} clients=${CLIENTS:-8}
    local data=${FEDOT_SHARED_DATA:-.gpu/part1/data}
    [ -f "$data/cifar10-jpeg.npz" ] || data=../shared/data
    install
    local runs=$out/runs && mkdir -p "$runs"
    export PYTHONUNBUFFERED=1 FEDOT_DATA_DIR=$data
    { nvidia-smi || echo "no nvidia-smi"; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"; } >"$runs/machine.txt" 2>&1
    local share=0.25 alone=1
    if [ "$gpus" = 0 ]; then share=0 alone=0; fi
    common=(--dataset cifar10 --data-dir "$data" --model "$model" --clients "$clients" --partition dirichlet
            --alpha 0.5 --local-epochs "$epochs" --strategy otfusion,fedavg --cpus-per-client "${CPUS:-2}")
    one_run alone "$runs" --gpus-per-client "$alone" --rounds 1 "${common[@]}"
    one_run shared "$runs" --gpus-per-client "$share" --rounds 1 "${common[@]}"
    one_run rounds "$runs" --gpus-per-client "$share" --rounds 5 "${common[@]}"
    local gpu_name
    gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | awk '{print tolower($NF)}')
    python3 -m benchmarks.gpu_simulate_report "$runs" --gpu "${gpu_name:-cpu}" --write benchmarks/results | tee "$out/summary.json"
    cp benchmarks/results/simulate_gpu_"${gpu_name:-cpu}".json "$out/" 2>/dev/null
    tar czf "$out/gpu-simulate.tar.gz" -C "$out" runs && rm -rf "$runs"
}

one_run() {  # NAME FOLDER FLAGS...: one fedot.simulate run, timed, GPU memory sampled
    local name=$1 folder=$2
    shift 2
    local sampler=""
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 >"$folder/$name.gpu.csv" 2>/dev/null &
        sampler=$!
    fi
    local start=$(date +%s.%N)
    python3 -m fedot.simulate "$@" --output-dir "$folder/$name" >"$folder/$name.log" 2>&1
    echo "$name: exit $?" >>"$folder/exits.txt"
    python3 -c "import sys; print(float(sys.argv[1]) - float(sys.argv[2]))" "$(date +%s.%N)" "$start" >"$folder/$name.seconds"
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
}

case $mode in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: gpu_simulate.sh prepare|run"; exit 2 ;;
esac
