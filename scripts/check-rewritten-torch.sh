#!/usr/bin/env bash
# Rewrites the PyTorch-exported fixtures with the CLI (every shared layer, then a second round) and
# runs onnx.checker.check_model(full_check=True) from Debian's python3-onnx on the results.
# Development-time check; npm test stays free of Python.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for f in multitask_eval_op13 multitask_train_op13 multitask_train_op15; do
  src="test/fixtures/torch/$f.onnx"
  layers=$(npx tsx src/cli/main.ts inspect "$src" --json | /usr/bin/python3 -c 'import json,sys; print(",".join(l["name"] for l in json.load(sys.stdin)["layers"] if l["shared"]))')
  first=$(echo "$layers" | cut -d, -f1-3)
  npx tsx src/cli/main.ts rewrite "$src" --layers "$first" -o "$out/$f.r1.onnx" >/dev/null
  npx tsx src/cli/main.ts rewrite "$out/$f.r1.onnx" --layers "$layers" -o "$out/$f.r2.onnx" >/dev/null
  /usr/bin/python3 scripts/check_onnx.py "$src" "$out/$f.r1.onnx" "$out/$f.r2.onnx"
done
