#!/usr/bin/python3
"""Validate ONNX files with the reference checker.

  /usr/bin/python3 scripts/check_onnx.py MODEL.onnx [MODEL2.onnx ...]

Runs onnx.checker.check_model(model, full_check=True) (which includes strict
shape inference) on each file and prints one line per file:
  OK   path (opset N, K nodes)
  FAIL path: <first line of the checker's message>
Exit status 1 if any file fails (or cannot be read), else 0. Models with
external data are loaded with their data (paths relative to the model).
"""
import os
import sys

import onnx


def check(path):
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # checker, shape inference, protobuf, I/O errors
        msg = str(e).strip().splitlines()
        print(f"FAIL {path}: {type(e).__name__}: {msg[0] if msg else ''}")
        for line in msg[1:6]:
            print(f"     {line}")
        return False
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), "?")
    print(f"OK   {path} (opset {opset}, {len(model.graph.node)} nodes)")
    return True


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    ok = True
    for p in argv:
        if not os.path.exists(p):
            print(f"FAIL {p}: no such file")
            ok = False
            continue
        ok = check(p) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
