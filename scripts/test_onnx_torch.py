#!/usr/bin/python3
"""Self-check of scripts/onnx_torch.py.

1. Module check: the PyTorch-exported fixtures (test/fixtures/torch/*.onnx,
   made by export_torch_fixture.py) are run through the interpreter and their
   outputs and per-task parameter gradients are compared with the original
   nn.Module's autograd gradients:
     - train exports (bn=train) vs the module in train mode (BN batch stats,
       Dropout switched off), every parameter by name;
     - eval export (bn=eval) vs the module in eval mode; the exporter fused
       Conv+BN and deduplicated neck.fc2.bias into neck.fc.bias, so module
       gradients are mapped through the chain rule (fused W' = W*s,
       b' = (b-mu)*s + beta, s = gamma/sqrt(var+eps)) and summed for the dedup.
2. Op checks: single-node ONNX graphs compared against independent references
   (numpy brute force following the ONNX definitions, or F.interpolate).

Prints the max errors and exits 1 on failure.
Usage: /usr/bin/python3 scripts/test_onnx_torch.py [--quiet]
"""
import itertools
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_torch import OnnxTorch, UnsupportedModel, task_loss  # noqa: E402
import export_torch_fixture as etf  # noqa: E402

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "test", "fixtures", "torch")
FAILS = []
QUIET = "--quiet" in sys.argv


def check(name, err, tol):
    ok = err <= tol
    if not ok:
        FAILS.append(name)
    if not ok or not QUIET:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: max err {err:.3g} (tol {tol:g})")
    return ok


def rel_err(a, b):
    a = torch.as_tensor(a).double()
    b = torch.as_tensor(b).double()
    scale = max(a.abs().max().item(), b.abs().max().item(), 1e-30)
    return (a - b).abs().max().item() / scale


# ----------------------------------------------------------------------------
# 1. module vs interpreter
# ----------------------------------------------------------------------------
def module_grads(m, x, targets):
    outs = m(x)
    res = []
    for t, out in enumerate(outs):
        loss = task_loss("cross_entropy", out, targets[t])
        g = torch.autograd.grad(loss, list(m.parameters()), retain_graph=True, allow_unused=True)
        res.append({n: (gi if gi is not None else torch.zeros_like(p))
                    for (n, p), gi in zip(m.named_parameters(), g)})
    return [o.detach() for o in outs], res


def interp_grads(path, bn, x, targets):
    it = OnnxTorch(path, bn=bn)
    outs = it.run({"input": x})
    tr = it.trainable()
    res = []
    for t, name in enumerate(["T1", "T2"]):
        loss = task_loss("cross_entropy", outs[name], targets[t])
        g = torch.autograd.grad(loss, list(tr.values()), retain_graph=True, allow_unused=True)
        res.append({n: (gi if gi is not None else torch.zeros_like(p)) for (n, p), gi in zip(tr.items(), g)})
    return [outs["T1"].detach(), outs["T2"].detach()], res, it


def module_checks():
    m = etf.build_model()
    m.load_state_dict(torch.load(os.path.join(FIX, "multitask.pt")))
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(6, *etf.INPUT_SHAPE, generator=gen)
    targets = [torch.randint(0, 10, (6,), generator=gen) for _ in range(2)]
    worst = {"out": 0.0, "grad": 0.0}

    # train-mode exports
    m.train()
    m.neck.drop.eval()
    mo, mg = module_grads(m, x, targets)
    for fname in ["multitask_train_op13.onnx", "multitask_train_op15.onnx"]:
        io, ig, it = interp_grads(os.path.join(FIX, fname), "train", x, targets)
        e = max(rel_err(a, b) for a, b in zip(mo, io))
        worst["out"] = max(worst["out"], e)
        check(f"{fname} bn=train outputs", e, 1e-5)
        names = set(ig[0])
        assert names == {n for n, _ in m.named_parameters()}, names ^ {n for n, _ in m.named_parameters()}
        e = 0.0
        for t in range(2):
            for n in names:
                if n == "backbone.stem.conv.bias":  # structurally zero (feeds a train-mode BN)
                    s = max(mg[t]["backbone.stem.conv.weight"].abs().max().item(), 1e-30)
                    check(f"{fname} T{t+1} {n} ~ 0", ig[t][n].abs().max().item() / s, 1e-5)
                    continue
                e = max(e, rel_err(mg[t][n], ig[t][n]))
        worst["grad"] = max(worst["grad"], e)
        check(f"{fname} bn=train per-task grads (all {len(names)} params)", e, 1e-4)
        # BN extra output: updated running mean (ONNX: mean*momentum + batch*(1-momentum))
        env = it.run({"input": x}, keep_all=True)
        bn = next(n for n in it.graph.node if n.op_type == "BatchNormalization")
        rm = env[bn.output[1]]
        m2 = etf.build_model()
        m2.load_state_dict(torch.load(os.path.join(FIX, "multitask.pt")))
        m2.train()
        with torch.no_grad():
            m2(x)
        check(f"{fname} BN running_mean output", rel_err(rm, m2.backbone.stem.bn.running_mean), 1e-5)

    # eval-mode export (fused Conv+BN, deduplicated bias); the train-mode
    # forward above updated the running stats: reload them
    m.load_state_dict(torch.load(os.path.join(FIX, "multitask.pt")))
    m.eval()
    mo, mg = module_grads(m, x, targets)
    fname = "multitask_eval_op13.onnx"
    io, ig, it = interp_grads(os.path.join(FIX, fname), "eval", x, targets)
    e = max(rel_err(a, b) for a, b in zip(mo, io))
    worst["out"] = max(worst["out"], e)
    check(f"{fname} bn=eval outputs", e, 1e-5)
    mods = dict(m.named_modules())
    fused = {}
    for qc, qb in etf.conv_bn_pairs(m):
        w, b = etf.fused_conv_bn(mods[qc], mods[qb])
        wn = next(k for k, p in it.params.items() if tuple(p.shape) == w.shape and np.allclose(p.detach().numpy(), w, rtol=1e-5, atol=1e-6))
        bnm = next(k for k, p in it.params.items() if tuple(p.shape) == b.shape and np.allclose(p.detach().numpy(), b, rtol=1e-5, atol=1e-6))
        fused[qc] = (qb, wn, bnm)
    e = 0.0
    for t in range(2):
        G, M = ig[t], mg[t]
        for qc, (qb, wn, bnm) in fused.items():
            conv, bn = mods[qc], mods[qb]
            sig = torch.sqrt(bn.running_var + bn.eps)
            s = (bn.weight / sig).detach()
            gW, gb = G[wn], G[bnm]
            exp_w = gW * s.reshape(-1, 1, 1, 1)
            cb = conv.bias.detach() if conv.bias is not None else torch.zeros_like(s)
            exp_gamma = ((gW * conv.weight.detach()).sum(dim=(1, 2, 3)) + gb * (cb - bn.running_mean)) / sig
            e = max(e, rel_err(M[f"{qc}.weight"], exp_w), rel_err(M[f"{qb}.weight"], exp_gamma),
                    rel_err(M[f"{qb}.bias"], gb))
            if conv.bias is not None:
                e = max(e, rel_err(M[f"{qc}.bias"], gb * s))
        e = max(e, rel_err(M["neck.fc.bias"] + M["neck.fc2.bias"], G["neck.fc.bias"]))
        for n in ["neck.fc.weight", "neck.fc2.weight", "heads.digit.fc.weight", "heads.digit.fc.bias",
                  "heads.fashion.fc.weight", "heads.fashion.fc.bias"]:
            e = max(e, rel_err(M[n], G[n]))
    worst["grad"] = max(worst["grad"], e)
    check(f"{fname} bn=eval per-task grads via fused/dedup chain rule", e, 1e-4)
    return worst


# ----------------------------------------------------------------------------
# 2. op checks
# ----------------------------------------------------------------------------
def run_node(op_type, inputs, attrs=None, opset=17, n_out=1, consts=None):
    """inputs: list of np arrays (graph inputs); consts: dict idx -> np array as initializer."""
    consts = consts or {}
    names, vis, inits, feeds = [], [], [], {}
    n_in = max(len(inputs), max(consts) + 1 if consts else 0)
    for i in range(n_in):
        nm = f"x{i}"
        if i in consts:
            if consts[i] is None:
                nm = ""
            else:
                inits.append(onnx.numpy_helper.from_array(np.asarray(consts[i]), nm))
        else:
            arr = inputs[i]
            vis.append(helper.make_tensor_value_info(nm, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[arr.dtype], arr.shape))
            feeds[nm] = arr
        names.append(nm)
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op_type, names, outs, **(attrs or {}))
    g = helper.make_graph([node], "t", vis, [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    res = OnnxTorch(model, bn="eval").run(feeds)
    return [v.detach().numpy() for v in res.values()]


def np_conv_transpose(x, w, s, d, pads, opad, group):
    N, C, H, W = x.shape
    _, Mg, kh, kw = w.shape
    Cg = C // group
    Hf = s[0] * (H - 1) + opad[0] + (kh - 1) * d[0] + 1
    Wf = s[1] * (W - 1) + opad[1] + (kw - 1) * d[1] + 1
    y = np.zeros((N, Mg * group, Hf, Wf))
    for g_ in range(group):
        for ic in range(Cg):
            for oc in range(Mg):
                for i in range(H):
                    for j in range(W):
                        for a in range(kh):
                            for b in range(kw):
                                y[:, g_ * Mg + oc, i * s[0] + a * d[0], j * s[1] + b * d[1]] += \
                                    x[:, g_ * Cg + ic, i, j] * w[g_ * Cg + ic, oc, a, b]
    return y[:, :, pads[0]:Hf - pads[2], pads[1]:Wf - pads[3]]


def np_conv(x, w, s, d, pads, group):
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    N, C, H, W = xp.shape
    M, Cg, kh, kw = w.shape
    Ho = (H - (kh - 1) * d[0] - 1) // s[0] + 1
    Wo = (W - (kw - 1) * d[1] - 1) // s[1] + 1
    Mg = M // group
    y = np.zeros((N, M, Ho, Wo))
    for m_ in range(M):
        g_ = m_ // Mg
        for i in range(Ho):
            for j in range(Wo):
                patch = xp[:, g_ * Cg:(g_ + 1) * Cg, i * s[0]:i * s[0] + (kh - 1) * d[0] + 1:d[0],
                           j * s[1]:j * s[1] + (kw - 1) * d[1] + 1:d[1]]
                y[:, m_, i, j] = (patch * w[m_]).sum(axis=(1, 2, 3))
    return y


def np_pool(x, k, s, d, pads, ceil_mode, kind, count_include_pad=0):
    """Brute-force 2-d pooling; PyTorch ceil_mode rule (last window starts inside input+left pad)."""
    N, C, H, W = x.shape
    outs = []
    for ax, L in enumerate([H, W]):
        eff = L + pads[ax] + pads[ax + 2] - ((k[ax] - 1) * d[ax] + 1)
        o = (-(-eff // s[ax]) + 1) if ceil_mode else eff // s[ax] + 1
        if ceil_mode and (o - 1) * s[ax] >= L + pads[ax]:
            o -= 1
        outs.append(o)
    y = np.zeros((N, C, outs[0], outs[1]))
    idx = np.zeros((N, C, outs[0], outs[1]), dtype=np.int64)
    for n_, c, i, j in itertools.product(range(N), range(C), range(outs[0]), range(outs[1])):
        best, bi, tot, cnt = -np.inf, -1, 0.0, 0
        for a, b in itertools.product(range(k[0]), range(k[1])):
            h = i * s[0] - pads[0] + a * d[0]
            w_ = j * s[1] - pads[1] + b * d[1]
            inside = 0 <= h < H and 0 <= w_ < W
            in_declared = -pads[0] <= h < H + pads[2] and -pads[1] <= w_ < W + pads[3]
            if inside:
                v = x[n_, c, h, w_]
                if v > best:
                    best, bi = v, ((n_ * C + c) * H + h) * W + w_
                tot += v
                cnt += 1
            elif in_declared and count_include_pad:
                cnt += 1
        y[n_, c, i, j] = best if kind == "max" else tot / cnt
        idx[n_, c, i, j] = bi
    return y, idx


def op_checks():
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    worst = 0.0

    def chk(name, got, ref, tol=1e-5):
        nonlocal worst
        got = np.asarray(got, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if got.shape != ref.shape:
            FAILS.append(name)
            print(f"FAIL {name}: shape {got.shape} vs {ref.shape}")
            return
        e = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30)) if ref.size else 0.0
        worst = max(worst, e)
        check(name, e, tol)

    # Conv: asymmetric pads, groups, dilation, stride
    for (s, d, pads, g) in [([1, 1], [1, 1], [1, 0, 2, 1], 1), ([2, 1], [1, 2], [0, 2, 1, 0], 2), ([2, 2], [2, 1], [1, 1, 1, 1], 4)]:
        x, w = f32(2, 4, 7, 8), f32(4, 4 // g, 3, 2)
        y = run_node("Conv", [x, w], dict(strides=s, dilations=d, pads=pads, group=g))[0]
        chk(f"Conv s={s} d={d} pads={pads} g={g}", y, np_conv(x, w, s, d, pads, g))
    x, w = f32(1, 2, 7, 6), f32(3, 2, 3, 3)
    for ap in ["SAME_UPPER", "SAME_LOWER"]:
        y = run_node("Conv", [x, w], dict(strides=[2, 2], auto_pad=ap))[0]
        # in 7 -> out 4: total pad (4-1)*2+3-7=2 -> 1/1; in 6 -> out 3: total 1 -> upper (0,1) lower (1,0)
        p = [1, 0, 1, 1] if ap == "SAME_UPPER" else [1, 1, 1, 0]
        chk(f"Conv auto_pad={ap}", y, np_conv(x, w, [2, 2], [1, 1], p, 1))
    # ConvTranspose: asymmetric pads, output_padding, groups, dilation
    for (s, d, pads, opad, g) in [([2, 2], [1, 1], [1, 0, 0, 1], [1, 0], 1), ([3, 2], [1, 2], [1, 1, 2, 0], [2, 1], 2), ([1, 1], [1, 1], [0, 0, 0, 0], [0, 0], 1)]:
        x, w = f32(2, 4, 4, 5), f32(4, 3, 3, 2)
        b = f32(3 * g)
        y = run_node("ConvTranspose", [x, w, b], dict(strides=s, dilations=d, pads=pads, output_padding=opad, group=g))[0]
        chk(f"ConvTranspose s={s} d={d} pads={pads} op={opad} g={g}", y,
            np_conv_transpose(x, w, s, d, pads, opad, g) + b.reshape(1, -1, 1, 1))
    x, w = f32(1, 2, 4, 5), f32(2, 3, 3, 3)
    y = run_node("ConvTranspose", [x, w], dict(strides=[2, 2], output_shape=[8, 10], auto_pad="SAME_UPPER"))[0]
    # full = 2*3+3 = 9 -> total 1 ; SAME_UPPER -> (0,1)
    chk("ConvTranspose output_shape SAME_UPPER", y, np_conv_transpose(x, w, [2, 2], [1, 1], [0, 0, 1, 1], [0, 0], 1))
    # MaxPool / AveragePool
    for (k, s, d, pads, cm) in [([3, 3], [2, 2], [1, 1], [1, 1, 1, 1], 1), ([2, 3], [2, 1], [1, 1], [0, 1, 1, 0], 1),
                                ([3, 2], [2, 2], [2, 1], [1, 0, 1, 1], 0), ([3, 3], [1, 1], [1, 1], [0, 0, 0, 0], 0),
                                ([2, 2], [3, 3], [1, 1], [0, 0, 0, 0], 1)]:
        x = f32(2, 3, 7, 8)
        y, ind = run_node("MaxPool", [x], dict(kernel_shape=k, strides=s, dilations=d, pads=pads, ceil_mode=cm), n_out=2)
        ry, rind = np_pool(x, k, s, d, pads, cm, "max")
        chk(f"MaxPool k={k} s={s} d={d} pads={pads} ceil={cm}", y, ry)
        ok = np.array_equal(ind, rind)
        check(f"MaxPool indices k={k} s={s} d={d} pads={pads} ceil={cm}", 0.0 if ok else 1.0, 0.0)
        if d == [1, 1]:
            for cip in [0, 1]:
                y = run_node("AveragePool", [x], dict(kernel_shape=k, strides=s, pads=pads, ceil_mode=cm, count_include_pad=cip))[0]
                chk(f"AveragePool k={k} s={s} pads={pads} ceil={cm} cip={cip}", y, np_pool(x, k, s, d, pads, cm, "avg", cip)[0])
    x = f32(2, 3, 6, 5)
    y, ind = run_node("MaxPool", [x], dict(kernel_shape=[2, 2], strides=[2, 2], storage_order=1), n_out=2)
    _, rind = np_pool(x, [2, 2], [2, 2], [1, 1], [0, 0, 0, 0], 0, "max")
    plane, within = rind // 30, rind % 30
    col = plane * 30 + (within % 5) * 6 + within // 5
    check("MaxPool storage_order=1 indices", 0.0 if np.array_equal(ind, col) else 1.0, 0.0)
    y = run_node("MaxPool", [f32(2, 3, 9)], dict(kernel_shape=[3], strides=[2], pads=[1, 1]))[0]
    check("MaxPool 1-d shape", 0.0 if y.shape == (2, 3, 5) else 1.0, 0.0)
    # Resize vs F.interpolate
    x = f32(2, 3, 5, 7)
    xt = torch.from_numpy(x)
    for ctm, ac in [("pytorch_half_pixel", False), ("half_pixel", False), ("align_corners", True)]:
        for sizes in [[2, 3, 11, 9], [2, 3, 3, 4]]:
            y = run_node("Resize", [x], dict(mode="linear", coordinate_transformation_mode=ctm), opset=13,
                         consts={1: None, 2: None, 3: np.array(sizes, dtype=np.int64)})[0]
            ref = F.interpolate(xt, size=sizes[2:], mode="bilinear", align_corners=ac)
            chk(f"Resize linear {ctm} sizes={sizes[2:]}", y, ref.numpy(), 1e-5)
    y = run_node("Resize", [x], dict(mode="linear", coordinate_transformation_mode="half_pixel"), opset=13,
                 consts={1: None, 2: np.array([1, 1, 2, 2], dtype=np.float32)})[0]
    chk("Resize linear half_pixel scales=2", y, F.interpolate(xt, scale_factor=2, mode="bilinear", align_corners=False).numpy())
    y = run_node("Resize", [x], dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"), opset=13,
                 consts={1: None, 2: np.array([1, 1, 2, 3], dtype=np.float32)})[0]
    chk("Resize nearest asymmetric floor scales=2,3", y, F.interpolate(xt, scale_factor=(2, 3), mode="nearest").numpy())
    y = run_node("Resize", [x], dict(mode="nearest"), opset=13,
                 consts={1: None, 2: np.array([1, 1, 2, 2], dtype=np.float32)})[0]
    # half_pixel + round_prefer_floor with integer scale 2: x_orig = o/2 - 0.25 -> same as floor(o/2)
    chk("Resize nearest half_pixel round_prefer_floor x2", y, F.interpolate(xt, scale_factor=2, mode="nearest").numpy())
    y = run_node("Resize", [x], dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil"), opset=13,
                 consts={1: None, 2: None, 3: np.array([2, 3, 8, 10], dtype=np.int64)})[0]
    chk("Resize nearest half_pixel sizes (nearest-exact)", y, F.interpolate(xt, size=(8, 10), mode="nearest-exact").numpy())
    # LayerNormalization, Softmax, reductions, shape ops against numpy
    x = f32(3, 4, 5)
    sc, bi = f32(5), f32(5)
    y = run_node("LayerNormalization", [x, sc, bi], dict(axis=-1, epsilon=1e-5))[0]
    xd = x.astype(np.float64)
    mu, var = xd.mean(-1, keepdims=True), xd.var(-1, keepdims=True)
    chk("LayerNormalization", y, (xd - mu) / np.sqrt(var + 1e-5) * sc + bi)
    y = run_node("LayerNormalization", [x, f32(4, 5)], dict(axis=1))[0]
    check("LayerNormalization axis=1 shape", 0.0 if y.shape == x.shape else 1.0, 0.0)
    y = run_node("Softmax", [x], dict(axis=1), opset=13)[0]
    e = np.exp(xd - xd.max(1, keepdims=True))
    chk("Softmax axis=1", y, e / e.sum(1, keepdims=True))
    y = run_node("Softmax", [x], dict(axis=1), opset=11)[0]
    x2 = xd.reshape(3, 20)
    e = np.exp(x2 - x2.max(1, keepdims=True))
    chk("Softmax opset11 (2-d coercion)", y, (e / e.sum(1, keepdims=True)).reshape(x.shape))
    y = run_node("LogSoftmax", [x], {}, opset=13)[0]
    chk("LogSoftmax", y, xd - xd.max(-1, keepdims=True) - np.log(np.exp(xd - xd.max(-1, keepdims=True)).sum(-1, keepdims=True)))
    chk("ReduceMean attr axes", run_node("ReduceMean", [x], dict(axes=[0, 2], keepdims=0), opset=13)[0], xd.mean((0, 2)))
    chk("ReduceMean input axes (18)", run_node("ReduceMean", [x], dict(keepdims=1), opset=18, consts={1: np.array([-1], dtype=np.int64)})[0], xd.mean(-1, keepdims=True))
    chk("ReduceSum input axes", run_node("ReduceSum", [x], {}, opset=13, consts={1: np.array([1], dtype=np.int64)})[0], xd.sum(1, keepdims=True))
    chk("ReduceSum all", run_node("ReduceSum", [x], dict(keepdims=0), opset=13)[0], xd.sum())
    chk("ReduceMax", run_node("ReduceMax", [x], dict(axes=[1]), opset=13)[0], xd.max(1, keepdims=True))
    y = run_node("Reshape", [x], {}, consts={1: np.array([0, -1], dtype=np.int64)})[0]
    chk("Reshape 0,-1", y, x.reshape(3, 20))
    y = run_node("Slice", [x], {}, consts={1: np.array([4, -1], dtype=np.int64), 2: np.array([0, -100], dtype=np.int64),
                                           3: np.array([2, 0], dtype=np.int64), 4: np.array([-2, -1], dtype=np.int64)})[0]
    chk("Slice negative steps", y, x[::-1, :, 4:0:-2])
    y = run_node("Slice", [x], {}, consts={1: np.array([1], dtype=np.int64), 2: np.array([1000], dtype=np.int64),
                                           3: np.array([1], dtype=np.int64)})[0]
    chk("Slice clamp", y, x[:, 1:])
    idx = np.array([[0, -1], [2, 1]], dtype=np.int64)
    chk("Gather axis=1 negative", run_node("Gather", [x, idx], dict(axis=1))[0], np.take(x, np.where(idx < 0, idx + 4, idx), axis=1))
    gi = rng.integers(0, 4, size=(3, 2, 5))
    chk("GatherElements", run_node("GatherElements", [x, gi], dict(axis=1))[0], np.take_along_axis(x, gi, axis=1))
    ys = run_node("Split", [x], dict(axis=2), opset=13, n_out=2, consts={1: np.array([2, 3], dtype=np.int64)})
    chk("Split input sizes", np.concatenate([ys[0], ys[1]], 2), x)
    ys = run_node("Split", [x], dict(axis=2, split=[1, 4]), opset=11, n_out=2)
    check("Split attr", 0.0 if ys[1].shape == (3, 4, 4) else 1.0, 0.0)
    y = run_node("Pad", [x], dict(mode="constant"), opset=13, consts={1: np.array([0, 1, 2, 0, 0, 1], dtype=np.int64), 2: np.array(1.5, dtype=np.float32)})[0]
    chk("Pad constant", y, np.pad(x, ((0, 0), (1, 0), (2, 1)), constant_values=1.5))
    y = run_node("Pad", [x], dict(mode="reflect"), opset=13, consts={1: np.array([0, 1, 2, 0, 0, 1], dtype=np.int64)})[0]
    chk("Pad reflect", y, np.pad(x, ((0, 0), (1, 0), (2, 1)), mode="reflect"))
    y = run_node("Expand", [f32(4, 1)], {}, consts={1: np.array([2, 1, 3], dtype=np.int64)})[0]
    check("Expand shape", 0.0 if y.shape == (2, 4, 3) else 1.0, 0.0)
    y = run_node("Range", [], {}, consts={0: np.array(1, dtype=np.int64), 1: np.array(10, dtype=np.int64), 2: np.array(3, dtype=np.int64)})[0]
    chk("Range", y, np.arange(1, 10, 3))
    a, b = f32(3, 4), f32(5, 3)
    y = run_node("Gemm", [a, b, f32(5)], dict(transA=1, transB=1, alpha=0.5, beta=2.0))[0]
    check("Gemm transA/transB shape", 0.0 if y.shape == (4, 5) else 1.0, 0.0)
    c = f32(5)
    y = run_node("Gemm", [a, b, c], dict(transA=1, transB=1, alpha=0.5, beta=2.0))[0]
    chk("Gemm transA/transB alpha beta", y, 0.5 * a.T.astype(np.float64) @ b.T + 2.0 * c)
    y = run_node("Squeeze", [f32(1, 3, 1, 2)], {}, opset=13, consts={1: np.array([2], dtype=np.int64)})[0]
    check("Squeeze input axes", 0.0 if y.shape == (1, 3, 2) else 1.0, 0.0)
    y = run_node("Unsqueeze", [f32(3, 2)], dict(axes=[0, 3]), opset=11)[0]
    check("Unsqueeze attr axes", 0.0 if y.shape == (1, 3, 2, 1) else 1.0, 0.0)
    y = run_node("Unsqueeze", [f32(3, 2)], {}, opset=13, consts={1: np.array([-1], dtype=np.int64)})[0]
    check("Unsqueeze input axes", 0.0 if y.shape == (3, 2, 1) else 1.0, 0.0)
    # BatchNormalization train formula vs numpy
    x = f32(4, 3, 5, 2)
    sc, bi, rm, rv = f32(3), f32(3), f32(3), np.abs(f32(3)) + 0.5
    inp = [x, sc, bi, rm, rv]
    model_bn = lambda mode: OnnxTorch(helper.make_model(helper.make_graph(  # noqa: E731
        [helper.make_node("BatchNormalization", [f"x{i}" for i in range(5)], ["y"], epsilon=1e-3)], "bn",
        [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, a_.shape) for i, a_ in enumerate(inp)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]), opset_imports=[helper.make_opsetid("", 15)]), bn=mode)
    xd = x.astype(np.float64)
    mu, var = xd.mean((0, 2, 3), keepdims=True), xd.var((0, 2, 3), keepdims=True)
    y = model_bn("train").run({f"x{i}": a_ for i, a_ in enumerate(inp)})["y"].numpy()
    chk("BatchNormalization train", y, (xd - mu) / np.sqrt(var + 1e-3) * sc.reshape(1, 3, 1, 1) + bi.reshape(1, 3, 1, 1))
    y = model_bn("eval").run({f"x{i}": a_ for i, a_ in enumerate(inp)})["y"].numpy()
    chk("BatchNormalization eval", y, (xd - rm.reshape(1, 3, 1, 1)) / np.sqrt(rv.reshape(1, 3, 1, 1) + 1e-3) * sc.reshape(1, 3, 1, 1) + bi.reshape(1, 3, 1, 1))
    # unsupported op is refused with a clear error
    try:
        run_node("NonMaxSuppression", [f32(1, 2, 4)])
        FAILS.append("unsupported op refused")
        print("FAIL unsupported op not refused")
    except UnsupportedModel as e:
        if not QUIET:
            print(f"ok   unsupported op refused: {str(e).splitlines()[1].strip()}")
    return worst


def main():
    w = module_checks()
    print(f"module vs interpreter: max rel err outputs {w['out']:.3g}, per-task grads {w['grad']:.3g}")
    o = op_checks()
    print(f"op checks: max rel err {o:.3g}")
    if FAILS:
        print(f"{len(FAILS)} FAILED: {FAILS}")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
