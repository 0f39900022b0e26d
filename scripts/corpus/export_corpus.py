#!/usr/bin/python3
"""Conformance corpus: small multi-task PyTorch models exported to ONNX, with references from
PyTorch autograd on the nn.Module itself.

  /usr/bin/python3 scripts/corpus/export_corpus.py [--out test/fixtures/corpus] [ARCH ...]

For every architecture in archs.py writes test/fixtures/corpus/<arch>/:
  <arch>_op<opset>_<train|eval|nobn>_<fold|nofold>.onnx   one file per distinct export
  <arch>.tasks.json                                       the task spec (README "File formats")
  batch.npz                                               inputs by ONNX input name, <task>_target
  reference.json                                          per export: parameters, modules, losses,
                                                          Grams with tolerances, SGD (see README.md)

Exports: opsets 11 (where the exporter supports the model), 13 and 17; do_constant_folding
False and True; for models with BatchNorm both TrainingMode.TRAINING and TrainingMode.EVAL (the
eval export fuses Conv+BN: the PyTorch parameters of both vanish into a new Conv weight and bias).
Batch axis dynamic ("N") on every input and output. Deterministic: the same run writes the same
bytes.
"""
import argparse
import copy
import hashlib
import io
import json
import os
import sys
import warnings
import zlib
from collections import Counter

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.onnx import symbolic_helper  # noqa: E402

import onnx_map  # noqa: E402
import reference as ref  # noqa: E402
from archs import ARCHS, BY_NAME  # noqa: E402

torch.set_num_threads(1)

OPSETS = (11, 13, 17)
BATCH = 4
IGNORE_INDEX = -1
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "..", "test", "fixtures", "corpus"))


# ---------------------------------------------------------------------------------------------
# aten::max_unpool2d has no ONNX symbolic in torch 1.13; SegNet/MTAN users register one like this
# (for the 2x2, stride-2 unpooling to the default output size that SegNet uses; the traced
# output_size list is not constant under tracing, so the size is taken from the indices' shape).
@symbolic_helper.parse_args("v", "v", "v")
def _max_unpool2d(g, x, indices, output_size):
    # PyTorch's indices count within each (n, c) plane; ONNX MaxUnpool's count over the whole
    # [N, C, H, W] output. The exporter's MaxPool symbolic subtracted each plane's offset (read from
    # the Indices of a 1x1 MaxPool); add the offsets of the output planes back the same way.
    out_shape = g.op("Mul", g.op("Shape", indices), g.op("Constant", value_t=torch.tensor([1, 1, 2, 2])))
    zeros = g.op("ConstantOfShape", out_shape)
    _, flat = g.op("MaxPool", zeros, outputs=2, kernel_shape_i=[1, 1], strides_i=[1, 1])
    offsets = g.op("Slice", flat, g.op("Constant", value_t=torch.tensor([0, 0])),
                   g.op("Constant", value_t=torch.tensor([1, 1])), g.op("Constant", value_t=torch.tensor([2, 3])))
    return g.op("MaxUnpool", x, g.op("Add", indices, offsets), out_shape, kernel_shape_i=[2, 2], strides_i=[2, 2])


torch.onnx.register_custom_op_symbolic("aten::max_unpool2d", _max_unpool2d, 11)


# ---------------------------------------------------------------------------------------------
def arch_seed(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def randomize(model, seed):
    """Redraw every constant-initialised tensor (norm weights 1, biases 0, layer-scale 1e-6,
    class tokens 0, BN running statistics): constant values are a degenerate gradient test, and
    the eval exporter would deduplicate equal initializers across layers."""
    gen = torch.Generator().manual_seed(seed + 1)
    seen = set()
    with torch.no_grad():
        tensors = list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers() if b.is_floating_point()]
        for name, t in tensors:
            flat = t.reshape(-1)
            if flat.numel() == 1 or bool((flat == flat[0]).all()):
                c = float(flat[0])
                u = torch.rand(t.shape, generator=gen, dtype=torch.float64).to(t.dtype)
                if name.endswith("running_var"):
                    t.copy_(0.5 + u)
                elif abs(c) < 1e-3:
                    t.copy_((u - 0.5) * 0.4)
                else:
                    t.copy_(c * (0.75 + 0.5 * u))
            key = flat.numpy().tobytes()
            if key in seen:
                # nn.TransformerEncoder deep-copies one layer: every layer starts with equal
                # weights, which the eval exporter would merge into one initializer.
                u = torch.rand(t.shape, generator=gen, dtype=torch.float64).to(t.dtype)
                t.mul_(0.9 + 0.2 * u).add_((u - 0.5) * 0.02)
                key = flat.numpy().tobytes()
            seen.add(key)


def build_model(arch):
    seed = arch_seed(arch.name)
    torch.manual_seed(seed)
    model = arch.build()
    randomize(model, seed)
    return model.float().eval()


def has_bn(model):
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def make_inputs(arch, rng):
    batch, info = {}, {}
    for name, kind, shape in arch.inputs:
        if kind == "tokens":
            vocab, L = arch.build.VOCAB, shape[0]
            ids = rng.integers(1, vocab, size=(BATCH, L)).astype(np.int64)
            lengths = [L, L - 3, L - 6, 3][:BATCH]
            for i, n in enumerate(lengths):
                ids[i, n:] = 0
            batch[name] = ids
            info[name] = {"shape": [BATCH, L], "dtype": "int64", "range": [1, vocab], "padding": 0, "lengths": lengths}
        else:
            batch[name] = rng.standard_normal((BATCH,) + tuple(shape)).astype(np.float32)
            info[name] = {"shape": [BATCH] + list(shape), "dtype": "float32", "dist": "normal"}
    return batch, info


def make_targets(arch, outs, batch, rng):
    targets, info = {}, {}
    pad = next((batch[n] == 0 for n, k, _ in arch.inputs if k == "tokens"), None)
    for (task, kind), out in zip(arch.tasks, outs):
        shape = list(out.shape)
        key = f"{task}_target"
        if kind == "cross_entropy":
            C, tshape = shape[1], [shape[0]] + shape[2:]
            arr = rng.integers(0, C, size=tshape).astype(np.int64)
            n_ign = 0
            if len(shape) > 2:
                flat = arr.reshape(-1)
                n_ign = max(1, flat.size // 16)
                flat[rng.choice(flat.size, size=n_ign, replace=False)] = IGNORE_INDEX
                if pad is not None and list(pad.shape) == tshape:
                    arr[pad] = IGNORE_INDEX  # padding positions carry no tag
                    n_ign = int((arr == IGNORE_INDEX).sum())
            info[key] = {"shape": tshape, "dtype": "int64", "range": [0, C], "ignoreIndex": IGNORE_INDEX, "ignored": n_ign}
        elif kind == "bce_with_logits":
            arr = rng.random(shape).astype(np.float32)
            info[key] = {"shape": shape, "dtype": "float32", "dist": "uniform"}
        elif kind == "cosine":
            arr = rng.standard_normal(shape)
            arr = (arr / np.linalg.norm(arr, axis=1, keepdims=True)).astype(np.float32)
            info[key] = {"shape": shape, "dtype": "float32", "dist": "unit vectors along axis 1"}
        else:
            arr = rng.standard_normal(shape).astype(np.float32)
            info[key] = {"shape": shape, "dtype": "float32", "dist": "normal"}
        targets[key] = arr
    return targets, info


def conv_bn_pairs(model, batch, input_names):
    """(conv, bn) module paths where the BatchNorm consumes exactly the Conv's output: what the
    eval-mode exporter fuses."""
    names = {m: n for n, m in model.named_modules()}
    produced, pairs, hooks = {}, [], []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            # keep the output alive: ids of freed tensors are reused
            hooks.append(m.register_forward_hook(lambda mod, i, o: produced.__setitem__(id(o), (names[mod], o))))
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            hooks.append(m.register_forward_pre_hook(
                lambda mod, i: pairs.append((produced[id(i[0])][0], names[mod])) if id(i[0]) in produced else None))
    with torch.no_grad():
        model(*ref.to_torch(batch, input_names, torch.float32))
    for h in hooks:
        h.remove()
    return pairs


def export_bytes(model, arch, batch, opset, bn, fold):
    m = copy.deepcopy(model)
    inputs = tuple(ref.to_torch(batch, [n for n, _, _ in arch.inputs], torch.float32))
    names_in = [n for n, _, _ in arch.inputs]
    names_out = [t for t, _ in arch.tasks]
    dynamic = {n: {0: "N"} for n in names_in + names_out}
    mode = torch.onnx.TrainingMode.TRAINING if bn == "train" else torch.onnx.TrainingMode.EVAL
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, inputs, f, opset_version=opset, training=mode, do_constant_folding=fold,
                          input_names=names_in, output_names=names_out, dynamic_axes=dynamic)
    return f.getvalue()


def module_summary(entries, mapping, ref_mode, tasks):
    by_name = {m["name"]: m for m in mapping["modules"]}
    out = []
    for e in entries:
        m = by_name[e["name"]]
        reach = ref_mode["reach"][e["name"]]
        out.append({
            "name": e["name"],
            "type": e["type"],
            "params": [p["name"] for p in e["params"]],
            "pytorchNumel": e["numel"],
            "numel": m["numel"],
            "status": m["status"],
            "initializers": m["initializers"],
            **({"fusedWith": m["fusedWith"]} if "fusedWith" in m else {}),
            **({"fusedInto": m["fusedInto"]} if "fusedInto" in m else {}),
            "tasks": [tasks[t][0] for t in reach],
            "shared": len(reach) >= 2,
        })
    return out


def write_arch(arch, out_root):
    model = build_model(arch)
    seed = arch_seed(arch.name)
    rng = np.random.default_rng(seed)
    input_names = [n for n, _, _ in arch.inputs]
    batch_in, input_info = make_inputs(arch, rng)
    with torch.no_grad():
        outs = model(*ref.to_torch(batch_in, input_names, torch.float32))
    outs = outs if isinstance(outs, tuple) else (outs,)
    targets, target_info = make_targets(arch, outs, batch_in, rng)
    batch = {**batch_in, **targets}
    tasks = [(t, k) for t, k in arch.tasks]

    entries = ref.module_entries(model)
    pytorch_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert pytorch_params == sum(e["numel"] for e in entries)
    params32 = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    bn = has_bn(model)
    modes = ["train", "eval"] if bn else [None]
    refs = {m: ref.gradient_reference(model, m or "eval", batch, input_names, tasks, entries, seed) for m in modes}
    sgd = ref.sgd_reference(model, batch, input_names, tasks, entries)
    pairs = conv_bn_pairs(model, batch_in, input_names) if bn else []

    d = os.path.join(out_root, arch.name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):  # stale exports of an older run
        if f.endswith(".onnx"):
            os.remove(os.path.join(d, f))
    spec = {"tasks": [{"name": t, "output": t, "loss": k, "target": f"{t}_target", "ignoreIndex": IGNORE_INDEX}
                      for t, k in tasks]}
    with open(os.path.join(d, f"{arch.name}.tasks.json"), "w") as fh:
        json.dump(spec, fh, indent=1)
        fh.write("\n")
    np.savez(os.path.join(d, "batch.npz"), **batch)

    exports, skipped, seen = [], [], {}
    for opset in OPSETS:
        for bn_mode in modes:
            for fold in (False, True):
                fname = f"{arch.name}_op{opset}_{bn_mode or 'nobn'}_{'fold' if fold else 'nofold'}.onnx"
                try:
                    data = export_bytes(model, arch, batch_in, opset, bn_mode, fold)
                except Exception as e:  # the exporter does not support this model at this opset
                    skipped.append({"file": fname, "opset": opset, "folding": fold, "bnMode": bn_mode,
                                    "error": str(e).split("\n")[0][:300]})
                    continue
                proto = onnx.load_from_string(data)
                onnx.checker.check_model(proto, full_check=True)
                sha = hashlib.sha256(data).hexdigest()
                duplicate = seen.get(sha)
                if duplicate is None:
                    seen[sha] = fname
                    with open(os.path.join(d, fname), "wb") as fh:
                        fh.write(data)
                mode_ref = refs[bn_mode]
                mapping = onnx_map.map_export(proto, entries, params32, pairs if bn_mode == "eval" else [])
                modules = module_summary(entries, mapping, mode_ref, tasks)
                fused = [m for m in modules if m["status"] in ("fused", "fused-away")]
                gone = [m for m in modules if m["status"] in ("folded", "dropped")]
                comparable = [m for m in modules if m["status"] in ("exact", "transformed")]
                if not fused and not gone:
                    assert mapping["expectedParams"] == pytorch_params, (fname, mapping["expectedParams"], pytorch_params)
                notes = []
                if fused:
                    notes.append(
                        "eval-mode export fused Conv+BatchNorm ("
                        + "; ".join(f"{m['name']} + {m['fusedWith']}" for m in modules if m["status"] == "fused")
                        + "): each pair became one Conv with new weights and a new bias, and the BatchNorm's "
                          "PyTorch parameters vanished. expectedParams counts the fused Convs' initializers; "
                          "no Grams for these modules.")
                if gone:
                    notes.append("parameters no longer in the export (constant-folded into derived constants): "
                                 + ", ".join(f"{m['name']} ({m['status']}, into {', '.join(m['initializers']) or '-'})"
                                             for m in gone)
                                 + "; expectedParams excludes them and Grams are not given for them.")
                grams = {}
                for m in comparable:
                    if m["shared"]:
                        grams[m["name"]] = mode_ref["grams"][m["name"]]
                ops = Counter(n.op_type for n in proto.graph.node)
                rec = {
                    "file": duplicate or fname,
                    "opset": opset,
                    "folding": fold,
                    "bnMode": bn_mode,
                    "fusedBN": bool(fused),
                    "sha256": sha,
                    "pytorchParams": pytorch_params,
                    "expectedParams": mapping["expectedParams"],
                    "note": " ".join(notes) if notes else None,
                    "modules": modules,
                    "floatInitializersReachingLoss": mapping["floatInitializersReachingLoss"],
                    "foldedInitializers": mapping["foldedInitializers"],
                    "constants": mapping["constants"],
                    "ops": dict(sorted(ops.items())),
                    "losses": {t: v for (t, _), v in zip(tasks, mode_ref["losses"])},
                    "typicalNorm": mode_ref["typicalNorm"],
                    "zeroBound": mode_ref["zeroBound"],
                    "grams": grams,
                }
                if duplicate is not None:
                    rec["duplicateOf"] = duplicate
                    rec["exportedAs"] = fname
                    rec["note"] = ((rec["note"] + " ") if rec["note"] else "") + \
                        f"byte-identical to {duplicate} (nothing to constant-fold), so not written twice."
                if opset == 17 and not fold and bn_mode in ("train", None):
                    rec["sgd"] = sgd
                exports.append(rec)

    doc = {
        "arch": arch.name,
        "exercises": arch.exercises,
        "generator": f"scripts/corpus/export_corpus.py (PyTorch {torch.__version__}, onnx {onnx.__version__})",
        "seed": seed,
        "tasksFile": f"{arch.name}.tasks.json",
        "batch": "batch.npz",
        "batchSize": BATCH,
        "inputs": input_info,
        "targets": target_info,
        "tasks": [{"name": t, "loss": k} for t, k in tasks],
        "reference": "PyTorch autograd on the nn.Module in float64; BN train: model.train() (batch statistics), "
                     "eval: model.eval(); losses as src/autodiff/losses.ts; tolerances as scripts/make_fixtures.py",
        "pytorchParams": pytorch_params,
        "convBnPairs": [list(p) for p in pairs],
        "exports": exports,
        "skipped": skipped,
    }
    with open(os.path.join(d, "reference.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"{arch.name}: {pytorch_params} params, {len(seen)} files for {len(exports)} exports"
          f" ({len(skipped)} skipped), {size // 1024} KB")
    return size


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archs", nargs="*", help="architectures to (re)write (default: all)")
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    chosen = [BY_NAME[a] for a in args.archs] if args.archs else ARCHS
    total = sum(write_arch(a, args.out) for a in chosen)
    print(f"total {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
