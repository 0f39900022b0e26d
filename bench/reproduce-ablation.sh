#!/usr/bin/env bash
# Recon's Table 7 / Fig. 3 at CPU scale on Multi-Fashion+MNIST with the bundled ResNet-18:
#   1. search: a training scan of at least one full epoch at batch 256 (120,000 images, 468 steps), per method;
#   2. conflict reduction: the top-K layers rewritten and the rewritten model scanned with the same data,
#      seed and settings (recon run = steps 1–2 + compare), per method;
#   3. ablation: joint vs joint+Recon vs RSL vs RSP vs last-K, each trained from scratch with identical
#      settings on every seed, evaluated on the 20,000 test images (recon ablate).
# Every step reuses finished work, so an interrupted run continues where it stopped.
#
# Settings (environment):
#   METHODS="ew cagrad"   combination methods of the search (severe-conflict reduction per method);
#                         the ablation trains with the first one
#   S=-0.02               S of the S-conflict score that ranks the layers (paper: −0.02)
#   K=25                  layers Recon branches (paper: 25); the controls branch as many
#   KS=""                 a K sweep instead (e.g. "5,15,25", paper Fig. 3); overrides K in the ablation
#   SEARCH_EPOCHS=1 SEARCH_BATCH=256
#   TRAIN_LIMIT=24000     training images of the ablation (first N of the training split)
#   TRAIN_EPOCHS=1 TRAIN_BATCH=64 LR=0.1 SEEDS=0,1
#   CONTROLS=rsl,rsp,last
#   SMOKE=1               a 2-minute check of the pipeline (512 images, a few steps): not a measurement
#   OUT=bench/out/ablation
set -euo pipefail
cd "$(dirname "$0")/.."
recon() { npx tsx src/cli/main.ts "$@"; }

METHODS=${METHODS:-"ew cagrad"}
S=${S:--0.02}
K=${K:-25}
KS=${KS:-}
SEARCH_EPOCHS=${SEARCH_EPOCHS:-1}
SEARCH_BATCH=${SEARCH_BATCH:-256}
TRAIN_LIMIT=${TRAIN_LIMIT:-24000}
TRAIN_EPOCHS=${TRAIN_EPOCHS:-1}
TRAIN_BATCH=${TRAIN_BATCH:-64}
LR=${LR:-0.1}
SEEDS=${SEEDS:-0,1}
CONTROLS=${CONTROLS:-rsl,rsp,last}
OUT=${OUT:-bench/out/ablation}
MODEL=models/resnet18_op17.onnx
TASKS=models/resnet18.tasks.json
FULL=data/multi-fashion-mnist
SUBSET=data/mfm-$TRAIN_LIMIT
search_len=(--search-epochs "$SEARCH_EPOCHS")
train_len=(--epochs "$TRAIN_EPOCHS")

if [ "${SMOKE:-0}" = 1 ]; then
  # Exercises every step on real data in about two minutes; the numbers mean nothing.
  METHODS=${METHODS%% *}
  TRAIN_LIMIT=512
  SUBSET=data/mfm-512
  FULL=$SUBSET
  SEARCH_BATCH=32
  TRAIN_BATCH=32
  K=3
  SEEDS=0
  CONTROLS=rsl,rsp,last
  OUT=bench/out/ablation-smoke
  search_len=(--search-steps 4)
  train_len=(--steps 2)
fi

[ -f "$MODEL" ] || npx tsx models/build.ts
[ -f "$FULL/test.npz" ] || recon data multi-fashion-mnist -o "$FULL"
[ -f "$SUBSET/train.npz" ] || recon data multi-fashion-mnist --limit "$TRAIN_LIMIT" -o "$SUBSET"
mkdir -p "$OUT"

# 1–2. Search and conflict reduction per method (report.json is the search; compare.json the reduction).
search() {
  recon run "$MODEL" --tasks "$TASKS" --data "$FULL/train.npz" "${search_len[@]}" --batch-size "$SEARCH_BATCH" \
    --method "$1" --S "$S" --top-k "$K" -o "$OUT/run-$1" > "$OUT/run-$1.txt"
  grep -E 'reduction of severe conflicts|chosen' "$OUT/run-$1.txt"
}
# The ablation uses the first method's search, so it runs right after that search: an interrupted or
# time-boxed reproduction then has the ablation before the other methods' reductions.
first=${METHODS%% *}
search "$first"

# 3. Ablation with the first method's search: joint, Recon and the controls, trained from scratch per seed.
budget=(--top-k "$K")
[ -n "$KS" ] && [ "${SMOKE:-0}" != 1 ] && budget=(--k "$KS")
recon ablate "$MODEL" --tasks "$TASKS" --scores "$OUT/run-$first/report.json" --S "$S" "${budget[@]}" \
  --data "$SUBSET/train.npz" --eval "$FULL/test.npz" "${train_len[@]}" --batch-size "$TRAIN_BATCH" \
  --optimizer sgd --lr "$LR" --momentum 0.9 --method "$first" --seeds "$SEEDS" --controls "$CONTROLS" \
  -o "$OUT/ablate-$first" | tee "$OUT/ablate-$first.txt"

for method in ${METHODS#"$first"}; do search "$method"; done
