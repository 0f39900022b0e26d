#!/bin/sh
# Regenerates test/fixtures/train-elsewhere: rewrites a corpus model with the CLI, then trains the
# rewritten model in PyTorch (torch_train.py). Needs Debian's python3-torch, python3-onnx and
# python3-torchvision; `npm test` needs none of them.
set -eu
cd "$(dirname "$0")/../.."
SRC=test/fixtures/corpus/resnet_basic
OUT=test/fixtures/train-elsewhere
mkdir -p "$OUT"
# layer1.0.bn2 and every BatchNorm after it are branched, so no BatchNorm is shared by two
# per-task branches (whose running statistics would depend on the order the tasks update them).
npx tsx src/cli/main.ts rewrite "$SRC/resnet_basic_op17_train_nofold.onnx" --tasks "$SRC/resnet_basic.tasks.json" \
  --layers layer1.0.bn2,layer1.1.conv1,layer1.1.bn1,layer1.1.bn2,layer1.1.downsample.1 \
  -o "$OUT/resnet_basic.recon.onnx" --json "$OUT/resnet_basic.rewrite.json"
/usr/bin/python3 scripts/train-elsewhere/torch_train.py --original "$SRC/resnet_basic_op17_train_nofold.onnx" \
  --rewritten "$OUT/resnet_basic.recon.onnx" --summary "$OUT/resnet_basic.rewrite.json" \
  --tasks "$SRC/resnet_basic.tasks.json" --out "$OUT"
