#!/usr/bin/env bash
# Reference gradient fixtures for every reference model (PyTorch interpreter).
#
#   scripts/make_all_fixtures.sh [MODELS_DIR] [OUT_DIR]
#
# For each MODELS_DIR/<name>_op<N>.onnx with MODELS_DIR/<name>.tasks.json and each BN mode,
# runs scripts/make_fixtures.py and writes OUT_DIR/<name>_op<N>_<bn>.{json,npz,grads.npz}.
# Defaults: MODELS_DIR=models, OUT_DIR=test/fixtures/grads. Run from the repository root.
# Environment:
#   OPSETS   opsets to include (default "17"; e.g. OPSETS="13 17")
#   BN       BN modes (default "train eval")
#   ONLY     space-separated model names to include (default: all found)
#   SEED     batch seed (default 0)
#   NUDGES   nudged reruns for the tolerances (default 8)
#   PYTHON   interpreter (default /usr/bin/python3: Debian's python3-torch / python3-onnx)
#   TORCH    1 (default): also regenerate the fixtures of the PyTorch-exported model
#            (test/fixtures/torch/multitask_*.onnx -> OUT_DIR/torch_multitask_*), 0 to skip
# Models without BatchNormalization get only the first BN mode (the others would be identical).
# Batch size: 8 for resnet18 and encdec, 16 for the others. The JSON records the model as
# models/<file> (as the TS tests load it) and its sha256, so stale fixtures can be detected.
set -euo pipefail

MODELS_DIR=${1:-models}
OUT_DIR=${2:-test/fixtures/grads}
OPSETS=${OPSETS:-17}
BN=${BN:-train eval}
SEED=${SEED:-0}
NUDGES=${NUDGES:-8}
PYTHON=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)

batch_for() {
  case "$1" in
    resnet18*|encdec*) echo 8 ;;
    *) echo 16 ;;
  esac
}

shopt -s nullglob
found=0
failed=()
for op in $OPSETS; do
  for model in "$MODELS_DIR"/*_op"$op".onnx; do
    file=$(basename "$model")
    name=${file%_op"$op".onnx}
    if [[ -n "${ONLY:-}" && " $ONLY " != *" $name "* ]]; then continue; fi
    spec="$MODELS_DIR/$name.tasks.json"
    if [[ ! -f "$spec" ]]; then
      echo "skip $model: no $spec" >&2
      continue
    fi
    found=1
    has_bn=1
    "$PYTHON" -c 'import onnx,sys; sys.exit(0 if any(n.op_type == "BatchNormalization" for n in onnx.load(sys.argv[1], load_external_data=False).graph.node) else 1)' "$model" || has_bn=0
    first=1
    for bn in $BN; do
      if [[ $has_bn == 0 && $first == 0 ]]; then
        echo "== $file has no BatchNormalization: bn=$bn would repeat the first mode, skipped"
        continue
      fi
      first=0
      out="$OUT_DIR/${name}_op${op}_${bn}"
      echo "== $file bn=$bn batch=$(batch_for "$name") -> $out"
      if ! "$PYTHON" "$HERE/make_fixtures.py" "$model" --tasks "$spec" --bn "$bn" \
          --batch "$(batch_for "$name")" --seed "$SEED" --nudges "$NUDGES" \
          --record-model "models/$file" -o "$out"; then
        failed+=("$out")
      fi
    done
  done
done
if [[ ${TORCH:-1} == 1 ]]; then
  TORCH_DIR=test/fixtures/torch
  for spec_bn in "train_op13 train" "train_op15 train" "eval_op13 eval" "train_op15 eval"; do
    set -- $spec_bn
    out="$OUT_DIR/torch_multitask_${1}_$2"
    echo "== multitask_$1.onnx bn=$2 batch=8 -> $out"
    if ! "$PYTHON" "$HERE/make_fixtures.py" "$TORCH_DIR/multitask_$1.onnx" --tasks "$TORCH_DIR/multitask.tasks.json" \
        --bn "$2" --batch 8 --seed "$SEED" --nudges "$NUDGES" --self-check -o "$out"; then
      failed+=("$out")
    fi
  done
fi
if [[ $found == 0 ]]; then
  echo "no models found in $MODELS_DIR (opsets: $OPSETS); build them with: npm run models" >&2
  exit 1
fi
if (( ${#failed[@]} )); then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
