#!/usr/bin/python3
"""Export a small two-task PyTorch model to ONNX as a reference fixture.

Writes into test/fixtures/torch/ (or --out DIR):

  multitask_eval_op13.onnx    eval-mode export, opset 13 (Conv+BN get fused by
                              the exporter, identical zero biases get deduplicated)
  multitask_train_op13.onnx   TrainingMode.TRAINING, opset 13 (BatchNormalization
                              without training_mode attribute, extra outputs)
  multitask_train_op15.onnx   TrainingMode.TRAINING, opset 15 (BatchNormalization
                              with training_mode=1)
  multitask.pt                state_dict of the module (small) so that
                              scripts/test_onnx_torch.py can rebuild the nn.Module
  multitask.modules.json      ground truth: parameter-owning modules, their
                              parameters and shapes, and for each exported file
                              which ONNX initializer holds each parameter

Input name `input` [N,1,16,16] (N dynamic), outputs `T1` [N,10], `T2` [N,10].

Usage: /usr/bin/python3 scripts/export_torch_fixture.py [--out DIR]
"""
import argparse
import copy
import json
import os
import sys
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn

torch.set_num_threads(1)

FILES = [
    # (file name, training mode, opset)
    ("multitask_eval_op13.onnx", torch.onnx.TrainingMode.EVAL, 13),
    ("multitask_train_op13.onnx", torch.onnx.TrainingMode.TRAINING, 13),
    ("multitask_train_op15.onnx", torch.onnx.TrainingMode.TRAINING, 15),
]
INPUT_SHAPE = (1, 16, 16)  # C,H,W per sample


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.downsample = None

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.downsample is None else self.downsample(x)
        return self.relu(y + s)


class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        # bias=True on purpose: a conv bias feeding a train-mode BN has a
        # structurally zero gradient.
        self.conv = nn.Conv2d(1, 8, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.relu(self.bn(self.conv(x))))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Stem()
        self.block1 = BasicBlock(8, 8, 1)
        self.block2 = BasicBlock(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        return torch.flatten(self.pool(x), 1)


class Neck(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 24)
        self.act = nn.LeakyReLU(0.1)
        self.drop = nn.Dropout(0.1)
        # fc2.bias is zero-initialised like fc.bias (same shape): the eval-mode
        # exporter deduplicates equal-valued initializers, so `neck.fc2.bias`
        # disappears and both Gemms read `neck.fc.bias`.
        self.fc2 = nn.Linear(24, 24)

    def forward(self, x):
        x = self.drop(self.act(self.fc(x)))
        return torch.tanh(self.fc2(x))


class Head(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(24, n)

    def forward(self, x):
        return self.fc(x)


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.digit = Head(10)
        self.fashion = Head(10)


class MultiTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.neck = Neck()
        self.heads = Heads()

    def forward(self, x):
        z = self.neck(self.backbone(x))
        return self.heads.digit(z), self.heads.fashion(z)


def build_model(seed=0):
    torch.manual_seed(seed)
    m = MultiTask()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                # non-trivial affine params and running stats (avoids accidental
                # value-dedup of the default ones/zeros and makes eval mode differ)
                c = mod.num_features
                mod.weight.copy_(1 + 0.2 * torch.randn(c, generator=g))
                mod.bias.copy_(0.1 * torch.randn(c, generator=g))
                mod.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                mod.running_var.copy_(1 + 0.3 * torch.rand(c, generator=g))
                mod.num_batches_tracked.fill_(10)
        m.neck.fc.bias.zero_()
        m.neck.fc2.bias.zero_()
    return m


def module_table(m):
    mods = []
    for qn, mod in m.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
            params = [{"name": f"{qn}.{pn}", "shape": list(p.shape)}
                      for pn, p in mod.named_parameters(recurse=False)]
            buffers = [{"name": f"{qn}.{bn}", "shape": list(b.shape)}
                       for bn, b in mod.named_buffers(recurse=False)]
            mods.append({"module": qn, "type": type(mod).__name__,
                         "params": params, "buffers": buffers})
    return mods


def conv_bn_pairs(m):
    """(conv qualified name, bn qualified name) for every Conv2d directly
    followed by a BatchNorm2d in registration order (the pairs the eval-mode
    exporter fuses)."""
    mods = list(m.named_modules())
    out = []
    for (qa, a), (qb, b) in zip(mods, mods[1:]):
        if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
            out.append((qa, qb))
    return out


def fused_conv_bn(conv, bn):
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = conv.weight * s.reshape(-1, 1, 1, 1)
    b = conv.bias if conv.bias is not None else torch.zeros_like(bn.bias)
    return w.detach().numpy(), ((b - bn.running_mean) * s + bn.bias).detach().numpy()


def initializer_map(onnx_path, m):
    """Map each module parameter to the ONNX initializer holding it:
      same-name  an initializer with the parameter's name and values
      dedup      merged into another parameter's initializer with identical
                 values (the exporter may add an Identity node whose output
                 carries the dropped name: `alias`)
      renamed    identical values under an exporter-generated name
      folded     no initializer of its own: Conv+BN fused into a Conv whose
                 weight/bias initializers are given in `into`
    """
    model = onnx.load(onnx_path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    aliases = {n.output[0]: n.input[0] for n in model.graph.node
               if n.op_type == "Identity" and n.input[0] in inits}
    pnames = dict(m.named_parameters())
    mods = dict(m.named_modules())
    out = {}
    for name, p in pnames.items():
        a = p.detach().numpy()
        if name in inits and inits[name].shape == a.shape and np.array_equal(inits[name], a):
            out[name] = {"initializer": name, "how": "same-name"}
            continue
        hit = [k for k, v in inits.items() if v.shape == a.shape and np.array_equal(v, a)]
        if hit:
            how = "dedup" if any(k in pnames for k in hit) else "renamed"
            out[name] = {"initializer": hit[0], "how": how}
            if name in aliases:
                out[name]["alias"] = name
                out[name]["aliasOf"] = aliases[name]
        else:
            out[name] = {"initializer": None, "how": "folded"}
    for qc, qb in conv_bn_pairs(m):
        w, b = fused_conv_bn(mods[qc], mods[qb])
        wn = [k for k, v in inits.items() if v.shape == w.shape and np.allclose(v, w, rtol=1e-5, atol=1e-6)]
        bnm = [k for k, v in inits.items() if v.shape == b.shape and np.allclose(v, b, rtol=1e-5, atol=1e-6)]
        if len(wn) == 1 and len(bnm) == 1:
            for pn in [f"{qc}.weight", f"{qc}.bias", f"{qb}.weight", f"{qb}.bias"]:
                if pn in out and out[pn]["how"] == "folded":
                    out[pn]["into"] = {"weight": wn[0], "bias": bnm[0], "conv": qc, "bn": qb}
    extra = sorted(set(inits) - {v["initializer"] for v in out.values() if v["initializer"]}
                   - {v["into"][k] for v in out.values() if "into" in v for k in ("weight", "bias")})
    return out, extra


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "torch"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    m = build_model()
    torch.save(m.state_dict(), os.path.join(args.out, "multitask.pt"))
    x = torch.randn(4, *INPUT_SHAPE, generator=torch.Generator().manual_seed(123))
    exports = {}
    for fname, mode, opset in FILES:
        path = os.path.join(args.out, fname)
        # export a copy: tracing in train mode runs forward passes that would
        # update the BN running statistics of `m`
        mc = copy.deepcopy(m)
        mc.train(mode == torch.onnx.TrainingMode.TRAINING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                mc, (x,), path, opset_version=opset, do_constant_folding=True,
                training=mode, input_names=["input"], output_names=["T1", "T2"],
                dynamic_axes={"input": {0: "batch"}, "T1": {0: "batch"}, "T2": {0: "batch"}})
        # tracing in train mode runs the module, which updates the BN running
        # statistics before they are written out; put the pre-export values
        # back so every file matches multitask.pt
        sd = m.state_dict()
        om = onnx.load(path)
        for i, init in enumerate(om.graph.initializer):
            if init.name in sd and not np.array_equal(onnx.numpy_helper.to_array(init), sd[init.name].numpy()):
                assert "running_" in init.name, f"{fname}: initializer {init.name} differs from the module"
                om.graph.initializer[i].CopyFrom(onnx.numpy_helper.from_array(sd[init.name].numpy(), init.name))
        onnx.checker.check_model(om, full_check=True)
        onnx.save(om, path)
        mapping, extra = initializer_map(path, m)
        exports[fname] = {"opset": opset,
                          "training": mode == torch.onnx.TrainingMode.TRAINING,
                          "params": mapping,
                          "bufferInitializers": [k for k in extra if k in sd],
                          "otherInitializers": [k for k in extra if k not in sd]}
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    m.eval()

    doc = {
        "description": "Ground truth for layer grouping: PyTorch parameter-owning modules "
                       "(Conv2d/BatchNorm2d/Linear) with their parameters (trainable) and "
                       "buffers (not parameters). exports[file].params maps each PyTorch "
                       "parameter to the ONNX initializer holding it: same-name, renamed "
                       "(same values, exporter-generated name), dedup (merged into another "
                       "parameter's initializer with identical values; `alias` = an Identity output "
                       "carrying the dropped name), folded (no initializer: Conv+BN fused by the "
                       "eval-mode exporter into the Conv initializers named in `into`). "
                       "bufferInitializers: BN running statistics (not parameters). "
                       "otherInitializers: initializers matching no parameter or buffer.",
        "torch": torch.__version__,
        "input": {"name": "input", "shape": ["batch", *INPUT_SHAPE]},
        "outputs": {"T1": "heads.digit", "T2": "heads.fashion"},
        "modules": module_table(m),
        "exports": exports,
    }
    jp = os.path.join(args.out, "multitask.modules.json")
    with open(jp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {jp}")


if __name__ == "__main__":
    sys.exit(main())
