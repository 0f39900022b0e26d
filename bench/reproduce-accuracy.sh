#!/usr/bin/env bash
# Paper Table 1 at the scale a 2-core CPU allows: joint training vs joint training + Recon, both from
# scratch (--reinit) with the same settings, on the first 24,000 Multi-Fashion+MNIST training images,
# evaluated on the 20,000 test images. The Recon model is the rewrite chosen by a 200-step scan
# (bench/out/mnist-s200, made by: recon run models/resnet18_op17.onnx --tasks models/resnet18.tasks.json
#  --data data/multi-fashion-mnist/train.npz --search-steps 200 --batch-size 64 --S -0.1 --top-k 25 -o bench/out/mnist-s200).
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-1}
[ -f data/mfm-24k/train.npz ] || npx tsx src/cli/main.ts data multi-fashion-mnist --limit 24000 -o data/mfm-24k
common=(--tasks models/resnet18.tasks.json --data data/mfm-24k/train.npz --eval data/mfm-24k/test.npz
        --epochs "$EPOCHS" --batch-size 64 --optimizer sgd --lr 0.1 --momentum 0.9 --reinit --seed 0)
npx tsx src/cli/main.ts train models/resnet18_op17.onnx "${common[@]}" -o bench/out/joint.onnx
npx tsx src/cli/main.ts train bench/out/mnist-s200/model.recon.onnx "${common[@]}" -o bench/out/joint-recon.onnx
