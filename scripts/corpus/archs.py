"""The corpus: one entry per architecture (what it is, its inputs, its tasks, what it exercises).

inputs: (ONNX input name, kind, per-sample shape); kind "image"/"float" = N(0,1) float32,
        "tokens" = int64 ids with trailing padding (0), at least two real tokens per row.
tasks:  (name = graph output name, loss); targets are drawn from the output shapes.
"""
from collections import namedtuple

import archs_seq as S
import archs_vision as V

Arch = namedtuple("Arch", "name build inputs tasks exercises")

IMG16 = [("image", "image", (3, 16, 16))]
SEQ = [("sequence", "float", (6, 5))]

ARCHS = [
    Arch("resnet_basic", V.ResNetBasic, IMG16, [("cls", "cross_entropy"), ("reg", "mse")],
         "torchvision BasicBlock, identity and 1x1-conv downsample shortcuts, BN, residual Add"),
    Arch("resnet_bottleneck", V.ResNetBottleneck, IMG16, [("cls", "cross_entropy"), ("attr", "bce_with_logits")],
         "torchvision Bottleneck (expansion 4), strided stem, padded MaxPool"),
    Arch("mobilenetv2", V.MobileNetV2Net, IMG16, [("cls", "cross_entropy"), ("box", "smooth_l1")],
         "torchvision InvertedResidual: ReLU6 as Clip, depthwise conv, linear bottleneck"),
    Arch("mobilenetv3", V.MobileNetV3Net, IMG16, [("cls", "cross_entropy"), ("attr", "bce_with_logits")],
         "Hardswish, depthwise 3x3/5x5, torchvision SqueezeExcitation with Hardsigmoid gate"),
    Arch("efficientnet", V.EfficientNetNet, IMG16, [("cls", "cross_entropy"), ("reg", "mse")],
         "MBConv: SiLU (Sigmoid*Mul), SE with SiLU squeeze and Sigmoid gate, residual"),
    Arch("regnet", V.RegNetNet, IMG16, [("cls", "cross_entropy"), ("reg", "l1")],
         "torchvision ResBottleneckBlock: grouped 3x3 conv (group width 4), SE, projection shortcut"),
    Arch("convnext", V.ConvNeXtNet, IMG16, [("cls", "cross_entropy"), ("reg", "mse")],
         "depthwise 7x7 conv, LayerNorm over channels via permutes, Linear on 4-D channels-last "
         "tensors (MatMul), GELU, layer-scale gamma nn.Parameter (Mul), no BN"),
    Arch("densenet", V.DenseNetNet, IMG16, [("cls_a", "cross_entropy"), ("cls_b", "cross_entropy")],
         "torchvision _DenseBlock/_Transition: Concat, pre-activation BN on concatenated features "
         "(not fusable in eval exports), AvgPool"),
    Arch("vit", S.ViT, IMG16, [("cls", "cross_entropy"), ("reg", "mse")],
         "patch-embedding conv, cls_token nn.Parameter expanded + Concat, learned pos_embed, "
         "nn.MultiheadAttention (in_proj split into q/k/v), LayerNorm, GELU (Erf)"),
    Arch("vit_einsum", S.ViTEinsum, IMG16, [("cls", "cross_entropy"), ("attr", "bce_with_logits")],
         "hand-written attention with Einsum (opset >= 12 only), fused qkv Linear + unbind, pos_embed"),
    Arch("swin", S.SwinNet, IMG16, [("cls", "cross_entropy"), ("attr", "bce_with_logits")],
         "window partition via Reshape/Transpose, shifted windows via torch.roll (Slice+Concat), "
         "relative position bias table gathered with constant indices"),
    Arch("bert", S.BertLike, [("tokens", "tokens", (12,))], [("intent", "cross_entropy"), ("tags", "cross_entropy")],
         "nn.Embedding (Gather), positional nn.Parameter sliced to the length, padding mask "
         "(Equal/Where/Expand), nn.TransformerEncoderLayer, dense [N,C,L] cross-entropy"),
    Arch("aspp", V.ASPPSeg, IMG16, [("seg", "cross_entropy"), ("depth", "l1")],
         "dilated convs, ASPP image pooling resized by size (bilinear), Concat, bilinear x2 by scale"),
    Arch("unet", V.UNet, IMG16, [("seg", "cross_entropy"), ("depth", "mse")],
         "U-Net: MaxPool encoder, ConvTranspose2d decoder, skip Concat"),
    Arch("mtan_segnet", V.MTANSegNet, IMG16,
         [("segmentation", "cross_entropy"), ("depth", "l1"), ("normal", "cosine")],
         "SegNet MaxPool2d(return_indices) + MaxUnpool2d, MTAN sigmoid attention masks per task, "
         "F.normalize (ReduceL2), 13-class segmentation, depth L1, normals cosine; three tasks"),
    Arch("gru", lambda: S.RecurrentNet("gru", 1, False), SEQ, [("cls", "cross_entropy"), ("trace", "mse")],
         "nn.GRU (ONNX GRU, linear_before_reset=1), last-step Gather + per-step head"),
    Arch("lstm", lambda: S.RecurrentNet("lstm", 2, False), SEQ, [("cls", "cross_entropy"), ("trace", "smooth_l1")],
         "two-layer nn.LSTM (two ONNX LSTM nodes, gate order reordered into W/R/B)"),
    Arch("bigru", lambda: S.RecurrentNet("gru", 1, True), SEQ, [("cls", "cross_entropy"), ("trace", "l1")],
         "bidirectional nn.GRU (direction axis reshaped into features)"),
    Arch("bilstm", lambda: S.RecurrentNet("lstm", 1, True), SEQ, [("cls", "cross_entropy"), ("trace", "mse")],
         "bidirectional nn.LSTM"),
    Arch("norms", V.NormsNet, IMG16, [("cls", "cross_entropy"), ("reg", "smooth_l1")],
         "GroupNorm (InstanceNormalization + Reshape + affine Mul/Add), InstanceNorm2d affine, "
         "PReLU per channel and with one shared slope, no BN"),
    Arch("interp", V.InterpNet, IMG16, [("seg", "cross_entropy"), ("recon", "mse")],
         "nn.Upsample nearest x2, F.interpolate bilinear by scale (align_corners False), nearest "
         "and bilinear (align_corners True) by size; reflect-padded conv (Pad mode=reflect)"),
    Arch("pool_norm", V.PoolNormNet, IMG16, [("cls", "cross_entropy"), ("reg", "mse")],
         "AdaptiveAvgPool2d to 2x2, torch.norm(p=2, dim=1) (ReduceL2), scalar nn.Parameter temperature"),
]

BY_NAME = {a.name: a for a in ARCHS}
