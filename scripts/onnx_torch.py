#!/usr/bin/python3
"""A small ONNX interpreter written with PyTorch ops, used as an independent
reference for the TypeScript gradient engine.

    from onnx_torch import OnnxTorch, task_loss
    m = OnnxTorch("model.onnx", bn="train")         # or bn="eval" / "model"
    outs = m.run({"input": np_array_or_tensor})      # dict: output name -> tensor
    m.params                                         # name -> torch.nn.Parameter

Every float32 initializer becomes a torch.nn.Parameter (requires_grad=True),
except the running mean / running variance inputs of BatchNormalization
(m.bn_stats), which are buffers. Other initializers are plain tensors.
Computation stays in float32 (no float64 anywhere unless the model itself
casts to DOUBLE).

BatchNormalization mode is chosen by the `bn` flag, not by the model:
  bn="train": batch statistics (F.batch_norm(training=True), biased variance,
              as PyTorch's BatchNorm2d in train mode). Extra outputs (opset<=13
              five-output form, opset>=14 training_mode form) are the updated
              running statistics (ONNX formula: mean*momentum + batch*(1-momentum))
              and, for the 5-output form, the batch mean / batch variance.
  bn="eval":  running statistics from the model's initializers.
  bn="model": follow the model (training_mode attribute for opset>=14; for
              opset<=13 train mode if the node has more than one output).
Dropout is always the identity (its mask output is all true).

Unknown ops, non-default domains and subgraph ops are refused up front with a
list of what is missing (UnsupportedModel).

CLI:  /usr/bin/python3 scripts/onnx_torch.py MODEL.onnx [--bn train|eval|model] [--batch N]
      runs the model on random inputs and prints output shapes.
"""
import math
import sys
from collections import OrderedDict

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F
from onnx import TensorProto

__all__ = ["OnnxTorch", "UnsupportedModel", "task_loss", "LOSSES", "SUPPORTED_OPS"]


class UnsupportedModel(Exception):
    pass


ONNX_TO_TORCH = {
    TensorProto.FLOAT: torch.float32,
    TensorProto.DOUBLE: torch.float64,
    TensorProto.FLOAT16: torch.float16,
    TensorProto.BFLOAT16: torch.bfloat16,
    TensorProto.INT64: torch.int64,
    TensorProto.INT32: torch.int32,
    TensorProto.INT16: torch.int16,
    TensorProto.INT8: torch.int8,
    TensorProto.UINT8: torch.uint8,
    TensorProto.BOOL: torch.bool,
}


def _attrs(node):
    out = {}
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH or a.type == onnx.AttributeProto.GRAPHS:
            raise UnsupportedModel(f"node {node.name or node.op_type}: subgraph attribute '{a.name}' is not supported")
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        out[a.name] = v
    return out


def _ints(t):
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return [int(v) for v in t.detach().reshape(-1).tolist()]
    return [int(v) for v in t]


def _floats(t):
    if isinstance(t, torch.Tensor):
        return [float(v) for v in t.detach().reshape(-1).tolist()]
    return [float(v) for v in t]


def _scalar(t):
    return t.detach().reshape(-1)[0].item()


def _ax(axis, rank):
    return axis + rank if axis < 0 else axis


def _is_float(t):
    return t.dtype.is_floating_point


def _conv_fn(n, transpose=False):
    if n not in (1, 2, 3):
        raise UnsupportedModel(f"{n}-d convolution is not supported")
    if transpose:
        return [F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d][n - 1]
    return [F.conv1d, F.conv2d, F.conv3d][n - 1]


def _torch_pad_list(begins, ends):
    """ONNX-style per-axis (begin, end) for the trailing axes -> F.pad list."""
    out = []
    for b, e in zip(reversed(begins), reversed(ends)):
        out += [int(b), int(e)]
    return out


def _same_pads(in_sp, k, s, d, auto_pad):
    pb, pe = [], []
    for i in range(len(in_sp)):
        out = -(-in_sp[i] // s[i])
        total = max(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in_sp[i])
        if auto_pad == "SAME_UPPER":
            pb.append(total // 2)
            pe.append(total - total // 2)
        else:
            pb.append(total - total // 2)
            pe.append(total // 2)
    return pb, pe


def _pads_from(a, n, in_sp, k, s, d):
    auto_pad = a.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return _same_pads(in_sp, k, s, d, auto_pad)
    if auto_pad == "VALID":
        return [0] * n, [0] * n
    pads = list(a.get("pads", [0] * (2 * n)))
    return pads[:n], pads[n:]


# ----------------------------------------------------------------------------
# op implementations: fn(self, node, attrs, inputs) -> list of outputs
# `inputs` has None for missing optional inputs.
# ----------------------------------------------------------------------------
OPS = {}


def op(*names):
    def deco(fn):
        for n in names:
            OPS[n] = fn
        return fn
    return deco


def _unary(fn):
    return lambda self, n, a, x: [fn(x[0])]


for _name, _fn in {
    "Relu": F.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Erf": torch.erf,
    "Sqrt": torch.sqrt, "Exp": torch.exp, "Log": torch.log, "Neg": torch.neg, "Abs": torch.abs,
    "Reciprocal": torch.reciprocal, "Floor": torch.floor, "Ceil": torch.ceil, "Sin": torch.sin,
    "Cos": torch.cos, "Sign": torch.sign, "Not": torch.logical_not, "Softsign": F.softsign,
    "Round": torch.round, "Identity": lambda t: t,
}.items():
    OPS[_name] = _unary(_fn)


@op("LeakyRelu")
def _leaky(self, n, a, x):
    return [F.leaky_relu(x[0], a.get("alpha", 0.01))]


@op("Elu")
def _elu(self, n, a, x):
    return [F.elu(x[0], a.get("alpha", 1.0))]


@op("Selu")
def _selu(self, n, a, x):
    al = a.get("alpha", 1.67326319217681884765625)
    g = a.get("gamma", 1.05070102214813232421875)
    return [g * torch.where(x[0] > 0, x[0], al * (torch.exp(x[0]) - 1))]


@op("HardSigmoid")
def _hsig(self, n, a, x):
    return [torch.clamp(a.get("alpha", 0.2) * x[0] + a.get("beta", 0.5), 0, 1)]


@op("HardSwish")
def _hswish(self, n, a, x):
    return [F.hardswish(x[0])]


@op("PRelu")
def _prelu(self, n, a, x):
    return [torch.where(x[0] >= 0, x[0], x[0] * x[1])]


@op("Softplus")
def _softplus(self, n, a, x):
    return [F.softplus(x[0])]


@op("Gelu")
def _gelu(self, n, a, x):
    return [F.gelu(x[0], approximate=a.get("approximate", "none"))]


@op("Clip")
def _clip(self, n, a, x):
    if self.opset < 11:
        lo, hi = a.get("min", None), a.get("max", None)
    else:
        lo = _scalar(x[1]) if len(x) > 1 and x[1] is not None else None
        hi = _scalar(x[2]) if len(x) > 2 and x[2] is not None else None
    if lo is None and hi is None:
        return [x[0]]
    return [torch.clamp(x[0], min=lo, max=hi)]


def _binary(fn):
    return lambda self, n, a, x: [fn(x[0], x[1])]


def _div(a_, b_):
    if _is_float(a_):
        return a_ / b_
    return torch.div(a_, b_, rounding_mode="trunc")


def _pow(a_, b_):
    if _is_float(a_) and not _is_float(b_):
        b_ = b_.to(a_.dtype)
    return torch.pow(a_, b_).to(a_.dtype)


for _name, _fn in {
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": _div, "Pow": _pow,
    "Equal": torch.eq, "Less": torch.lt, "Greater": torch.gt, "LessOrEqual": torch.le,
    "GreaterOrEqual": torch.ge, "And": torch.logical_and, "Or": torch.logical_or,
    "Xor": torch.logical_xor,
}.items():
    OPS[_name] = _binary(_fn)


def _variadic(fn):
    def run(self, n, a, x):
        acc = x[0]
        for t in x[1:]:
            acc = fn(acc, t)
        return [acc]
    return run


OPS["Sum"] = _variadic(torch.add)
OPS["Max"] = _variadic(torch.maximum)
OPS["Min"] = _variadic(torch.minimum)


@op("Mean")
def _mean(self, n, a, x):
    acc = x[0]
    for t in x[1:]:
        acc = acc + t
    return [acc / len(x)]


@op("Where")
def _where(self, n, a, x):
    return [torch.where(x[0].bool(), x[1], x[2])]


@op("Conv")
def _conv(self, n, a, x):
    X, W = x[0], x[1]
    B = x[2] if len(x) > 2 else None
    sp = len(X.shape) - 2
    k = list(W.shape[2:])
    s = list(a.get("strides", [1] * sp))
    d = list(a.get("dilations", [1] * sp))
    g = a.get("group", 1)
    pb, pe = _pads_from(a, sp, list(X.shape[2:]), k, s, d)
    if pb == pe:
        padding = pb
    else:
        X = F.pad(X, _torch_pad_list(pb, pe))
        padding = [0] * sp
    return [_conv_fn(sp)(X, W, B, stride=s, padding=padding, dilation=d, groups=g)]


@op("ConvTranspose")
def _convt(self, n, a, x):
    X, W = x[0], x[1]
    B = x[2] if len(x) > 2 else None
    sp = len(X.shape) - 2
    in_sp = list(X.shape[2:])
    k = list(W.shape[2:])
    s = list(a.get("strides", [1] * sp))
    d = list(a.get("dilations", [1] * sp))
    g = a.get("group", 1)
    op_ = list(a.get("output_padding", [0] * sp))
    auto_pad = a.get("auto_pad", "NOTSET")
    full = [s[i] * (in_sp[i] - 1) + op_[i] + (k[i] - 1) * d[i] + 1 for i in range(sp)]
    if "output_shape" in a or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if "output_shape" in a:
            out_sp = list(a["output_shape"])[-sp:]
        else:
            out_sp = [in_sp[i] * s[i] for i in range(sp)]
        pb, pe = [], []
        for i in range(sp):
            total = full[i] - out_sp[i]
            if total < 0:
                raise UnsupportedModel(f"ConvTranspose {n.name}: output_shape larger than the full output")
            if auto_pad == "SAME_UPPER":
                pb.append(total // 2)
                pe.append(total - total // 2)
            else:
                pb.append(total - total // 2)
                pe.append(total // 2)
    elif auto_pad == "VALID":
        pb, pe = [0] * sp, [0] * sp
    else:
        pads = list(a.get("pads", [0] * (2 * sp)))
        pb, pe = pads[:sp], pads[sp:]
    # full transposed conv without padding, then zero output_padding rows at
    # the end, then crop the pads: exactly the ONNX definition, any asymmetry.
    y = _conv_fn(sp, True)(X, W, None, stride=s, padding=0, output_padding=0, groups=g, dilation=d)
    y = F.pad(y, _torch_pad_list([0] * sp, op_))
    idx = [slice(None), slice(None)] + [slice(pb[i], full[i] - pe[i]) for i in range(sp)]
    y = y[tuple(idx)]
    if B is not None:
        y = y + B.reshape([1, -1] + [1] * sp)
    return [y]


@op("BatchNormalization")
def _bn(self, n, a, x):
    X, scale, B, mean, var = x[:5]
    eps = a.get("epsilon", 1e-5)
    mom = a.get("momentum", 0.9)
    if self.bn == "train":
        training = True
    elif self.bn == "eval":
        training = False
    else:
        training = bool(a.get("training_mode", 0)) if self.opset >= 14 else len(n.output) > 1
    nout = len(n.output)
    if not training:
        y = F.batch_norm(X, mean, var, scale, B, training=False, eps=eps)
        return [y, mean, var, mean, var][:nout]
    y = F.batch_norm(X, None, None, scale, B, training=True, momentum=0.0, eps=eps)
    if nout == 1:
        return [y]
    with torch.no_grad():
        dims = [0] + list(range(2, X.dim()))
        bm = X.mean(dim=dims)
        bv = X.var(dim=dims, unbiased=False)
        rm = mean * mom + bm * (1 - mom)
        rv = var * mom + bv * (1 - mom)
    return [y, rm, rv, bm, bv][:nout]


@op("InstanceNormalization")
def _instnorm(self, n, a, x):
    return [F.instance_norm(x[0], weight=x[1], bias=x[2], eps=a.get("epsilon", 1e-5))]


@op("LayerNormalization")
def _layernorm(self, n, a, x):
    X, scale = x[0], x[1]
    B = x[2] if len(x) > 2 else None
    axis = _ax(a.get("axis", -1), X.dim())
    eps = a.get("epsilon", 1e-5)
    shape = list(X.shape[axis:])
    if list(scale.shape) == shape and (B is None or list(B.shape) == shape):
        y = F.layer_norm(X, shape, scale, B, eps)
    else:
        y = F.layer_norm(X, shape, None, None, eps) * scale
        if B is not None:
            y = y + B
    outs = [y]
    if len(n.output) > 1:
        with torch.no_grad():
            dims = list(range(axis, X.dim()))
            mu = X.mean(dim=dims, keepdim=True)
            inv = torch.rsqrt(X.var(dim=dims, unbiased=False, keepdim=True) + eps)
        outs += [mu, inv]
    return outs


def _pool_geometry(a, in_sp, k, s, d):
    sp = len(in_sp)
    auto_pad = a.get("auto_pad", "NOTSET")
    ceil_mode = a.get("ceil_mode", 0)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pb, pe = _same_pads(in_sp, k, s, d, auto_pad)
        out = [-(-in_sp[i] // s[i]) for i in range(sp)]
        return out, pb, pe
    pb, pe = _pads_from(a, sp, in_sp, k, s, d)
    out = []
    for i in range(sp):
        eff = in_sp[i] + pb[i] + pe[i] - ((k[i] - 1) * d[i] + 1)
        if ceil_mode:
            o = -(-eff // s[i]) + 1
            # PyTorch rule: the last window must start inside the input or the left padding
            if (o - 1) * s[i] >= in_sp[i] + pb[i]:
                o -= 1
        else:
            o = eff // s[i] + 1
        out.append(o)
    return out, pb, pe


def _pool_pad(X, in_sp, out, pb, k, s, d, value, mask_ones=None):
    """Pad X so that a padding-free floor-mode pool yields exactly `out`."""
    sp = len(in_sp)
    need = [(out[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 for i in range(sp)]
    ends = [need[i] - in_sp[i] - pb[i] for i in range(sp)]
    return F.pad(X, _torch_pad_list(pb, ends), value=value), need


@op("MaxPool")
def _maxpool(self, n, a, x):
    X = x[0]
    sp = X.dim() - 2
    in_sp = list(X.shape[2:])
    k = list(a["kernel_shape"])
    s = list(a.get("strides", [1] * sp))
    d = list(a.get("dilations", [1] * sp))
    out, pb, _ = _pool_geometry(a, in_sp, k, s, d)
    Xp, need = _pool_pad(X, in_sp, out, pb, k, s, d, float("-inf"))
    fn = [F.max_pool1d, F.max_pool2d, F.max_pool3d][sp - 1]
    y, idx = fn(Xp, k, s, 0, d, ceil_mode=False, return_indices=True)
    y = y[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)]
    if len(n.output) < 2 or not n.output[1]:
        return [y]
    idx = idx[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)]
    # per-plane index in padded coords -> whole-tensor index in input coords
    coords = []
    rem = idx
    for i in reversed(range(sp)):
        coords.append(rem % need[i] - pb[i])
        rem = torch.div(rem, need[i], rounding_mode="floor")
    coords = coords[::-1]
    flat = torch.zeros_like(idx)
    order = range(sp) if a.get("storage_order", 0) == 0 else reversed(range(sp))
    for i in order:
        flat = flat * in_sp[i] + coords[i]
    plane = int(np.prod(in_sp))
    N, C = X.shape[0], X.shape[1]
    base = (torch.arange(N * C, dtype=torch.int64) * plane).reshape([N, C] + [1] * sp)
    return [y, flat + base]


@op("AveragePool")
def _avgpool(self, n, a, x):
    X = x[0]
    sp = X.dim() - 2
    in_sp = list(X.shape[2:])
    k = list(a["kernel_shape"])
    s = list(a.get("strides", [1] * sp))
    d = list(a.get("dilations", [1] * sp))
    if any(v != 1 for v in d):
        raise UnsupportedModel(f"AveragePool {n.name}: dilations are not supported")
    out, pb, pe = _pool_geometry(a, in_sp, k, s, d)
    one_d = sp == 1
    if one_d:  # run as 2-d with a trailing unit axis
        X = X.unsqueeze(-1)
        in_sp, k, s, d, out, pb, pe = in_sp + [1], k + [1], s + [1], d + [1], out + [1], pb + [0], pe + [0]
        sp = 2
    Xp, need = _pool_pad(X, in_sp, out, pb, k, s, d, 0.0)
    fn = [None, F.avg_pool2d, F.avg_pool3d][sp - 1]
    sums = fn(Xp, k, s, 0, ceil_mode=False, count_include_pad=True, divisor_override=1)
    # window counts: real elements (count_include_pad=0) or real + declared pads
    ones = torch.ones([1, 1] + in_sp, dtype=X.dtype)
    if a.get("count_include_pad", 0):
        ones = F.pad(ones, _torch_pad_list(pb, pe), value=1.0)
        mask, _ = _pool_pad(ones, [in_sp[i] + pb[i] + pe[i] for i in range(sp)], out, [0] * sp, k, s, d, 0.0)
    else:
        mask, _ = _pool_pad(ones, in_sp, out, pb, k, s, d, 0.0)
    cnt = fn(mask, k, s, 0, ceil_mode=False, count_include_pad=True, divisor_override=1)
    y = sums / cnt
    if one_d:
        y = y.squeeze(-1)
    return [y]


@op("GlobalAveragePool")
def _gap(self, n, a, x):
    return [x[0].mean(dim=list(range(2, x[0].dim())), keepdim=True)]


@op("GlobalMaxPool")
def _gmp(self, n, a, x):
    return [torch.amax(x[0], dim=list(range(2, x[0].dim())), keepdim=True)]


@op("Flatten")
def _flatten(self, n, a, x):
    X = x[0]
    axis = _ax(a.get("axis", 1), X.dim())
    lead = int(np.prod(X.shape[:axis])) if axis > 0 else 1
    return [X.reshape(lead, -1) if X.numel() > 0 else X.reshape(lead, int(np.prod(X.shape[axis:])))]


@op("Reshape")
def _reshape(self, n, a, x):
    X = x[0]
    shape = _ints(x[1]) if self.opset >= 5 else list(a["shape"])
    allowzero = a.get("allowzero", 0)
    out = []
    for i, v in enumerate(shape):
        out.append(X.shape[i] if (v == 0 and not allowzero) else v)
    return [X.reshape(out)]


def _axes_in(self, a, x, idx, attr_until):
    """axes from attribute (opset < attr_until) or from input idx."""
    if self.opset < attr_until:
        return list(a["axes"]) if "axes" in a else None
    if len(x) > idx and x[idx] is not None:
        return _ints(x[idx])
    return list(a["axes"]) if "axes" in a else None


@op("Squeeze")
def _squeeze(self, n, a, x):
    X = x[0]
    axes = _axes_in(self, a, x, 1, 13)
    if axes is None:
        return [X.reshape([v for v in X.shape if v != 1])]
    axes = {_ax(v, X.dim()) for v in axes}
    return [X.reshape([v for i, v in enumerate(X.shape) if i not in axes])]


@op("Unsqueeze")
def _unsqueeze(self, n, a, x):
    X = x[0]
    axes = _axes_in(self, a, x, 1, 13)
    r = X.dim() + len(axes)
    axes = sorted(_ax(v, r) for v in axes)
    shape = list(X.shape)
    for ax in axes:
        shape.insert(ax, 1)
    return [X.reshape(shape)]


@op("Transpose")
def _transpose(self, n, a, x):
    perm = a.get("perm", list(reversed(range(x[0].dim()))))
    return [x[0].permute(*perm)]


@op("Gemm")
def _gemm(self, n, a, x):
    A, B = x[0], x[1]
    C = x[2] if len(x) > 2 else None
    if a.get("transA", 0):
        A = A.t()
    if a.get("transB", 0):
        B = B.t()
    alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
    y = A @ B
    if alpha != 1.0:
        y = alpha * y
    if C is not None and beta != 0.0:
        y = y + (C if beta == 1.0 else beta * C)
    return [y]


@op("MatMul")
def _matmul(self, n, a, x):
    return [torch.matmul(x[0], x[1])]


@op("Einsum")
def _einsum(self, n, a, x):
    return [torch.einsum(a["equation"], *x)]


def _softmax_like(fn):
    def run(self, n, a, x):
        X = x[0]
        if self.opset < 13:
            axis = _ax(a.get("axis", 1), X.dim())
            shp = X.shape
            X2 = X.reshape(int(np.prod(shp[:axis])), -1)
            return [fn(X2, dim=1).reshape(shp)]
        return [fn(X, dim=_ax(a.get("axis", -1), X.dim()))]
    return run


OPS["Softmax"] = _softmax_like(F.softmax)
OPS["LogSoftmax"] = _softmax_like(F.log_softmax)


def _reduce(kind):
    # axes became an input: ReduceSum at opset 13, the others at opset 18
    until = 13 if kind == "ReduceSum" else 18

    def run(self, n, a, x):
        X = x[0]
        axes = _axes_in(self, a, x, 1, until)
        keep = bool(a.get("keepdims", 1))
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return [X]
            axes = list(range(X.dim()))
        axes = sorted(_ax(v, X.dim()) for v in axes)
        if kind == "ReduceMean":
            y = X.mean(dim=axes, keepdim=keep)
        elif kind == "ReduceSum":
            y = X.sum(dim=axes, keepdim=keep)
        elif kind == "ReduceMax":
            y = torch.amax(X, dim=axes, keepdim=keep)
        elif kind == "ReduceMin":
            y = torch.amin(X, dim=axes, keepdim=keep)
        elif kind == "ReduceProd":
            y = X
            for ax in reversed(axes):
                y = y.prod(dim=ax, keepdim=keep)
        elif kind == "ReduceSumSquare":
            y = (X * X).sum(dim=axes, keepdim=keep)
        elif kind == "ReduceL2":
            y = torch.sqrt((X * X).sum(dim=axes, keepdim=keep))
        elif kind == "ReduceL1":
            y = X.abs().sum(dim=axes, keepdim=keep)
        elif kind == "ReduceLogSumExp":
            y = torch.logsumexp(X, dim=axes, keepdim=keep)
        else:
            raise AssertionError(kind)
        return [y]
    return run


for _k in ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
           "ReduceL2", "ReduceL1", "ReduceLogSumExp"]:
    OPS[_k] = _reduce(_k)


@op("ArgMax", "ArgMin")
def _argmax(self, n, a, x):
    X = x[0]
    axis = _ax(a.get("axis", 0), X.dim())
    keep = bool(a.get("keepdims", 1))
    Xs = X.flip(axis) if a.get("select_last_index", 0) else X
    fn = torch.argmax if n.op_type == "ArgMax" else torch.argmin
    y = fn(Xs, dim=axis, keepdim=keep)
    if a.get("select_last_index", 0):
        y = X.shape[axis] - 1 - y
    return [y]


@op("Concat")
def _concat(self, n, a, x):
    xs = [t for t in x if t is not None]
    return [torch.cat(xs, dim=_ax(a["axis"], xs[0].dim()))]


@op("Split")
def _split(self, n, a, x):
    X = x[0]
    axis = _ax(a.get("axis", 0), X.dim())
    nout = len(n.output)
    if self.opset >= 13 and len(x) > 1 and x[1] is not None:
        sizes = _ints(x[1])
    elif self.opset < 13 and "split" in a:
        sizes = list(a["split"])
    else:
        L = X.shape[axis]
        num = a.get("num_outputs", nout)
        c = -(-L // num)
        sizes = [c] * (L // c) + ([L % c] if L % c else [])
    return list(torch.split(X, sizes, dim=axis))


@op("Slice")
def _slice(self, n, a, x):
    X = x[0]
    if self.opset < 10:
        starts, ends = list(a["starts"]), list(a["ends"])
        axes = list(a.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = _ints(x[1]), _ints(x[2])
        axes = _ints(x[3]) if len(x) > 3 and x[3] is not None else list(range(len(starts)))
        steps = _ints(x[4]) if len(x) > 4 and x[4] is not None else [1] * len(starts)
    y = X
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax = _ax(ax, X.dim())
        L = X.shape[ax]
        if st < 0:
            st += L
        if en < 0:
            en += L
        if sp > 0:
            st = min(max(st, 0), L)
            en = min(max(en, 0), L)
            idx = [slice(None)] * X.dim()
            idx[ax] = slice(st, en, sp)
            y = y[tuple(idx)]
        elif sp < 0:
            st = min(max(st, 0), L - 1)
            en = min(max(en, -1), L - 1)
            ind = torch.arange(st, en, sp, dtype=torch.int64)
            y = torch.index_select(y, ax, ind)
        else:
            raise UnsupportedModel(f"Slice {n.name}: step 0")
    return [y]


@op("Gather")
def _gather(self, n, a, x):
    X, I = x[0], x[1].to(torch.int64)
    axis = _ax(a.get("axis", 0), X.dim())
    I = torch.where(I < 0, I + X.shape[axis], I)
    y = torch.index_select(X, axis, I.reshape(-1))
    return [y.reshape(list(X.shape[:axis]) + list(I.shape) + list(X.shape[axis + 1:]))]


@op("GatherElements")
def _gather_el(self, n, a, x):
    X, I = x[0], x[1].to(torch.int64)
    axis = _ax(a.get("axis", 0), X.dim())
    I = torch.where(I < 0, I + X.shape[axis], I)
    return [torch.gather(X, axis, I)]


@op("ScatterElements")
def _scatter_el(self, n, a, x):
    X, I, U = x[0], x[1].to(torch.int64), x[2]
    axis = _ax(a.get("axis", 0), X.dim())
    I = torch.where(I < 0, I + X.shape[axis], I)
    red = a.get("reduction", "none")
    if red == "none":
        return [torch.scatter(X, axis, I, U)]
    if red == "add":
        return [torch.scatter_add(X, axis, I, U)]
    raise UnsupportedModel(f"ScatterElements reduction={red}")


@op("Shape")
def _shape(self, n, a, x):
    shp = list(x[0].shape)
    r = len(shp)
    st = a.get("start", 0)
    en = a.get("end", r)
    st = min(max(st + r if st < 0 else st, 0), r)
    en = min(max(en + r if en < 0 else en, 0), r)
    return [torch.tensor(shp[st:en], dtype=torch.int64)]


@op("Size")
def _size(self, n, a, x):
    return [torch.tensor(x[0].numel(), dtype=torch.int64)]


@op("Constant")
def _constant(self, n, a, x):
    if "value" in a:
        return [self._tensor_from_proto(a["value"])]
    if "value_float" in a:
        return [torch.tensor(a["value_float"], dtype=torch.float32)]
    if "value_floats" in a:
        return [torch.tensor(list(a["value_floats"]), dtype=torch.float32)]
    if "value_int" in a:
        return [torch.tensor(a["value_int"], dtype=torch.int64)]
    if "value_ints" in a:
        return [torch.tensor(list(a["value_ints"]), dtype=torch.int64)]
    raise UnsupportedModel(f"Constant {n.name}: attribute {list(a)} not supported")


@op("ConstantOfShape")
def _const_of_shape(self, n, a, x):
    shape = _ints(x[0])
    if "value" in a:
        v = self._tensor_from_proto(a["value"]).reshape(-1)
        return [torch.full(shape, v[0].item(), dtype=v.dtype)]
    return [torch.zeros(shape, dtype=torch.float32)]


@op("Cast")
def _cast(self, n, a, x):
    to = a["to"]
    if to not in ONNX_TO_TORCH:
        raise UnsupportedModel(f"Cast {n.name}: target type {to}")
    return [x[0].to(ONNX_TO_TORCH[to])]


@op("CastLike")
def _castlike(self, n, a, x):
    return [x[0].to(x[1].dtype)]


@op("Dropout")
def _dropout(self, n, a, x):
    return [x[0], torch.ones_like(x[0], dtype=torch.bool)][:len(n.output)]


@op("Expand")
def _expand(self, n, a, x):
    shape = _ints(x[1])
    out = list(torch.broadcast_shapes(tuple(x[0].shape), tuple(shape)))
    return [x[0].expand(out)]


@op("Tile")
def _tile(self, n, a, x):
    return [x[0].repeat(*_ints(x[1]))]


@op("Range")
def _range(self, n, a, x):
    st, li, de = _scalar(x[0]), _scalar(x[1]), _scalar(x[2])
    cnt = max(int(math.ceil((li - st) / de)), 0)
    return [(st + torch.arange(cnt, dtype=torch.float64) * de).to(x[0].dtype)]


@op("Trilu")
def _trilu(self, n, a, x):
    k = _scalar(x[1]) if len(x) > 1 and x[1] is not None else 0
    return [torch.triu(x[0], k) if a.get("upper", 1) else torch.tril(x[0], k)]


@op("Pad")
def _pad(self, n, a, x):
    X = x[0]
    mode = a.get("mode", "constant")
    r = X.dim()
    if self.opset < 11:
        pads = list(a["pads"])
        value = a.get("value", 0.0)
        axes = list(range(r))
    else:
        pads = _ints(x[1])
        value = _scalar(x[2]) if len(x) > 2 and x[2] is not None and x[2].numel() > 0 else 0
        axes = _ints(x[3]) if len(x) > 3 and x[3] is not None else list(range(r))
    axes = [_ax(v, r) for v in axes]
    na = len(axes)
    pb, pe = [0] * r, [0] * r
    for i, ax in enumerate(axes):
        pb[ax], pe[ax] = pads[i], pads[na + i]
    # trim leading untouched axes for torch's non-constant modes
    first = next((i for i in range(r) if pb[i] or pe[i]), r)
    plist = _torch_pad_list(pb[first:], pe[first:])
    if mode == "constant":
        return [F.pad(X, plist, mode="constant", value=value)]
    if mode in ("reflect", "edge"):
        tmode = "reflect" if mode == "reflect" else "replicate"
        if any(v < 0 for v in plist):
            raise UnsupportedModel(f"Pad {n.name}: negative pads with mode {mode}")
        return [F.pad(X, plist, mode=tmode)]
    raise UnsupportedModel(f"Pad {n.name}: mode {mode}")


def _resize_matrix(in_len, out_len, scale, mode, ctm, nearest_mode):
    A = np.zeros((out_len, in_len), dtype=np.float64)
    for o in range(out_len):
        if ctm == "half_pixel":
            xo = (o + 0.5) / scale - 0.5
        elif ctm == "pytorch_half_pixel":
            xo = (o + 0.5) / scale - 0.5 if out_len > 1 else 0.0
        elif ctm == "align_corners":
            xo = 0.0 if out_len == 1 else o * (in_len - 1) / (out_len - 1)
        elif ctm == "asymmetric":
            xo = o / scale
        else:
            raise UnsupportedModel(f"Resize coordinate_transformation_mode={ctm}")
        if mode == "nearest":
            fl = math.floor(xo)
            if nearest_mode == "floor":
                i = fl
            elif nearest_mode == "ceil":
                i = math.ceil(xo)
            elif nearest_mode == "round_prefer_ceil":
                i = fl + 1 if xo - fl >= 0.5 else fl
            elif nearest_mode == "round_prefer_floor":
                i = fl + 1 if xo - fl > 0.5 else fl
            else:
                raise UnsupportedModel(f"Resize nearest_mode={nearest_mode}")
            A[o, min(max(i, 0), in_len - 1)] = 1.0
        elif mode == "linear":
            xc = min(max(xo, 0.0), in_len - 1.0)
            x0 = int(math.floor(xc))
            x1 = min(x0 + 1, in_len - 1)
            w1 = xc - x0
            A[o, x0] += 1.0 - w1
            A[o, x1] += w1
        else:
            raise UnsupportedModel(f"Resize mode={mode}")
    return A


def _apply_resize(X, out_sizes, scales, mode, ctm, nearest_mode):
    y = X
    for ax in range(X.dim()):
        L, O, sc = X.shape[ax], out_sizes[ax], scales[ax]
        if O == L and sc == 1.0:
            continue
        A = torch.from_numpy(_resize_matrix(L, O, sc, mode, ctm, nearest_mode)).to(X.dtype)
        y = torch.movedim(torch.tensordot(y, A, dims=([ax], [1])), -1, ax)
    return y


@op("Resize")
def _resize(self, n, a, x):
    X = x[0]
    r = X.dim()
    mode = a.get("mode", "nearest")
    if a.get("antialias", 0):
        raise UnsupportedModel(f"Resize {n.name}: antialias")
    if a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise UnsupportedModel(f"Resize {n.name}: keep_aspect_ratio_policy")
    if self.opset < 11:
        ctm, nmode = "asymmetric", "floor"
        scales_in, sizes_in = x[1], None
    else:
        ctm = a.get("coordinate_transformation_mode", "half_pixel")
        nmode = a.get("nearest_mode", "round_prefer_floor")
        scales_in = x[2] if len(x) > 2 else None
        sizes_in = x[3] if len(x) > 3 else None
    axes = [_ax(v, r) for v in a.get("axes", list(range(r)))]
    scales, outs = [1.0] * r, list(X.shape)
    if sizes_in is not None and sizes_in.numel() > 0:
        sz = _ints(sizes_in)
        for i, ax in enumerate(axes):
            outs[ax] = sz[i]
            scales[ax] = sz[i] / X.shape[ax]
    elif scales_in is not None and scales_in.numel() > 0:
        sc = _floats(scales_in)
        for i, ax in enumerate(axes):
            scales[ax] = sc[i]
            outs[ax] = int(math.floor(X.shape[ax] * sc[i]))
    else:
        raise UnsupportedModel(f"Resize {n.name}: neither scales nor sizes")
    return [_apply_resize(X, outs, scales, mode, ctm, nmode)]


@op("Upsample")
def _upsample(self, n, a, x):
    X = x[0]
    sc = list(a["scales"]) if "scales" in a else _floats(x[1])
    outs = [int(math.floor(X.shape[i] * sc[i])) for i in range(X.dim())]
    return [_apply_resize(X, outs, sc, a.get("mode", "nearest"), "asymmetric", "floor")]


SUPPORTED_OPS = sorted(OPS)


# ----------------------------------------------------------------------------
class OnnxTorch:
    def __init__(self, model, bn="train"):
        if bn not in ("train", "eval", "model"):
            raise ValueError("bn must be 'train', 'eval' or 'model'")
        self.bn = bn
        self.model = onnx.load(model) if isinstance(model, str) else model
        self.graph = self.model.graph
        self.opset = None
        for o in self.model.opset_import:
            if o.domain in ("", "ai.onnx"):
                self.opset = o.version
        if self.opset is None:
            raise UnsupportedModel("model has no default-domain opset import")
        self._check_supported()

        self.bn_stats = set()
        for n in self.graph.node:
            if n.op_type == "BatchNormalization":
                self.bn_stats.update(n.input[3:5])

        self.params = OrderedDict()   # float32 initializers (trainable unless BN stats)
        self.consts = {}              # everything else
        for init in self.graph.initializer:
            t = self._tensor_from_proto(init)
            if t.dtype == torch.float32:
                self.params[init.name] = torch.nn.Parameter(t, requires_grad=init.name not in self.bn_stats)
            else:
                self.consts[init.name] = t
        self.input_names = [i.name for i in self.graph.input if i.name not in self.params and i.name not in self.consts]
        self.output_names = [o.name for o in self.graph.output]

    def _check_supported(self):
        bad = {}
        for n in self.graph.node:
            if n.domain not in ("", "ai.onnx"):
                bad.setdefault(f"{n.domain}::{n.op_type}", []).append(n.name)
            elif n.op_type not in OPS:
                bad.setdefault(n.op_type, []).append(n.name)
        if bad:
            lines = [f"  {k} ({len(v)} node(s), e.g. '{v[0]}')" for k, v in sorted(bad.items())]
            raise UnsupportedModel("onnx_torch: unsupported ops:\n" + "\n".join(lines) +
                                   f"\nsupported: {', '.join(SUPPORTED_OPS)}")

    @staticmethod
    def _tensor_from_proto(tp):
        arr = onnx.numpy_helper.to_array(tp)
        if tp.data_type not in ONNX_TO_TORCH:
            raise UnsupportedModel(f"tensor {tp.name}: data type {tp.data_type} not supported")
        return torch.from_numpy(np.array(arr, copy=True)).to(ONNX_TO_TORCH[tp.data_type])

    def trainable(self):
        """float32 initializers that are not BN running statistics."""
        return OrderedDict((k, p) for k, p in self.params.items() if p.requires_grad)

    def run(self, feeds, outputs=None, keep_all=False):
        env = {}
        env.update(self.consts)
        env.update(self.params)
        for k, v in feeds.items():
            env[k] = v if isinstance(v, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(v))
        for name in self.input_names:
            if name not in env:
                raise ValueError(f"missing model input '{name}'")
        for n in self.graph.node:
            ins = [env[i] if i else None for i in n.input]
            for i, t in zip(n.input, ins):
                if i and t is None:
                    raise ValueError(f"node {n.name}: input {i} undefined")
            try:
                outs = OPS[n.op_type](self, n, _attrs(n), ins)
            except UnsupportedModel:
                raise
            except Exception as e:  # give the node context
                shapes = [tuple(t.shape) if t is not None else None for t in ins]
                raise RuntimeError(f"node '{n.name}' ({n.op_type}) inputs {shapes}: {e}") from e
            for name, t in zip(n.output, outs):
                if name:
                    env[name] = t
        names = outputs or self.output_names
        if keep_all:
            return env
        return OrderedDict((k, env[k]) for k in names)

    __call__ = run


# ----------------------------------------------------------------------------
# losses (PyTorch semantics, mean reduction)
# ----------------------------------------------------------------------------
def _ce(out, tgt, opts):
    return F.cross_entropy(out, tgt.to(torch.int64), ignore_index=int(opts.get("ignoreIndex", -100)),
                           reduction="mean")


def _cosine(out, tgt, opts):
    # 1 - cos along the channel axis 1, averaged over all other positions.
    # torch 1.13 cosine_similarity: x.y / sqrt(clamp_min(|x|^2 * |y|^2, eps^2)), eps=1e-8
    return (1.0 - F.cosine_similarity(out, tgt, dim=1, eps=1e-8)).mean()


def _none(out, tgt, opts):
    return out if out.dim() == 0 else out.mean()


LOSSES = {
    "cross_entropy": _ce,
    "bce_with_logits": lambda o, t, opts: F.binary_cross_entropy_with_logits(o, t, reduction="mean"),
    "mse": lambda o, t, opts: F.mse_loss(o, t, reduction="mean"),
    "l1": lambda o, t, opts: F.l1_loss(o, t, reduction="mean"),
    "smooth_l1": lambda o, t, opts: F.smooth_l1_loss(o, t, reduction="mean", beta=float(opts.get("beta", 1.0))),
    "cosine": _cosine,
    "none": _none,
}


def task_loss(kind, out, target, opts=None):
    """Unweighted loss of one task. opts: the task spec entry (ignoreIndex, beta)."""
    if kind not in LOSSES:
        raise ValueError(f"unknown loss '{kind}' (known: {', '.join(LOSSES)})")
    return LOSSES[kind](out, target, opts or {})


def _main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="run an ONNX model with the PyTorch interpreter")
    ap.add_argument("model")
    ap.add_argument("--bn", default="train", choices=["train", "eval", "model"])
    ap.add_argument("--batch", type=int, default=2)
    args = ap.parse_args(argv)
    m = OnnxTorch(args.model, bn=args.bn)
    feeds = {}
    for vi in m.graph.input:
        if vi.name not in m.input_names:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else args.batch for d in tt.shape.dim]
        dt = ONNX_TO_TORCH[tt.elem_type]
        feeds[vi.name] = torch.randn(shape) if dt.is_floating_point else torch.zeros(shape, dtype=dt)
    for k, v in m.run(feeds).items():
        print(k, tuple(v.shape), v.dtype)


if __name__ == "__main__":
    _main(sys.argv[1:])
