"""Where each PyTorch parameter went in one ONNX export, read from the graph itself.

Every module entry (reference.module_entries) gets a status in the export:
  exact        every parameter is an initializer under its own PyTorch name, values unchanged
  transformed  the parameter values are all there, but in initializers the exporter made
               (constant-folded Transpose of a Linear weight, LSTM/GRU gates reordered and
               concatenated into W/R/B, ...): same numel, same values, other layout or names
  fused        a Conv whose BatchNorm the eval-mode exporter folded into it: new weight values
               and a new bias; its numel in the export is weight + out_channels
  fused-away   a BatchNorm folded into the preceding Conv: gone from the export
  folded       the parameter was constant-folded into a derived constant (e.g. a relative
               position bias table gathered with constant indices): no longer a parameter
  dropped      nothing in the export reaches a loss from this module

Initializers are attributed to modules by name, else by value: with every parameter drawn at
random (export_corpus.randomize), a value that occurs in exactly one module identifies it.
"""
import numpy as np
import onnx
from onnx import numpy_helper

# Inputs that carry no gradient (shapes, indices, scales, BN running statistics, masks).
NON_DIFFERENTIABLE = {
    "Resize": {1, 2, 3}, "Upsample": {1}, "Reshape": {1}, "Expand": {1}, "Slice": {1, 2, 3, 4},
    "Gather": {1}, "GatherElements": {1}, "GatherND": {1}, "Pad": {1, 2, 3}, "Tile": {1},
    "Unsqueeze": {1}, "Squeeze": {1}, "Where": {0}, "BatchNormalization": {3, 4}, "Clip": {1, 2},
    "Split": {1}, "MaxUnpool": {1, 2}, "Dropout": {1, 2}, "LSTM": {4}, "GRU": {4}, "RNN": {4},
    "TopK": {1}, "CumSum": {1}, "ScatterElements": {1}, "ScatterND": {1}, "ReduceMean": {1},
    "ReduceSum": {1}, "ReduceL2": {1}, "ReduceMax": {1}, "ReduceProd": {1},
}
NO_GRADIENT_OPS = {"Shape", "Size", "ConstantOfShape", "Range", "Equal", "Less", "Greater", "LessOrEqual",
                   "GreaterOrEqual", "Not", "And", "Or", "ArgMax", "ArgMin", "NonZero"}
FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


def module_path_of(node_name):
    """Python port of modulePathOf (src/analysis/layers.ts): `/a/a.0/conv1/Conv` -> `a.0.conv1`."""
    if not node_name.startswith("/"):
        return None
    parts = [p for p in node_name.split("/") if p]
    if len(parts) < 2:
        return None
    segs = []
    for part in parts[:-1]:
        whole = ".".join(segs)
        if whole and part.startswith(whole + "."):
            segs = [part]
        elif segs and part.startswith(segs[-1] + "."):
            segs[-1] = part
        else:
            segs.append(part)
    return ".".join(segs) if segs else None


def differentiable_sources(graph):
    """Names of values from which some graph output is reachable through differentiable inputs."""
    live = {o.name for o in graph.output}
    for node in reversed(graph.node):
        if node.op_type in NO_GRADIENT_OPS or not any(o in live for o in node.output):
            continue
        skip = NON_DIFFERENTIABLE.get(node.op_type, set())
        for i, v in enumerate(node.input):
            if v and i not in skip:
                live.add(v)
    return live


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).reshape(-1)


def _sole_owner(value_owner, bits):
    """The module that at least 99% of the distinct values belong to (a stray float32 collision
    between two random parameters must not hide an initializer's origin), else None."""
    counts = {}
    uniq = np.unique(bits)
    for b in uniq:
        o = value_owner.get(int(b))
        counts[o] = counts.get(o, 0) + 1
    owners = [o for o in counts if o is not None]
    if len(owners) >= 1:
        best = max(owners, key=lambda o: counts[o])
        if counts[best] >= 0.99 * len(uniq):
            return best
    return None


def map_export(model_proto, entries, params32, fused_pairs):
    """-> dict with per-module status/export numel, expectedParams and the leftover constants.

    params32: PyTorch parameter name -> float32 numpy array; fused_pairs: [(conv, bn)] module
    paths where a BatchNorm directly consumes a Conv's output (candidates for eval fusion).
    """
    g = model_proto.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer if t.data_type in FLOAT_TYPES}
    live = differentiable_sources(g)
    reaching = {n: a for n, a in inits.items() if n in live}
    owner_of_param = {p["name"]: e["name"] for e in entries for p in e["params"]}

    # value -> the one module it belongs to (None when several modules share the value)
    value_owner = {}
    for e in entries:
        for p in e["params"]:
            for b in np.unique(_bits(params32[p["name"]])):
                b = int(b)
                value_owner[b] = e["name"] if value_owner.get(b, e["name"]) == e["name"] else None

    attributed = {e["name"]: [] for e in entries}
    unattributed = []
    for name, arr in reaching.items():
        if name in owner_of_param:
            attributed[owner_of_param[name]].append(name)
            continue
        owner = _sole_owner(value_owner, _bits(arr))
        if owner is not None:
            attributed[owner].append(name)
        else:
            unattributed.append(name)

    conv_nodes = {}
    for node in g.node:
        if node.op_type == "Conv":
            conv_nodes.setdefault(module_path_of(node.name), []).append(node)
    fused_conv = {c: b for c, b in fused_pairs}
    fused_bn = {b: c for c, b in fused_pairs}

    modules, claimed = [], set()
    for e in entries:
        name, names = e["name"], attributed[e["name"]]
        want = np.sort(np.concatenate([_bits(params32[p["name"]]) for p in e["params"]]))
        got = np.sort(np.concatenate([_bits(reaching[n]) for n in names])) if names else np.zeros(0, np.uint32)
        rec = {"name": name, "pytorchNumel": e["numel"], "initializers": sorted(names)}
        if names and got.shape == want.shape and np.array_equal(got, want):
            exact = all(p["name"] in reaching for p in e["params"]) and len(names) == len(e["params"])
            rec.update(status="exact" if exact else "transformed", numel=e["numel"])
        elif names:
            rec.update(status="folded", numel=0)
        elif name in fused_conv and conv_nodes.get(name):
            used = [v for nd in conv_nodes[name] for v in nd.input[1:3] if v in reaching]
            rec.update(status="fused", numel=int(sum(reaching[v].size for v in set(used))),
                       initializers=sorted(set(used)), fusedWith=fused_conv[name])
            claimed.update(used)
        elif name in fused_bn:
            rec.update(status="fused-away", numel=0, fusedInto=fused_bn[name])
        else:
            rec.update(status="dropped", numel=0)
        modules.append(rec)

    folded = [n for m in modules if m["status"] == "folded" for n in m["initializers"]]
    constants = []
    for n in unattributed:
        if n in claimed:
            continue
        users = sorted({nd.op_type for nd in g.node if n in nd.input})
        constants.append({"name": n, "shape": list(reaching[n].shape), "numel": int(reaching[n].size), "consumers": users})
    expected = sum(m["numel"] for m in modules)
    total_reaching = int(sum(a.size for a in reaching.values()))
    folded_numel = int(sum(reaching[n].size for n in folded))
    assert total_reaching == expected + folded_numel + sum(c["numel"] for c in constants), "attribution does not add up"
    return {
        "modules": modules,
        "expectedParams": int(expected),
        "floatInitializersReachingLoss": total_reaching,
        "foldedInitializers": [{"name": n, "shape": list(reaching[n].shape)} for n in folded],
        "constants": constants,
    }
