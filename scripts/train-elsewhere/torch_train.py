#!/usr/bin/python3
"""Trains a model rewritten by `recon rewrite` in PyTorch, as someone training it elsewhere would,
and writes the fixtures `test/train/train-elsewhere.test.ts` compares `recon train` against.

    /usr/bin/python3 scripts/train-elsewhere/torch_train.py --original ORIG.onnx --rewritten R.onnx \
        --summary R.rewrite.json --tasks T.tasks.json --out DIR

(`scripts/train-elsewhere/make_fixtures.sh` runs the rewrite with the CLI, then this.)

Independent of the TypeScript side: the rewritten ONNX graph runs in `scripts/onnx_torch.py`, an
ONNX interpreter written with PyTorch ops; gradients come from PyTorch autograd, the update from
`torch.optim.SGD`, BatchNorm running statistics from `F.batch_norm` (PyTorch's own rule: momentum
0.1, unbiased variance). Nothing here reads the project's TypeScript.

What it writes to DIR:
  data.npz       the training rows (seeded), in the project's data format (inputs, <task>_target)
  probe.npz      a separate batch on which the trained model's outputs are recorded
  reference.json settings, losses per step, tolerances, the readiness checks run here
  reference.npz  the trained parameters and running statistics (float32, by initializer name),
                 the probe outputs in inference form (running statistics) and training form (batch
                 statistics): `eval.<output>`, `train.<output>`

Tolerances: the same training runs again in float64. How far PyTorch's float32 run lands from
the float64 one measures the rounding noise of this computation; recon-onnx computes in float32
with another operation order, so it may land as far again on the other side. Each tolerance is
TOL_FACTOR times that distance (per tensor, per loss), with a floor of a few float32 ulps of the
values compared.

It also checks the README's "Training elsewhere" recipe (`branch_like_recon`,
`load_recon_weights`): the corpus architecture as an `nn.Module`, branched by the module names
of the rewrite summary and loaded from the rewritten model's initializers through its mapping,
must compute the same outputs and train to the same parameters (float64) as the rewritten ONNX
graph. Any mismatch stops the script.
"""
import argparse
import copy
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "corpus"))
from onnx_torch import OnnxTorch, task_loss  # noqa: E402

TOL_FACTOR = 10.0
# A float32 ulp is 2^-23 ≈ 1.2e-7 relative; 8 ulps of the largest value compared.
ULP_FLOOR = 8 * 2.0 ** -23
BN_MOMENTUM = 0.1  # PyTorch's default, and what recon-onnx uses


# ------------------------------------------------------------------------------------------------
# The README recipe ("Training elsewhere"): branch the same modules in your own PyTorch code.
def branch_like_recon(model, n_tasks, branched_modules):
    """One copy of `model` per task. Parameters are shared between the copies except inside the
    branched modules; buffers (BatchNorm running statistics) stay per copy."""
    copies = nn.ModuleList(copy.deepcopy(model) for _ in range(n_tasks))

    def branched(name):
        return any(name == b or name.startswith(b + ".") for b in branched_modules)

    for other in copies[1:]:
        for name, module in copies[0].named_modules():
            if branched(name):
                continue
            target = other.get_submodule(name) if name else other
            for pname, p in list(module.named_parameters(recurse=False)):
                setattr(target, pname, p)
    return copies


class ReconBranched(nn.Module):
    """Task k's output is output k of copy k (a model returning one tensor per task, in task order)."""

    def __init__(self, model, tasks, branched_modules):
        super().__init__()
        self.tasks = list(tasks)
        self.copies = branch_like_recon(model, len(self.tasks), branched_modules)

    def forward(self, *inputs):
        return tuple(c(*inputs)[k] for k, c in enumerate(self.copies))


def load_recon_weights(net, initializers, summary):
    """Loads a rewritten (or `recon train`-ed) model's initializers into a ReconBranched net
    through the rewrite summary's mapping: task t's copy of state-dict key k is
    branched[].params[].copies[t]; every other key keeps its name."""
    renamed = {}
    for layer in summary["branched"]:
        for p in layer["params"]:
            if p["stateDictKey"] is not None:
                for task, name in p["copies"].items():
                    renamed[(task, p["stateDictKey"])] = name
    for k, task in enumerate(net.tasks):
        for key, tensor in net.copies[k].state_dict().items():
            name = renamed.get((task, key), key)
            if name in initializers:
                tensor.copy_(torch.from_numpy(initializers[name]))
            elif not key.endswith("num_batches_tracked"):
                raise KeyError(f"no initializer for {key} of task {task} (looked for {name})")
# ------------------------------------------------------------------------------------------------


def load_tasks(path):
    with open(path) as f:
        return json.load(f)["tasks"]


def make_data(model, tasks, rows, seed):
    """Seeded inputs and targets shaped from the model (the batch axis is the only symbolic one)."""
    rng = np.random.default_rng(seed)
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        dims = [rows] + [d.dim_value for d in vi.type.tensor_type.shape.dim[1:]]
        out[vi.name] = rng.standard_normal(dims).astype(np.float32)
    shapes = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim[1:]] for o in model.graph.output}
    for t in tasks:
        dims = shapes[t["output"]]
        if t["loss"] == "cross_entropy":
            out[f"{t['name']}_target"] = rng.integers(0, dims[0], size=[rows] + dims[1:]).astype(np.int64)
        else:
            out[f"{t['name']}_target"] = rng.standard_normal([rows] + dims).astype(np.float32)
    return out


def batch_norms(model):
    return [n for n in model.graph.node if n.op_type == "BatchNormalization"]


def train(model, tasks, data, input_names, steps, batch, lr, momentum, dtype):
    """SGD on the sum of the task losses, BN in training mode, rows in order (no shuffling)."""
    m = OnnxTorch(model, bn="train")
    if dtype == torch.float64:
        for k in list(m.params):
            m.params[k] = nn.Parameter(m.params[k].detach().double(), requires_grad=m.params[k].requires_grad)
    params = m.trainable()
    opt = torch.optim.SGD(list(params.values()), lr=lr, momentum=momentum, weight_decay=0.0)
    bns = batch_norms(model)
    losses = []
    for step in range(steps):
        rows = slice(step * batch, (step + 1) * batch)
        feeds = {n: torch.from_numpy(data[n][rows]).to(dtype) for n in input_names}
        env = m.run(feeds, keep_all=True)
        per_task = []
        for t in tasks:
            target = torch.from_numpy(data[f"{t['name']}_target"][rows])
            if target.is_floating_point():
                target = target.to(dtype)
            per_task.append(float(t.get("weight", 1.0)) * task_loss(t["loss"], env[t["output"]], target, t))
        losses.append([float(v.detach()) for v in per_task])
        opt.zero_grad()
        sum(per_task).backward()
        opt.step()
        # Running statistics from this step's batch, by PyTorch's BatchNorm rule (in place).
        with torch.no_grad():
            for n in bns:
                F.batch_norm(env[n.input[0]].detach(), m.params[n.input[3]].data, m.params[n.input[4]].data,
                             training=True, momentum=BN_MOMENTUM)
    return m, losses


def probe_outputs(m, probe, input_names):
    out = {}
    feeds = {n: torch.from_numpy(probe[n]).to(next(iter(m.params.values())).dtype) for n in input_names}
    with torch.no_grad():
        for mode in ("eval", "train"):
            m.bn = mode
            for k, v in m.run(feeds).items():
                out[f"{mode}.{k}"] = v.detach().double().numpy()
    m.bn = "train"
    return out


def state(m):
    return {k: p.detach().double().numpy() for k, p in m.params.items()}


def readiness(model):
    """What onnxruntime's artifact generator needs that Python can check here (its own package,
    onnxruntime-training, is not installable offline): the ONNX checker with strict shape
    inference (generate_artifacts runs onnx shape inference), and every parameter an initializer
    that is not also a graph input (requires_grad names are looked up among the initializers,
    which are then appended to the graph inputs)."""
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    inputs = {i.name for i in model.graph.input}
    m = OnnxTorch(model, bn="train")
    trainable = list(m.trainable())
    both = [p for p in trainable if p in inputs]
    if both:
        raise SystemExit(f"parameters that are also graph inputs: {both}")
    return {"onnxChecker": "full_check passed", "strictShapeInference": "passed",
            "floatInitializers": len(m.params), "parametersNotGraphInputs": True}


def check_recipe(original_path, model, summary, tasks, data, probe, input_names, settings, onnx_f64):
    """The README recipe on the corpus nn.Module must reproduce the rewritten ONNX graph (float64)."""
    import archs  # scripts/corpus: the corpus architectures
    arch = archs.BY_NAME[os.path.basename(os.path.dirname(os.path.abspath(original_path)))]
    module = arch.build()  # its initial values do not matter: load_recon_weights replaces them
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    modules = [b["module"] for b in summary["branched"]]
    if any(mod is None for mod in modules):
        raise SystemExit("the recipe needs a module name for every branched layer")
    net = ReconBranched(module, [t["name"] for t in tasks], modules).double()
    load_recon_weights(net, {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in inits.items()}, summary)
    net.train(True)
    opt = torch.optim.SGD(list(net.parameters()), lr=settings["lr"], momentum=settings["momentum"], weight_decay=0.0)
    losses = []
    for step in range(settings["steps"]):
        rows = slice(step * settings["batchSize"], (step + 1) * settings["batchSize"])
        outs = net(*[torch.from_numpy(data[n][rows]).double() for n in input_names])
        per_task = []
        for t, o in zip(tasks, outs):
            target = torch.from_numpy(data[f"{t['name']}_target"][rows])
            if target.is_floating_point():
                target = target.double()
            per_task.append(task_loss(t["loss"], o, target, t))
        losses.append([float(v.detach()) for v in per_task])
        opt.zero_grad()
        sum(per_task).backward()
        opt.step()
    # Read the trained recipe net back under the rewritten model's initializer names.
    ref_model, ref_losses = onnx_f64
    ref = state(ref_model)
    renamed = {}
    for layer in summary["branched"]:
        for p in layer["params"]:
            for task, name in p["copies"].items():
                renamed[(task, p["stateDictKey"])] = name
    worst = 0.0
    for k, task in enumerate(net.tasks):
        for key, tensor in net.copies[k].state_dict().items():
            name = renamed.get((task, key), key)
            if name in ref:
                worst = max(worst, float(np.abs(tensor.numpy() - ref[name]).max()))
    loss_diff = float(np.abs(np.array(losses) - np.array(ref_losses)).max())
    net.eval()
    with torch.no_grad():
        outs = net(*[torch.from_numpy(probe[n]).double() for n in input_names])
    ref_probe = probe_outputs(ref_model, probe, input_names)
    out_diff = max(float(np.abs(o.numpy() - ref_probe[f"eval.{t['output']}"]).max()) for t, o in zip(tasks, outs))
    if max(worst, loss_diff, out_diff) > 1e-9:
        raise SystemExit(f"README recipe does not reproduce the rewritten model: params {worst:.3e}, losses {loss_diff:.3e}, outputs {out_diff:.3e}")
    return {"maxParamDiff": worst, "maxLossDiff": loss_diff, "maxEvalOutputDiff": out_diff, "dtype": "float64"}


def tolerance(a32, a64):
    scale = max(1.0, float(np.abs(a64).max()) if np.size(a64) else 1.0)
    return max(TOL_FACTOR * float(np.abs(np.asarray(a32, dtype=np.float64) - a64).max()), ULP_FLOOR * scale)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--original", required=True)
    ap.add_argument("--rewritten", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    model = onnx.load(args.rewritten)
    tasks = load_tasks(args.tasks)
    with open(args.summary) as f:
        summary = json.load(f)
    inits = {i.name for i in model.graph.initializer}
    input_names = [i.name for i in model.graph.input if i.name not in inits]
    data = make_data(model, tasks, args.rows, args.seed)
    probe = make_data(model, tasks, args.batch_size, args.seed + 1)
    steps = args.rows // args.batch_size
    settings = {"steps": steps, "batchSize": args.batch_size, "lr": args.lr, "momentum": args.momentum,
                "weightDecay": 0.0, "seed": args.seed, "shuffle": False, "method": "ew", "optimizer": "sgd",
                "bn": "train", "bnMomentum": BN_MOMENTUM}

    m32, losses32 = train(model, tasks, data, input_names, steps, args.batch_size, args.lr, args.momentum, torch.float32)
    m64, losses64 = train(model, tasks, data, input_names, steps, args.batch_size, args.lr, args.momentum, torch.float64)
    s32, s64 = state(m32), state(m64)
    p32, p64 = probe_outputs(m32, probe, input_names), probe_outputs(m64, probe, input_names)
    initial = {i.name: onnx.numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}

    trainable = list(m32.trainable())
    stats = [k for k in m32.params if k not in m32.trainable()]
    tensors = {}
    for k in trainable + stats:
        tensors[k] = {"tol": tolerance(s32[k], s64[k]),
                      "kind": "parameter" if k in trainable else "running-statistic",
                      "change": float(np.abs(s64[k] - initial[k]).max())}
    outputs = {k: {"tol": tolerance(p32[k], p64[k])} for k in p32}
    loss_tol = [[TOL_FACTOR * abs(a - b) + ULP_FLOOR * max(1.0, abs(b)) for a, b in zip(r32, r64)]
                for r32, r64 in zip(losses32, losses64)]

    recipe = check_recipe(args.original, model, summary, tasks, data, probe, input_names, settings, (m64, losses64))

    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, "data.npz"), **data)
    np.savez(os.path.join(args.out, "probe.npz"), **probe)
    arrays = {k: s32[k].astype(np.float32) for k in trainable + stats}
    arrays.update({k: v.astype(np.float32) for k, v in p32.items()})
    np.savez(os.path.join(args.out, "reference.npz"), **arrays)
    with open(args.rewritten, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    ref = {
        "about": "PyTorch (scripts/onnx_torch.py + autograd + torch.optim.SGD) training of the rewritten model; "
                 "written by scripts/train-elsewhere/torch_train.py",
        "torch": torch.__version__, "onnx": onnx.__version__,
        "model": os.path.basename(args.rewritten), "modelSha256": sha,
        "tasks": [t["name"] for t in tasks],
        "settings": settings,
        "losses": losses32, "lossesFloat64": losses64, "lossTolerance": loss_tol,
        "tensors": tensors, "outputs": outputs,
        "tolerance": f"per tensor: max({TOL_FACTOR} x |torch float32 - torch float64|, {ULP_FLOOR:.3g} x max(1, |value|))",
        "readiness": readiness(model),
        "recipe": recipe,
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    worst = max(v["tol"] / max(v["change"], 1e-30) for v in tensors.values())
    print(f"wrote {args.out}: {steps} steps, losses {losses32[0]} -> {losses32[-1]}; "
          f"largest tolerance / parameter change {worst:.2e}; recipe {recipe}")


if __name__ == "__main__":
    main()
