#!/usr/bin/env bash
# Rewrites every opset-17 corpus export with the conformance test's seeded selection and runs
# onnx.checker.check_model(full_check=True) (Debian's python3-onnx) on the originals and results.
# Development-time check; npm test stays free of Python.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx tsx scripts/corpus/rewrite-corpus.ts "$out"
/usr/bin/python3 scripts/check_onnx.py "$out"/*.recon.onnx
