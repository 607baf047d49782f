#!/usr/bin/env bash
# Issue 9's GPU checks in one run of about 6 minutes, for a session that is lent a CUDA machine.
#
#   bash bench/gpu_check.sh            # from the repository root; logs go to $OUT (or /tmp/adcgan-gpu-check)
#
# 1. tests/test_gpu.py: every detector on CUDA, bf16, and CUDA-graph steps against eager steps;
# 2. bench/speed.py at 28x28 on the GPU, eager and with cuda_graphs=true (target: >= 5,000 train img/s);
# 3. the paper-budget Fashion-MNIST one-vs-all grid (10 classes, 15 + 5 epochs) on the one GPU, four runs at
#    a time, cut off after 270 s (target: <= 3 minutes); its status and wall time are printed either way.
#
# The machine needs PyTorch with CUDA (its own python3) and, for step 3, Fashion-MNIST where adcgan looks
# for it: with no network there, copy the four .gz files into a folder of the repository that git ignores,
# e.g. `mkdir -p .gpu-data/fashion-mnist && cp /usr/share/datasets/fashion-mnist/*.gz .gpu-data/fashion-mnist/`
# with `/.gpu-data/` in .git/info/exclude, carry it, and set ADCGAN_DATA=.gpu-data.
set -u
out=${OUT:-/tmp/adcgan-gpu-check}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi -L
"$py" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" || exit 1

echo "== 1. tests/test_gpu.py"
timeout 240 "$py" -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$out/tests.log"

echo "== 2. training and scoring speed at 28x28, eager and with CUDA graphs"
for graphs in false true; do
    timeout 90 "$py" bench/speed.py --device cuda --geometries 28 --steps 200 --warmup-steps 5 --rounds 3 \
        --score-images 8192 --repeats 3 --set cuda_graphs=$graphs 2>&1 | tee "$out/speed-graphs-$graphs.log"
done

echo "== 3. paper-budget Fashion-MNIST one-vs-all grid on this GPU (4 runs at a time)"
db="$out/grid.db"
start=$(date +%s)
timeout 270 "$py" -m adcgan bench --preset paper --datasets fashion-mnist --classes all --device cuda \
    --executor local --workers 4 --set cuda_graphs=true --db "$db" --out-root /tmp/adcgan-gpu-grid --quiet \
    2>&1 | tail -n 30 | tee "$out/grid.log"
echo "grid wall: $(( $(date +%s) - start )) s (target <= 180 s)" | tee -a "$out/grid.log"
"$py" -m adcgan bench status --db "$db" 2>&1 | tee -a "$out/grid.log"
