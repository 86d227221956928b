#!/usr/bin/env bash
# Every GPU figure of the matting benches in one run (a few minutes on one H100 or H200):
#   1. FAR through spconv versus the pure-PyTorch sparse path on CUDA: forward and backward agreement,
#      inference and training-step times, spconv under autocast (bench/far_backends.py);
#   2. FAR sparse versus the same network run densely with conv3d (bench/far_sparse_vs_dense.py);
#   3. full-size 4K inference: frames per second and VRAM (bench/infer_4k.py; paper: 11.8 FPS, 6.8 GB);
#   4. a short training of the tiny config on CUDA with bf16 autocast, both stages, on a small
#      synthetic dataset in the real shard format (spconv's backward inside the real trainer).
# Needs CUDA and spconv-cu12x (pip install spconv-cu126). Logs go to OUT_DIR/<step>.log.
#
#   bash bench/gpu_suite.sh [OUT_DIR]            # default runs/gpu_suite
#   PYTHON=.venv/bin/python bash bench/gpu_suite.sh
set -u
OUT=${1:-runs/gpu_suite}
PY=${PYTHON:-python}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"

step() {  # step NAME SECONDS CMD...: run with a time limit, keep going on failure
    local name=$1 limit=$2 start
    shift 2
    start=$(date +%s)
    echo "=== $name"
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    grep -v "is_fx_tracing" "$OUT/$name.log" | tail -n 40
    echo "=== $name: exit $rc after $(($(date +%s) - start)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch, spconv; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'spconv', spconv.__version__)" || exit 1

step far_backends 150 "$PY" bench/far_backends.py --device cuda --size 1024 --amp bf16,fp16
step far_sparse_vs_dense 120 "$PY" bench/far_sparse_vs_dense.py --device cuda --size 512 \
    --channels 64,128,256,512 --repeats 3 --check-all
step infer_4k 240 "$PY" bench/infer_4k.py --device cuda --groups 10 --warmup 2 --amp bf16

DATA="$OUT/tiny_data"
rm -rf "$DATA" "$OUT/tiny-cap" "$OUT/tiny-far"
step tiny_train 240 bash -c "
    '$PY' -c \"from matting.data.synthetic import write_amatte4k as w; w('$DATA', frames=8, width=320, height=180, splits=('train',) * 4, coded=False)\" &&
    '$PY' -m matting.train --config configs/train/tiny.yaml --data '$DATA/manifests' --device cuda \
        --stage cap --max-steps 60 --log-every 20 --num-workers 2 --no-progress --out '$OUT/tiny-cap' &&
    '$PY' -m matting.train --config configs/train/tiny.yaml --data '$DATA/manifests' --device cuda \
        --stage far --init '$OUT/tiny-cap/checkpoints/last.pt' --max-steps 60 --log-every 20 \
        --num-workers 2 --no-progress --out '$OUT/tiny-far' &&
    tail -n 3 '$OUT/tiny-cap/metrics.jsonl' '$OUT/tiny-far/metrics.jsonl'"
