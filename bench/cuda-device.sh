#!/usr/bin/env bash
# The CUDA checks and benchmarks of bench/RESULTS.md § "CUDA", as run on a lent GPU machine that
# has no registry access. Run from the repository root after `npm run build`, with the files staged
# by bench/cuda-stage.sh under .gpu/ (onnxruntime-node's CPU build, the CUDA provider, node_modules,
# dist, a Multi-Fashion+MNIST slice, and a Node binary when the machine has none). Writes to $OUT.
#
#   bash bench/cuda-device.sh            # everything
#   bash bench/cuda-device.sh stage      # only unpack what was carried (the machine keeps /tmp while warm)
#   bash bench/cuda-device.sh exec 'CMD' # set up, then run CMD (e.g. one model with NVIDIA_TF32_OVERRIDE=0)
#   bash bench/cuda-device.sh update     # set up, then only the training step's host vs in-graph update A/B
#   bash bench/cuda-device.sh conv       # set up, then the convolution lowering A/B (im2col vs cuDNN's forms),
#                                        # CPU vs CUDA with the cuDNN forms, and MobileNet/U-Net against PyTorch
#                                        # (carry bench/models, written by bench/bench_models.py)
set -u
OUT=${OUT:-/tmp/recon-cuda-out}
ST=/tmp/recon-stage
mkdir -p "$ST" "$OUT"
t0=$(date +%s)
say() { echo "== $* ($(($(date +%s) - t0)) s)"; }

# --- unpack -------------------------------------------------------------------------------------
[ -f .gpu/a/cuda.sm90.so.xz ] && [ ! -f "$ST/libonnxruntime_providers_cuda.so" ] && xz -dc .gpu/a/cuda.sm90.so.xz >"$ST/libonnxruntime_providers_cuda.so"
[ -f .gpu/a/libonnxruntime.so.1.xz ] && [ ! -f "$ST/libonnxruntime.so.1" ] && xz -dc .gpu/a/libonnxruntime.so.1.xz >"$ST/libonnxruntime.so.1"
for f in libonnxruntime_providers_shared.so onnxruntime_binding.node; do [ -f ".gpu/a/$f" ] && cp ".gpu/a/$f" "$ST/"; done
[ -f .gpu/a/node_modules.tar.xz ] && [ ! -d "$ST/node_modules" ] && mkdir -p "$ST/nm" && tar -xJf .gpu/a/node_modules.tar.xz -C "$ST/nm" && mv "$ST/nm/node_modules" "$ST/node_modules"
[ -f .gpu/a/dist.tar.xz ] && tar -xJf .gpu/a/dist.tar.xz -C "$ST"
[ -d .gpu/b/data ] && cp -r .gpu/b/data "$ST/"
[ -f .gpu/b/node.xz ] && [ ! -x "$ST/node" ] && xz -dc .gpu/b/node.xz >"$ST/node" && chmod +x "$ST/node"
ls -la "$ST"
if [ "${1:-}" = stage ]; then
  command -v node && node --version
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  exit 0
fi

# --- environment --------------------------------------------------------------------------------
NODE=$(command -v node || echo "$ST/node")
"$NODE" --version || { echo "no node: carry .gpu/b/node.xz"; exit 3; }
rm -rf node_modules dist
cp -r "$ST/node_modules" node_modules
cp -r "$ST/dist" dist
BIN=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
mkdir -p "$BIN"
cp "$ST"/libonnxruntime.so.1 "$ST"/onnxruntime_binding.node "$ST"/libonnxruntime_providers_*.so "$BIN/"
PY=python3
NV=$($PY -c 'import nvidia, os; print(list(nvidia.__path__)[0])' 2>/dev/null)
# The CUDA 13 runtime, cuBLAS, cuRAND and cuDNN 9 from PyTorch's pip packages; libcuda from the driver.
LIBS=$( (find "$NV" -name 'lib*.so*' -printf '%h\n' 2>/dev/null; ls -d /usr/local/nvidia/lib64 /usr/local/nvidia/lib 2>/dev/null) | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH="${LIBS}${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/nvidia-smi.txt"
$PY -c 'import torch; print("torch", torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0), "cudnn", torch.backends.cudnn.version())' | tee -a "$OUT/nvidia-smi.txt"
recon() { "$NODE" dist/src/cli/main.js "$@"; }
if [ "${1:-}" = exec ]; then # bash bench/cuda-device.sh exec 'COMMAND' (with $NODE and the CUDA libraries set up)
  shift
  eval "$*"
  exit $?
fi

# Training step, update on the host vs in the graph (ResNet-18, batch 256; cagrad: host vs two-phase).
update_ab() {
  say "training step: update on the host vs in the graph"
  for v in "host sgd ew" "graph sgd ew" "host momentum ew" "graph momentum ew" "host sgd cagrad" "graph sgd cagrad"; do
    set -- $v
    RECON_BENCH_UPDATE=$1 RECON_BENCH_OPT=$2 RECON_BENCH_METHOD=$3 timeout 90 "$NODE" dist/bench/grads.js --worker train resnet18 256 --steps 10 --threads 16 --device cuda 2>&1 |
      tail -1 | sed "s/^/$v /"
  done | tee "$OUT/update-ab.txt"
}
if [ "${1:-}" = update ]; then
  "$NODE" dist/models/build.js >/dev/null
  update_ab
  exit 0
fi

# Convolution lowering on CUDA: the im2col + GEMM forms (tuned for onnxruntime's CPU kernels) vs
# cuDNN's own (ConvTranspose for dX, a batch/channel-swapped Conv for dW), then the same CPU-vs-CUDA
# check with the cuDNN forms, then the bench models against PyTorch.
conv_ab() {
  say "conv lowering on CUDA: im2col vs cuDNN forms (batch 256)"
  for m in resnet18 mobilenet unet; do
    for k in grads train; do
      for v in im2col cudnn; do
        if [ $v = cudnn ]; then export RECON_BENCH_DW=swapped-conv RECON_BENCH_DX=conv-transpose; else unset RECON_BENCH_DW RECON_BENCH_DX; fi
        timeout 60 "$NODE" dist/bench/grads.js --worker $k $m 256 --steps 6 --threads 16 --device cuda 2>&1 | tail -1 | sed "s/^/$m $k $v /"
      done
    done
  done | tee "$OUT/conv-ab.txt"
  unset RECON_BENCH_DW RECON_BENCH_DX
  say "CPU vs CUDA with the cuDNN forms"
  C=test/fixtures/corpus
  RECON_BENCH_DW=swapped-conv RECON_BENCH_DX=conv-transpose timeout 120 "$NODE" dist/bench/cuda-check.js --json "$OUT/cuda-check-cudnn.json" \
    models/resnet18_op17.onnx:models/resnet18.tasks.json models/cnn_trainbn_op17.onnx:models/cnn_trainbn.tasks.json \
    $C/unet/unet_op17_train_nofold.onnx:$C/unet/unet.tasks.json:$C/unet/batch.npz \
    $C/mobilenetv2/mobilenetv2_op17_train_nofold.onnx:$C/mobilenetv2/mobilenetv2.tasks.json:$C/mobilenetv2/batch.npz 2>&1 | tee "$OUT/cuda-check-cudnn.txt"
  say "bench models against PyTorch on CUDA"
  for m in mobilenet unet; do
    RECON_BENCH_PYTHON=$PY timeout 100 "$NODE" dist/bench/grads.js --device cuda --models $m --batches 256 --threads 16 --steps 8 --json "$OUT/bench-$m.json" 2>&1 | tee -a "$OUT/bench-models.txt"
  done
}
if [ "${1:-}" = conv ]; then
  "$NODE" dist/models/build.js >/dev/null
  conv_ab
  say "done"
  exit 0
fi

say "reference models"
"$NODE" dist/models/build.js >/dev/null

say "recon doctor"
recon doctor 2>&1 | tee "$OUT/doctor.txt"
recon doctor --graph models/resnet18_op17.onnx --tasks models/resnet18.tasks.json 2>&1 | head -5 | tee -a "$OUT/doctor.txt"

say "CPU vs CUDA: losses, norms, cosines, placement log"
mkdir -p /tmp/cuda-logs
timeout 150 "$NODE" dist/bench/cuda-check.js --json "$OUT/cuda-check.json" --logs /tmp/cuda-logs 2>&1 | tee "$OUT/cuda-check.txt"
grep -h "VerifyEachNodeIsAssignedToAnEp" /tmp/cuda-logs/*.log | grep -v "^\s*$" | cut -c1-300 >"$OUT/placements.txt"
grep -h -i "memcpy\|fallback\|not assigned\|error" /tmp/cuda-logs/*.log | sort | uniq -c | sort -rn | head -40 >"$OUT/log-notes.txt"

say "short scan on CUDA (ResNet-18, Multi-Fashion+MNIST slice, batch 256)"
s=$(date +%s.%N)
timeout 75 "$NODE" dist/src/cli/main.js scan models/resnet18_op17.onnx --tasks models/resnet18.tasks.json --data "$ST/data/train.npz" \
  --device cuda --batch-size 256 --epochs 1 -o "$OUT/scan-cuda.json" 2>&1 | tail -5
echo "scan wall s: $(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" | tee "$OUT/scan.txt"

say "benchmark: ours on CUDA vs PyTorch on CUDA, same machine, same call"
RECON_BENCH_PYTHON=$PY timeout 170 "$NODE" dist/bench/grads.js --device cuda --batches 256 --threads 16 --steps 10 --json "$OUT/bench-cuda.json" 2>&1 | tee "$OUT/bench-cuda.txt"
update_ab
say "done"
