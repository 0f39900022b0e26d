#!/usr/bin/python3
"""Reference per-task gradient fixtures from the PyTorch ONNX interpreter.

  /usr/bin/python3 scripts/make_fixtures.py MODEL.onnx --tasks SPEC.json \\
      --bn train|eval --batch N --seed S -o test/fixtures/grads/NAME [options]

Writes NAME.npz (the batch), NAME.json (losses, per-parameter and per-layer
task-gradient Gram matrices with tolerances) and NAME.grads.npz (full float32
gradients of a few parameters). All .npz files are written uncompressed
(np.savez: every entry is a stored .npy file, little-endian, C order).

Batch (numpy default_rng(seed), drawn in this order):
  1. model inputs in graph order:
     float  -> N(0,1) (default) or U[0,1) with --input-dist uniform, float32
     int    -> uniform integers in [lo, hi): --int-range LO:HI, else [0, vocab)
               where vocab = the first dimension (axis dim) of the initializer
               table of a Gather that consumes the input (directly or through
               Cast/Identity/Reshape/Unsqueeze/Squeeze/Flatten); int64
     dim 0 when symbolic -> --batch; other symbolic dims need --dim NAME=V
  2. the model is run once (no grad) to get output shapes, then one target per
     task in spec order, named by the task's "target" (default "<name>_target"):
     cross_entropy  int64 class ids in [0,C), C = output dim 1, shape = output
                    shape without axis 1; for dense outputs (rank > 2) about
                    1/16 of the positions (at least 1) are set to ignoreIndex
                    (task's "ignoreIndex", default -100)
     bce_with_logits  float32 U[0,1), output shape
     mse, l1, smooth_l1, cosine  float32 N(0,1), output shape
     none           no target (the output itself is the loss; mean if not scalar)

Gradients: loss_t = weight_t * L_t (L_t unweighted, PyTorch semantics, mean
reduction); one torch.autograd.grad per task on the shared forward graph
(retain_graph), like Recon's per-task backward. "losses" in the JSON are the
unweighted L_t. Trainable parameters = float32 initializers that are not
BatchNormalization running mean/var and that at least one task loss reaches
(the others are listed in "untrained"). A task that does not reach a
parameter contributes an exact zero gradient.

Tolerances: the reference is re-run --nudges times (default 8) with every
float model input multiplied elementwise (in float32) by 1 + u*2^-23, u an
integer uniform in [-3,3] (numpy default_rng([seed, 1000+k])); a model
without float inputs (token ids only) gets its trainable float parameters
nudged the same way instead ("nudge.target" in the JSON). Over the base
run and the nudged runs, for every parameter and layer:
  spread_cos    = max over pairs i<j of (max - min) of cos_ij
  spread_normrel= max over tasks of (max - min) of |g_t| / |g_t|(base run)
  tolCos        = max(1e-4, 3*spread_cos)
  tolNormRel    = max(1e-4, 3*spread_normrel)
Cosines follow Recon: <g_i,g_j>/(max(|g_i|,1e-12)*max(|g_j|,1e-12)) (0 for a
zero gradient). Pairs and tasks that are "zero" (below) are left out of the
spreads.

Zero gradients: typical_t = the largest per-parameter gradient norm of task t.
A (parameter or layer, task) is zero when its norm is exactly 0, or
< 1e-7*typical_t, or < 1e-4*typical_t while its norm changes by more than 10%
under the nudges (rounding noise, e.g. a conv bias feeding a train-mode BN).
Such entries get "zeroTasks": [bool per task] and, when every task is zero,
"zero": true; compare them by norm: |g_t| <= zeroBound[t] (= 1e-4*typical_t,
listed at the top level), not by cosine.
"""
import argparse
import hashlib
import json
import os
import re
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_torch import ONNX_TO_TORCH, OnnxTorch, task_loss  # noqa: E402

torch.set_num_threads(1)

ZERO_ABS = 1e-7      # below this fraction of typical: zero, always
ZERO_NOISY = 1e-4    # below this fraction of typical and noisy under nudges: zero
NOISY = 0.1          # relative norm change under nudges that marks rounding noise
FULL_MAX_NUMEL = 16384


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--tasks", required=True, help="task spec JSON {tasks:[{name,output,loss,target,weight,ignoreIndex}]}")
    ap.add_argument("--bn", required=True, choices=["train", "eval"])
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("-o", "--out", required=True, help="output prefix: writes PREFIX.json, PREFIX.npz, PREFIX.grads.npz")
    ap.add_argument("--input-dist", choices=["normal", "uniform"], default="normal")
    ap.add_argument("--int-range", default=None, help="LO:HI for integer inputs (default: from a Gather table)")
    ap.add_argument("--dim", action="append", default=[], help="NAME=V for symbolic input dims other than the batch")
    ap.add_argument("--nudges", type=int, default=8)
    ap.add_argument("--full-max-numel", type=int, default=FULL_MAX_NUMEL,
                    help="largest parameter set whose full gradients go into .grads.npz")
    ap.add_argument("--record-model", default=None,
                    help="model path to write into the JSON (default: MODEL as given)")
    ap.add_argument("--self-check", action="store_true",
                    help="compare forward outputs with onnxruntime (if importable), check determinism, "
                         "and for the PyTorch-exported fixtures compare with the nn.Module's gradients")
    return ap.parse_args(argv)


# ----------------------------------------------------------------------------
def gather_vocab(it, name):
    """First-dim size of a Gather table indexed by `name` (through cheap view ops)."""
    frontier = {name}
    passthrough = {"Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten"}
    for _ in range(8):
        nxt = set()
        for n in it.graph.node:
            if n.op_type == "Gather" and len(n.input) > 1 and n.input[1] in frontier and n.input[0] in it.params:
                ax = 0
                for a in n.attribute:
                    if a.name == "axis":
                        ax = a.i
                return int(it.params[n.input[0]].shape[ax])
            if n.op_type in passthrough and n.input and n.input[0] in frontier:
                nxt.update(n.output)
        if not nxt:
            break
        frontier = nxt
    return None


def make_inputs(it, args, rng):
    dims = {}
    for d in args.dim:
        k, v = d.split("=")
        dims[k] = int(v)
    feeds, info = {}, {}
    for vi in it.graph.input:
        if vi.name not in it.input_names:
            continue
        tt = vi.type.tensor_type
        shape = []
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value"):
                shape.append(d.dim_value)
            elif d.dim_param in dims:
                shape.append(dims[d.dim_param])
            elif i == 0:
                shape.append(args.batch)
            else:
                raise SystemExit(f"input {vi.name}: symbolic dim {i} '{d.dim_param}' needs --dim {d.dim_param}=V")
        if shape and shape[0] != args.batch and tt.shape.dim[0].HasField("dim_value"):
            print(f"note: input {vi.name} has a fixed batch dim {shape[0]} (--batch {args.batch} ignored for it)")
        dt = ONNX_TO_TORCH[tt.elem_type]
        if dt.is_floating_point:
            if args.input_dist == "normal":
                arr = rng.standard_normal(shape)
            else:
                arr = rng.random(shape)
            arr = arr.astype(torch.empty(0, dtype=dt).numpy().dtype)
            info[vi.name] = {"shape": shape, "dtype": str(arr.dtype), "dist": args.input_dist}
        else:
            if args.int_range:
                lo, hi = (int(v) for v in args.int_range.split(":"))
            else:
                vocab = gather_vocab(it, vi.name)
                if vocab is None:
                    raise SystemExit(f"input {vi.name}: integer input without a Gather table; pass --int-range LO:HI")
                lo, hi = 0, vocab
            arr = rng.integers(lo, hi, size=shape).astype(torch.empty(0, dtype=dt).numpy().dtype)
            info[vi.name] = {"shape": shape, "dtype": str(arr.dtype), "range": [lo, hi]}
        feeds[vi.name] = arr
    return feeds, info


def make_targets(tasks, outs, rng):
    targets, info = {}, {}
    for t in tasks:
        kind = t["loss"]
        out = outs[t["output"]]
        shape = list(out.shape)
        name = t.get("target", f"{t['name']}_target")
        if kind == "none":
            continue
        if kind == "cross_entropy":
            C = shape[1]
            tshape = [shape[0]] + shape[2:]
            arr = rng.integers(0, C, size=tshape).astype(np.int64)
            ign = int(t.get("ignoreIndex", -100))
            n_ign = 0
            if len(shape) > 2:
                flat = arr.reshape(-1)
                n_ign = max(1, flat.size // 16)
                flat[rng.choice(flat.size, size=n_ign, replace=False)] = ign
            info[name] = {"shape": tshape, "dtype": "int64", "range": [0, C], "ignored": n_ign, "ignoreIndex": ign}
        elif kind == "bce_with_logits":
            arr = rng.random(shape).astype(np.float32)
            info[name] = {"shape": shape, "dtype": "float32", "dist": "uniform"}
        elif kind in ("mse", "l1", "smooth_l1", "cosine"):
            arr = rng.standard_normal(shape).astype(np.float32)
            info[name] = {"shape": shape, "dtype": "float32", "dist": "normal"}
        else:
            raise SystemExit(f"task {t['name']}: unknown loss {kind}")
        targets[name] = arr
    return targets, info


def task_grads(it, feeds, targets, tasks, names):
    """-> (unweighted losses, list over tasks of {param: float32 np array or None})."""
    outs = it.run({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feeds.items()})
    params = [it.params[n] for n in names]
    losses, grads = [], []
    for t in tasks:
        tgt = targets.get(t.get("target", f"{t['name']}_target"))
        L = task_loss(t["loss"], outs[t["output"]], None if tgt is None else torch.from_numpy(tgt), t)
        w = float(t.get("weight", 1.0))
        g = torch.autograd.grad(L * w if w != 1.0 else L, params, retain_graph=True, allow_unused=True)
        losses.append(float(L.detach()))
        grads.append({n: (None if gi is None else gi.detach().numpy().astype(np.float32, copy=True))
                      for n, gi in zip(names, g)})
    return losses, grads, outs


def gram(vecs):
    T = len(vecs)
    G = np.zeros((T, T))
    for i in range(T):
        for j in range(i, T):
            if vecs[i] is None or vecs[j] is None:
                v = 0.0
            else:
                v = float(np.dot(vecs[i].astype(np.float64).ravel(), vecs[j].astype(np.float64).ravel()))
            G[i, j] = G[j, i] = v
    return G


def cos_norm(G):
    n = np.sqrt(np.maximum(np.diag(G), 0.0))
    d = np.maximum(n, 1e-12)
    return G / np.outer(d, d), n


def layer_of(name):
    return re.sub(r"\.(weight|bias)$", "", name)


def group_layers(names):
    layers = {}
    for n in names:
        layers.setdefault(layer_of(n), []).append(n)
    return layers


def grams_for(grads, names, layers):
    T = len(grads)
    pg = {n: gram([grads[t][n] for t in range(T)]) for n in names}
    lg = {l: sum(pg[p] for p in ps) for l, ps in layers.items()}
    return pg, lg


# ----------------------------------------------------------------------------
def node_order(it, names):
    """first-use position of each parameter in graph order."""
    pos = {}
    for k, n in enumerate(it.graph.node):
        for i in n.input:
            if i in names and i not in pos:
                pos[i] = k
    return pos


def choose_full(it, names, layers, reach, T, cap):
    pos = node_order(it, set(names))
    chosen = []
    for n in it.graph.node:
        if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            ws = [i for i in n.input[:2] if i in names]
            if ws:
                if it.params[ws[0]].numel() <= cap:
                    chosen.append(ws[0])
                break
    shared = [l for l, ps in layers.items() if all(all(reach[t][p] for t in range(T)) for p in ps)]
    shared.sort(key=lambda l: max(pos.get(p, -1) for p in layers[l]))
    for l in reversed(shared):
        if sum(it.params[p].numel() for p in layers[l]) <= cap:
            chosen += [p for p in layers[l] if p not in chosen]
            break
    return chosen


def nudged(feeds, seed, k):
    rng = np.random.default_rng([seed, 1000 + k])
    out = {}
    for name, arr in feeds.items():
        if arr.dtype == np.float32:
            u = rng.integers(-3, 4, size=arr.shape).astype(np.float32)
            out[name] = (arr * (np.float32(1) + u * np.float32(2.0 ** -23))).astype(np.float32)
        else:
            out[name] = arr
    return out


def nudged_params(saved, seed, k):
    arrs = nudged({n: v.numpy() for n, v in saved.items()}, seed, k)
    return {n: torch.from_numpy(v) for n, v in arrs.items()}


def spreads(G_runs, zero_tasks):
    """G_runs: list of T x T grams (base first). -> (spread_cos, spread_normrel)."""
    T = G_runs[0].shape[0]
    cs, ns = zip(*(cos_norm(G) for G in G_runs))
    cs, ns = np.array(cs), np.array(ns)
    sc = 0.0
    for i in range(T):
        for j in range(i + 1, T):
            if zero_tasks[i] or zero_tasks[j]:
                continue
            sc = max(sc, float(cs[:, i, j].max() - cs[:, i, j].min()))
    sn = 0.0
    for t in range(T):
        if zero_tasks[t] or ns[0, t] == 0:
            continue
        sn = max(sn, float((ns[:, t].max() - ns[:, t].min()) / ns[0, t]))
    return sc, sn


def zero_flags(G_runs, typical):
    T = G_runs[0].shape[0]
    ns = np.array([cos_norm(G)[1] for G in G_runs])
    flags = []
    for t in range(T):
        base = ns[0, t]
        noisy = base > 0 and (ns[:, t].max() - ns[:, t].min()) / base > NOISY
        flags.append(bool(base == 0 or base < ZERO_ABS * typical[t] or (base < ZERO_NOISY * typical[t] and noisy)))
    return flags


def entry(G_runs, typical, extra):
    z = zero_flags(G_runs, typical)
    sc, sn = spreads(G_runs, z)
    e = dict(extra)
    e["gram"] = G_runs[0].tolist()
    e["tolCos"] = max(1e-4, 3 * sc)
    e["tolNormRel"] = max(1e-4, 3 * sn)
    if any(z):
        e["zeroTasks"] = z
    if all(z):
        e["zero"] = True
    return e


# ----------------------------------------------------------------------------
def self_check(args, it, feeds, outs, targets, tasks, names, grads, losses):
    print("self-check:")
    try:
        import onnxruntime as ort  # noqa: F401
        sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
        res = sess.run(None, feeds)
        for o, r in zip(sess.get_outputs(), res):
            e = np.abs(outs[o.name].detach().numpy() - r).max() / max(np.abs(r).max(), 1e-30)
            print(f"  onnxruntime forward {o.name}: max rel err {e:.3g}")
    except ImportError:
        print("  onnxruntime not importable: forward comparison skipped")
    l2, g2, _ = task_grads(OnnxTorch(args.model, bn=args.bn), feeds, targets, tasks, names)
    same = l2 == losses and all(
        (a[n] is None and b[n] is None) or np.array_equal(a[n], b[n]) for a, b in zip(grads, g2) for n in names)
    print(f"  rerun bitwise identical: {same}")
    ok = same
    # PyTorch-exported fixtures: compare with the nn.Module
    here = os.path.dirname(os.path.abspath(__file__))
    fixdir = os.path.realpath(os.path.join(here, "..", "test", "fixtures", "torch"))
    if os.path.realpath(os.path.dirname(args.model)) == fixdir and os.path.basename(args.model).startswith("multitask_"):
        import json as _json
        import export_torch_fixture as etf
        meta = _json.load(open(os.path.join(fixdir, "multitask.modules.json")))
        exp = meta["exports"][os.path.basename(args.model)]
        m = etf.build_model()
        m.load_state_dict(torch.load(os.path.join(fixdir, "multitask.pt")))
        m.train(args.bn == "train")
        m.neck.drop.eval()
        x = torch.from_numpy(feeds["input"])
        mo = dict(zip(["T1", "T2"], m(x)))
        worst = 0.0
        compared = set()
        for t, task in enumerate(tasks):
            tgt = torch.from_numpy(targets[task["target"]])
            L = task_loss(task["loss"], mo[task["output"]], tgt, task) * float(task.get("weight", 1.0))
            gm = dict(zip([n for n, _ in m.named_parameters()],
                          torch.autograd.grad(L, list(m.parameters()), retain_graph=True, allow_unused=True)))
            acc = {}
            for pn, mp in exp["params"].items():
                if mp["how"] == "folded" or gm[pn] is None:
                    continue
                acc[mp["initializer"]] = acc.get(mp["initializer"], 0) + gm[pn].detach().double()
            for init, g in acc.items():
                ref = g.numpy()
                got = grads[t][init]
                got = np.zeros_like(ref) if got is None else got
                scale = max(np.abs(ref).max(), 1e-30)
                if init == "backbone.stem.conv.bias" and args.bn == "train":
                    continue  # structurally zero
                worst = max(worst, float(np.abs(got - ref).max() / scale))
                compared.add(init)
        print(f"  nn.Module vs interpreter per-task grads ({len(compared)} initializers, folded Conv+BN skipped): "
              f"max rel err {worst:.3g}")
        ok = ok and worst < 1e-4
    print(f"self-check {'passed' if ok else 'FAILED'}")
    return ok


def main(argv):
    args = parse_args(argv)
    spec = json.load(open(args.tasks))
    tasks = spec["tasks"] if isinstance(spec, dict) else spec
    T = len(tasks)
    it = OnnxTorch(args.model, bn=args.bn)
    rng = np.random.default_rng(args.seed)
    feeds, input_info = make_inputs(it, args, rng)
    with torch.no_grad():
        outs0 = it.run({k: torch.from_numpy(v) for k, v in feeds.items()})
    for t in tasks:
        if t["output"] not in outs0:
            raise SystemExit(f"task {t['name']}: model has no output '{t['output']}'")
    targets, target_info = make_targets(tasks, outs0, rng)

    cand = list(it.trainable())
    losses, grads, outs = task_grads(it, feeds, targets, tasks, cand)
    reach = [{n: grads[t][n] is not None for n in cand} for t in range(T)]
    names = [n for n in cand if any(reach[t][n] for t in range(T))]
    untrained = {n: "no gradient path from any task loss" for n in cand if n not in names}
    for n in it.params:
        if n in it.bn_stats:
            untrained[n] = "BatchNormalization running statistic"
    for t in range(T):
        for n in names:
            if grads[t][n] is None:
                grads[t][n] = None  # keep None: exact zero, gram 0
    layers = group_layers(names)

    runs_p, runs_l = [], []
    pg, lg = grams_for(grads, names, layers)
    runs_p.append(pg)
    runs_l.append(lg)
    nudge_params = not any(v.dtype == np.float32 for v in feeds.values())
    for k in range(args.nudges):
        if nudge_params:  # no float model input (token ids): nudge the float parameters instead
            saved = {n: it.params[n].detach().clone() for n in names}
            with torch.no_grad():
                for n, v in nudged_params(saved, args.seed, k).items():
                    it.params[n].copy_(v)
            _, gk, _ = task_grads(it, feeds, targets, tasks, names)
            with torch.no_grad():
                for n, v in saved.items():
                    it.params[n].copy_(v)
        else:
            _, gk, _ = task_grads(it, nudged(feeds, args.seed, k), targets, tasks, names)
        pk, lk = grams_for(gk, names, layers)
        runs_p.append(pk)
        runs_l.append(lk)

    typical = [max((float(np.sqrt(pg[n][t, t])) for n in names), default=0.0) for t in range(T)]
    typical = [v if v > 0 else 1.0 for v in typical]
    params_out = {}
    for n in names:
        params_out[n] = entry([r[n] for r in runs_p], typical, {"numel": int(it.params[n].numel()),
                                                                "shape": list(it.params[n].shape)})
    layers_out = {}
    for l, ps in layers.items():
        layers_out[l] = entry([r[l] for r in runs_l], typical, {"params": ps})

    base = os.path.basename(args.out)
    outdir = os.path.dirname(args.out) or "."
    os.makedirs(outdir, exist_ok=True)
    batch = dict(feeds)
    batch.update(targets)
    np.savez(args.out + ".npz", **batch)

    full_names = choose_full(it, names, layers, reach, T, args.full_max_numel)
    full = {}
    for t, task in enumerate(tasks):
        for n in full_names:
            g = grads[t][n]
            full[f"{task['name']}/{n}"] = (np.zeros(tuple(it.params[n].shape), np.float32) if g is None else g)
    np.savez(args.out + ".grads.npz", **full)

    doc = {
        "model": args.record_model or args.model,
        "modelSha256": hashlib.sha256(open(args.model, "rb").read()).hexdigest(),
        "bn": args.bn,
        "seed": args.seed,
        "batchSize": args.batch,
        "tasks": tasks,
        "batch": base + ".npz",
        "inputs": input_info,
        "targets": target_info,
        "losses": {task["name"]: losses[t] for t, task in enumerate(tasks)},
        "typicalNorm": typical,
        "zeroBound": [ZERO_NOISY * v for v in typical],
        "nudge": {"runs": args.nudges, "ulp": 3, "target": "parameters" if nudge_params else "float inputs"},
        "params": params_out,
        "layers": layers_out,
        "untrained": untrained,
        "full": base + ".grads.npz",
        "fullParams": full_names,
        "generator": "scripts/make_fixtures.py (PyTorch %s, float32)" % torch.__version__,
    }
    with open(args.out + ".json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    sizes = {p: os.path.getsize(p) for p in [args.out + ".json", args.out + ".npz", args.out + ".grads.npz"]}
    print(f"{args.out}: {len(names)} params in {len(layers)} layers, losses "
          + ", ".join(f"{k}={v:.4f}" for k, v in doc["losses"].items())
          + "; sizes " + ", ".join(f"{os.path.basename(k)} {v // 1024}KB" for k, v in sizes.items()))
    zs = [n for n, e in params_out.items() if e.get("zero")]
    if zs:
        print(f"  zero-gradient params: {zs}")
    worst = max(params_out.values(), key=lambda e: e["tolCos"])
    print(f"  max tolCos {worst['tolCos']:.3g}, max tolNormRel {max(e['tolNormRel'] for e in params_out.values()):.3g}")
    if args.self_check:
        if not self_check(args, it, feeds, outs, targets, tasks, names, grads, losses):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
