#!/usr/bin/python3
"""Re-checks the committed conformance corpus (test/fixtures/corpus) without onnxruntime.

  /usr/bin/python3 scripts/corpus/check_corpus.py [--root test/fixtures/corpus] [ARCH ...]

Per architecture: the task spec, batch and reference agree with each other, and every .onnx file
in the folder is one the reference lists. Per export file:
  - the bytes hash to the reference's sha256 (the reference describes exactly this file);
  - onnx.checker.check_model(full_check=True) and strict shape inference pass;
  - inputs and outputs are the architecture's, named after the tasks, with a dynamic batch axis;
  - where the project's PyTorch ONNX interpreter (scripts/onnx_torch.py) has every op of the
    graph, the ONNX forward on the committed batch matches the rebuilt nn.Module in float32 and
    its losses match the reference (rel 1e-4); otherwise the missing ops are named (no ORT here).
Exit status 1 on any failure.
"""
import argparse
import copy
import hashlib
import json
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402

import export_corpus as ec  # noqa: E402
import reference as ref  # noqa: E402
from archs import BY_NAME  # noqa: E402
from onnx_torch import OPS, OnnxTorch  # noqa: E402


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def check_arch(root, name):
    d = os.path.join(root, name)
    doc = json.load(open(os.path.join(d, "reference.json")))
    arch = BY_NAME[name]
    problems, notes = [], []
    spec = json.load(open(os.path.join(d, doc["tasksFile"])))["tasks"]
    if [(t["name"], t["loss"]) for t in spec] != [tuple(t) for t in arch.tasks]:
        problems.append("task spec differs from archs.py")
    batch = dict(np.load(os.path.join(d, doc["batch"])))
    want_keys = {n for n, _, _ in arch.inputs} | {f"{t}_target" for t, _ in arch.tasks}
    if set(batch) != want_keys:
        problems.append(f"batch keys {sorted(batch)} != {sorted(want_keys)}")
    files = {e["file"] for e in doc["exports"]}
    stray = sorted(f for f in os.listdir(d) if f.endswith(".onnx") and f not in files)
    if stray:
        problems.append(f"files not in reference.json: {stray}")

    model = ec.build_model(arch)
    input_names = [n for n, _, _ in arch.inputs]
    checked = set()
    for e in doc["exports"]:
        if e["file"] in checked and e.get("duplicateOf"):
            continue
        checked.add(e["file"])
        path = os.path.join(d, e["file"])
        data = open(path, "rb").read()
        where = e.get("exportedAs", e["file"])
        if hashlib.sha256(data).hexdigest() != e["sha256"]:
            problems.append(f"{where}: sha256 differs from reference.json")
        proto = onnx.load_from_string(data)
        try:
            onnx.checker.check_model(proto, full_check=True)
            onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
        except Exception as ex:  # noqa: BLE001 - report every checker complaint
            problems.append(f"{where}: checker: {str(ex).splitlines()[0][:200]}")
        opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        if opset != e["opset"]:
            problems.append(f"{where}: opset {opset} != {e['opset']}")
        ins = [i.name for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
        outs = [o.name for o in proto.graph.output]
        if ins != input_names or outs != [t for t, _ in arch.tasks]:
            problems.append(f"{where}: inputs {ins} outputs {outs}")
        for vi in list(proto.graph.input[: len(ins)]) + list(proto.graph.output):
            if vi.type.tensor_type.shape.dim[0].dim_param != "N":
                problems.append(f"{where}: {vi.name} has no dynamic batch axis")

        missing = sorted({n.op_type for n in proto.graph.node} - set(OPS))
        if missing:
            notes.append(f"{where}: forward not re-run (interpreter lacks {', '.join(missing)})")
            continue
        bn = "train" if e["bnMode"] == "train" else "eval"
        it = OnnxTorch(path, bn=bn)
        with torch.no_grad():
            got = it.run({k: torch.from_numpy(batch[k]) for k in input_names})
            m = copy.deepcopy(model).train(bn == "train")  # a train-mode forward moves running stats
            want = m(*ref.to_torch(batch, input_names, torch.float32))
        want = want if isinstance(want, tuple) else (want,)
        for (task, kind), w in zip(arch.tasks, want):
            g = got[task]
            err = float((g - w).abs().max() / max(float(w.abs().max()), 1e-12))
            if err > 1e-4:
                problems.append(f"{where}: output {task} differs from the nn.Module (max rel {err:.2e})")
            tgt = torch.from_numpy(batch[f"{task}_target"])
            L = float(ref.loss_of(kind, g.double(), tgt.double() if tgt.is_floating_point() else tgt))
            if rel(L, e["losses"][task]) > 1e-4:
                problems.append(f"{where}: loss {task} {L} vs reference {e['losses'][task]}")
    return problems, notes, len(checked)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archs", nargs="*")
    ap.add_argument("--root", default=ec.DEFAULT_OUT)
    args = ap.parse_args(argv)
    names = args.archs or sorted(n for n in os.listdir(args.root) if os.path.isfile(os.path.join(args.root, n, "reference.json")))
    bad = 0
    for n in names:
        problems, notes, count = check_arch(args.root, n)
        print(f"{n}: {count} files, {'OK' if not problems else f'{len(problems)} problem(s)'}")
        for p in problems:
            print(f"  FAIL {p}")
        for s in notes:
            print(f"  note {s}")
        bad += len(problems)
    print("corpus OK" if bad == 0 else f"{bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
