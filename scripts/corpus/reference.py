"""PyTorch references for the corpus: losses, per-module task-gradient Grams with tolerances, SGD.

Everything here runs on the nn.Module itself (never on the ONNX graph), in float64.

Losses mirror src/autodiff/losses.ts formula by formula (same clamps, same reductions), so a
difference between recon-onnx and this reference is a gradient or export problem, never a
loss-definition one.

Tolerances are derived exactly as scripts/make_fixtures.py derives them (its `entry` is reused):
the reference is re-run NUDGES times with every float model input multiplied in float32 by
1 + u*2^-23, u uniform in [-3,3] (models whose only inputs are token ids get their float
parameters nudged instead); per module, tolCos = max(1e-4, 3 * spread of each pairwise cosine),
tolNormRel = max(1e-4, 3 * relative spread of each task's norm). A (module, task) whose norm is
structurally or numerically zero is flagged in zeroTasks and compared against zeroBound.
"""
import copy
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from make_fixtures import ZERO_NOISY, entry  # noqa: E402  (the project's tolerance rules)

NUDGES = 8


# ---------------------------------------------------------------------------------------------
# losses (src/autodiff/losses.ts)
def loss_of(kind, out, target, ignore_index=-1):
    if kind == "cross_entropy":
        logp = F.log_softmax(out, dim=1)
        valid = target != ignore_index
        safe = torch.where(valid, target, torch.zeros_like(target))
        picked = logp.gather(1, safe.unsqueeze(1))
        mask = valid.to(out.dtype).unsqueeze(1)
        return -(picked * mask).sum() / mask.sum()
    if kind == "bce_with_logits":
        return (F.relu(out) - out * target + F.softplus(-out.abs())).mean()
    if kind == "mse":
        d = out - target
        return (d * d).mean()
    if kind == "l1":
        return (out - target).abs().mean()
    if kind == "smooth_l1":
        d = (out - target).abs()
        return torch.where(d < 1, d * d * 0.5, d - 0.5).mean()
    if kind == "cosine":
        def norm(x):
            return torch.clamp((x * x).sum(1).sqrt(), min=1e-8)
        cos = (out * target).sum(1) / (norm(out) * norm(target))
        return (1 - cos).mean()
    if kind == "none":
        return out.reshape(())
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------
# modules: the names recon-onnx must use as layer names
def module_entries(model):
    """Parameter-owning modules in registration order: a torch.nn / torchvision layer is one
    entry with its direct parameters; a bare nn.Parameter on a user-written module is an entry
    of its own named `<module path>.<param name>`."""
    entries = []
    for path, mod in model.named_modules():
        direct = [(n, p) for n, p in mod.named_parameters(recurse=False) if p.requires_grad]
        if not direct:
            continue
        library = type(mod).__module__.startswith(("torch.", "torchvision."))
        groups = [(path, direct)] if library else [(f"{path}.{n}" if path else n, [(n, p)]) for n, p in direct]
        for name, ps in groups:
            full = [f"{path}.{n}" if path else n for n, _ in ps]
            entries.append({
                "name": name,
                "type": type(mod).__name__,
                "params": [{"name": fn, "shape": list(p.shape), "numel": p.numel()} for fn, (_, p) in zip(full, ps)],
                "numel": sum(p.numel() for _, p in ps),
            })
    return entries


def param_table(model):
    return dict(model.named_parameters())


# ---------------------------------------------------------------------------------------------
def to_torch(batch, input_names, dtype):
    out = []
    for n in input_names:
        a = torch.from_numpy(np.ascontiguousarray(batch[n]))
        out.append(a.to(dtype) if a.is_floating_point() else a)
    return out


def task_losses(model, inputs, batch, tasks, dtype):
    outs = model(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    losses = []
    for (name, kind), o in zip(tasks, outs):
        tgt = batch.get(f"{name}_target")
        t = None if tgt is None else torch.from_numpy(tgt)
        if t is not None and t.is_floating_point():
            t = t.to(dtype)
        losses.append(loss_of(kind, o, t))
    return losses


def per_task_grads(model, inputs, batch, tasks, entries, dtype):
    """-> (losses, grads[t][module] = flat float64 vector or None when the task does not reach it)."""
    table = param_table(model)
    names = [p["name"] for e in entries for p in e["params"]]
    params = [table[n] for n in names]
    losses = task_losses(model, inputs, batch, tasks, dtype)
    grads = []
    for L in losses:
        g = dict(zip(names, torch.autograd.grad(L, params, retain_graph=True, allow_unused=True)))
        per = {}
        for e in entries:
            parts = [g[p["name"]] for p in e["params"]]
            if all(x is None for x in parts):
                per[e["name"]] = None
            else:
                per[e["name"]] = np.concatenate([
                    (np.zeros(p["numel"]) if x is None else x.detach().to(torch.float64).reshape(-1).numpy())
                    for p, x in zip(e["params"], parts)])
        grads.append(per)
    return [float(L.detach()) for L in losses], grads


def gram(vecs):
    T = len(vecs)
    G = np.zeros((T, T))
    for i in range(T):
        for j in range(i, T):
            v = 0.0 if vecs[i] is None or vecs[j] is None else float(np.dot(vecs[i], vecs[j]))
            G[i, j] = G[j, i] = v
    return G


def nudge_f32(arr, seed, k):
    rng = np.random.default_rng([seed, 1000 + k])
    u = rng.integers(-3, 4, size=arr.shape).astype(np.float32)
    return (arr.astype(np.float32) * (np.float32(1) + u * np.float32(2.0 ** -23))).astype(np.float32)


def gradient_reference(model32, mode, batch, input_names, tasks, entries, seed):
    """Losses, per-module reach and Grams with tolerances for one BN mode ("train" or "eval")."""
    model = copy.deepcopy(model32).double()
    model.train(mode == "train")
    dtype = torch.float64
    inputs = to_torch(batch, input_names, dtype)
    losses, grads = per_task_grads(model, inputs, batch, tasks, entries, dtype)
    T = len(tasks)
    reach = {e["name"]: [t for t in range(T) if grads[t][e["name"]] is not None] for e in entries}
    runs = [{e["name"]: gram([grads[t][e["name"]] for t in range(T)]) for e in entries}]

    float_inputs = [n for n in input_names if batch[n].dtype == np.float32]
    base32 = {n: p.detach().clone() for n, p in model32.named_parameters()}
    for k in range(NUDGES):
        if float_inputs:
            nb = dict(batch)
            for n in float_inputs:
                nb[n] = nudge_f32(batch[n], seed, k)
            m, nin = model, to_torch(nb, input_names, dtype)
        else:  # token ids only: nudge the float parameters instead
            m = copy.deepcopy(model)
            with torch.no_grad():
                for n, p in m.named_parameters():
                    p.copy_(torch.from_numpy(nudge_f32(base32[n].numpy(), seed, k)).to(dtype))
            nin = inputs
        _, gk = per_task_grads(m, nin, batch, tasks, entries, dtype)
        runs.append({e["name"]: gram([gk[t][e["name"]] for t in range(T)]) for e in entries})

    # typical norm per task: the largest per-parameter gradient norm (as make_fixtures.py)
    table = param_table(model)
    typical = [0.0] * T
    for t, L in enumerate(task_losses(model, inputs, batch, tasks, dtype)):
        names = [p["name"] for e in entries for p in e["params"] if t in reach[e["name"]]]
        g = torch.autograd.grad(L, [table[n] for n in names], retain_graph=True, allow_unused=True)
        typical[t] = max((float(x.norm()) for x in g if x is not None), default=0.0)
    typical = [v if v > 0 else 1.0 for v in typical]
    grams = {e["name"]: entry([r[e["name"]] for r in runs], typical, {}) for e in entries}
    return {
        "losses": losses,
        "reach": reach,
        "typicalNorm": typical,
        "zeroBound": [ZERO_NOISY * v for v in typical],
        "grams": grams,
    }


def sgd_reference(model32, batch, input_names, tasks, entries, steps=3, lr=0.01, momentum=0.9):
    """Three SGD steps on the sum of the task losses (BN in train mode), same batch each step."""
    model = copy.deepcopy(model32).double()
    model.train(True)
    dtype = torch.float64
    inputs = to_torch(batch, input_names, dtype)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=momentum,
                          weight_decay=0.0)
    per_step = []
    for _ in range(steps):
        losses = task_losses(model, inputs, batch, tasks, dtype)
        per_step.append([float(L.detach()) for L in losses])
        opt.zero_grad()
        sum(losses).backward()
        opt.step()
    table = param_table(model)
    norms = {}
    for e in entries:
        v = torch.cat([table[p["name"]].detach().reshape(-1) for p in e["params"]])
        norms[e["name"]] = float(v.norm())
    return {
        "lr": lr, "momentum": momentum, "weightDecay": 0.0, "method": "ew", "steps": steps, "bn": "train",
        "dtype": "float64",
        "losses": per_step,
        "moduleNorms": norms,
    }
