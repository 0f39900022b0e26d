"""Convolutional multi-task architectures of the conformance corpus (small widths).

Every model takes the image batch `image` [N,3,H,W] and returns one tensor per task, in the
order of its ARCH entry's tasks. Building blocks come from torchvision where it has them at
small widths; the rest is written out so the exported graph shows the op forms PyTorch users
actually produce.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.densenet import _DenseBlock, _Transition
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.regnet import ResBottleneckBlock
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.ops import SqueezeExcitation
from torchvision.ops.misc import Conv2dNormActivation


def conv_bn_relu(cin, cout, k=3, stride=1, dilation=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k - 1) // 2, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ClsRegHeads(nn.Module):
    """Global-pooled features into one Linear per task."""

    def __init__(self, c, outs):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.heads = nn.ModuleList(nn.Linear(c, n) for n in outs)

    def forward(self, x):
        f = torch.flatten(self.pool(x), 1)
        return tuple(h(f) for h in self.heads)


# ---------------------------------------------------------------------------------------------
class ResNetBasic(nn.Module):
    """torchvision BasicBlocks (identity and 1x1-conv downsample shortcuts)."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn_relu(3, 8)
        down = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 16, stride=2, downsample=down))
        self.heads = ClsRegHeads(16, [10, 4])

    def forward(self, image):
        return self.heads(self.layer1(self.stem(image)))


class ResNetBottleneck(nn.Module):
    """torchvision Bottlenecks (expansion 4) after a strided stem with MaxPool."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(3, 8, stride=2), nn.MaxPool2d(3, stride=2, padding=1))
        down = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16))
        self.layer1 = nn.Sequential(Bottleneck(8, 4, downsample=down), Bottleneck(16, 4))
        self.heads = ClsRegHeads(16, [6, 5])

    def forward(self, image):
        return self.heads(self.layer1(self.stem(image)))


class MobileNetV2Net(nn.Module):
    """torchvision InvertedResidual: ReLU6 (Clip), depthwise convs, linear bottleneck, residual."""

    def __init__(self):
        super().__init__()
        self.stem = Conv2dNormActivation(3, 8, stride=2, activation_layer=nn.ReLU6)
        self.blocks = nn.Sequential(
            InvertedResidual(8, 8, 1, expand_ratio=1),
            InvertedResidual(8, 12, 2, expand_ratio=3),
            InvertedResidual(12, 12, 1, expand_ratio=3),
        )
        self.heads = ClsRegHeads(12, [7, 3])

    def forward(self, image):
        return self.heads(self.blocks(self.stem(image)))


class MobileNetV3Block(nn.Module):
    """Expand 1x1, depthwise kxk, squeeze-excitation with Hardsigmoid, project 1x1 (Hardswish)."""

    def __init__(self, cin, cexp, cout, k, stride):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        self.expand = Conv2dNormActivation(cin, cexp, 1, activation_layer=nn.Hardswish)
        self.dw = Conv2dNormActivation(cexp, cexp, k, stride=stride, groups=cexp, activation_layer=nn.Hardswish)
        self.se = SqueezeExcitation(cexp, max(cexp // 4, 4), scale_activation=nn.Hardsigmoid)
        self.project = Conv2dNormActivation(cexp, cout, 1, activation_layer=None)

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.use_res else y


class MobileNetV3Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Conv2dNormActivation(3, 8, stride=2, activation_layer=nn.Hardswish)
        self.blocks = nn.Sequential(MobileNetV3Block(8, 16, 8, 3, 1), MobileNetV3Block(8, 24, 12, 5, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 16)
        self.act = nn.Hardswish()
        self.cls = nn.Linear(16, 5)
        self.attr = nn.Linear(16, 4)

    def forward(self, image):
        f = self.act(self.fc(torch.flatten(self.pool(self.blocks(self.stem(image))), 1)))
        return self.cls(f), self.attr(f)


class MBConv(nn.Module):
    """EfficientNet's MBConv: SiLU everywhere, SE with SiLU squeeze activation and Sigmoid gate."""

    def __init__(self, cin, cout, expand, stride):
        super().__init__()
        cexp = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.expand = Conv2dNormActivation(cin, cexp, 1, activation_layer=nn.SiLU)
        self.dw = Conv2dNormActivation(cexp, cexp, 3, stride=stride, groups=cexp, activation_layer=nn.SiLU)
        self.se = SqueezeExcitation(cexp, max(cin // 4, 2), activation=nn.SiLU)
        self.project = Conv2dNormActivation(cexp, cout, 1, activation_layer=None)

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.use_res else y


class EfficientNetNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Conv2dNormActivation(3, 8, stride=2, activation_layer=nn.SiLU)
        self.blocks = nn.Sequential(MBConv(8, 8, 2, 1), MBConv(8, 12, 2, 2))
        self.head_conv = Conv2dNormActivation(12, 24, 1, activation_layer=nn.SiLU)
        self.heads = ClsRegHeads(24, [8, 2])

    def forward(self, image):
        return self.heads(self.head_conv(self.blocks(self.stem(image))))


class RegNetNet(nn.Module):
    """torchvision ResBottleneckBlock: grouped 3x3 convs (group width 4), SE, projection shortcut."""

    def __init__(self):
        super().__init__()
        self.stem = Conv2dNormActivation(3, 8, stride=2)
        self.block1 = ResBottleneckBlock(8, 16, 2, nn.BatchNorm2d, nn.ReLU, group_width=4, se_ratio=0.25)
        self.block2 = ResBottleneckBlock(16, 16, 1, nn.BatchNorm2d, nn.ReLU, group_width=4)
        self.heads = ClsRegHeads(16, [6, 3])

    def forward(self, image):
        return self.heads(self.block2(self.block1(self.stem(image))))


class LayerNorm2d(nn.Module):
    """LayerNorm over channels of an NCHW tensor, written (as ConvNeXt users do) through permutes."""

    def __init__(self, c):
        super().__init__()
        self.ln = nn.LayerNorm(c, eps=1e-6)

    def forward(self, x):
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7, channels-last LayerNorm + pointwise Linears (GELU), layer-scale gamma."""

    def __init__(self, c):
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pwconv1 = nn.Linear(c, 4 * c)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(1e-6 * torch.ones(c))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 12, 2, stride=2), LayerNorm2d(12))
        self.blocks = nn.Sequential(ConvNeXtBlock(12), ConvNeXtBlock(12))
        self.down = nn.Sequential(LayerNorm2d(12), nn.Conv2d(12, 16, 2, stride=2))
        self.block3 = ConvNeXtBlock(16)
        self.norm = nn.LayerNorm(16, eps=1e-6)
        self.cls = nn.Linear(16, 6)
        self.reg = nn.Linear(16, 3)

    def forward(self, image):
        x = self.block3(self.down(self.blocks(self.stem(image))))
        f = self.norm(x.mean((-2, -1)))
        return self.cls(f), self.reg(f)


class DenseNetNet(nn.Module):
    """torchvision _DenseBlock/_Transition: pre-activation BN on concatenated features."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.block1 = _DenseBlock(num_layers=2, num_input_features=8, bn_size=2, growth_rate=4, drop_rate=0)
        self.trans1 = _Transition(16, 8)
        self.block2 = _DenseBlock(num_layers=2, num_input_features=8, bn_size=2, growth_rate=4, drop_rate=0)
        self.norm5 = nn.BatchNorm2d(16)
        self.heads = ClsRegHeads(16, [5, 5])

    def forward(self, image):
        x = self.block2(self.trans1(self.block1(self.stem(image))))
        return self.heads(F.relu(self.norm5(x)))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, two dilated 3x3, image pooling resized back by size."""

    def __init__(self, cin, c):
        super().__init__()
        self.b0 = conv_bn_relu(cin, c, 1)
        self.b1 = conv_bn_relu(cin, c, 3, dilation=2)
        self.b2 = conv_bn_relu(cin, c, 3, dilation=3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pool_conv = nn.Conv2d(cin, c, 1)
        self.project = conv_bn_relu(4 * c, c, 1)

    def forward(self, x):
        p = F.relu(self.pool_conv(self.pool(x)))
        p = F.interpolate(p, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([self.b0(x), self.b1(x), self.b2(x), p], 1))


class ASPPSeg(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(conv_bn_relu(3, 8), conv_bn_relu(8, 12, stride=2), conv_bn_relu(12, 12, dilation=2))
        self.aspp = ASPP(12, 8)
        self.seg_head = nn.Conv2d(8, 6, 1)
        self.depth_head = nn.Conv2d(8, 1, 1)

    def forward(self, image):
        f = self.aspp(self.backbone(image))
        seg = F.interpolate(self.seg_head(f), scale_factor=2.0, mode="bilinear", align_corners=False)
        depth = F.interpolate(self.depth_head(f), scale_factor=2.0, mode="bilinear", align_corners=False)
        return seg, depth


class UNet(nn.Module):
    """Two-level U-Net: MaxPool encoder, ConvTranspose2d decoder, skip concatenations."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(conv_bn_relu(3, 8), conv_bn_relu(8, 8))
        self.enc2 = nn.Sequential(conv_bn_relu(8, 12), conv_bn_relu(12, 12))
        self.mid = conv_bn_relu(12, 16)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(16, 12, 2, stride=2)
        self.dec2 = conv_bn_relu(24, 12)
        self.up1 = nn.ConvTranspose2d(12, 8, 2, stride=2)
        self.dec1 = conv_bn_relu(16, 8)
        self.seg = nn.Conv2d(8, 5, 1)
        self.depth = nn.Conv2d(8, 1, 1)

    def forward(self, image):
        e1 = self.enc1(image)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.seg(d1), self.depth(d1)


class AttentionModule(nn.Module):
    """MTAN's task attention: a sigmoid mask computed from shared features gates them."""

    def __init__(self, c):
        super().__init__()
        self.mask = nn.Sequential(nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c, 1),
                                  nn.BatchNorm2d(c), nn.Sigmoid())
        self.out = conv_bn_relu(c, c)

    def forward(self, shared, prev=None):
        x = shared if prev is None else shared + prev
        return self.out(self.mask(x) * shared)


class MTANSegNet(nn.Module):
    """SegNet trunk (MaxPool2d with indices, MaxUnpool2d) + MTAN attention per task, three tasks."""

    TASKS = ("segmentation", "depth", "normal")

    def __init__(self):
        super().__init__()
        self.enc1 = conv_bn_relu(3, 8)
        self.enc2 = conv_bn_relu(8, 12)
        self.dec2 = conv_bn_relu(12, 8)
        self.dec1 = conv_bn_relu(8, 8)
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        self.att_enc = nn.ModuleList(AttentionModule(8) for _ in self.TASKS)
        self.att_dec = nn.ModuleList(AttentionModule(8) for _ in self.TASKS)
        self.seg_head = nn.Conv2d(8, 13, 1)
        self.depth_head = nn.Conv2d(8, 1, 1)
        self.normal_head = nn.Conv2d(8, 3, 1)

    def forward(self, image):
        e1 = self.enc1(image)
        p1, i1 = self.pool(e1)
        e2 = self.enc2(p1)
        p2, i2 = self.pool(e2)
        d2 = self.dec2(self.unpool(p2, i2))
        d1 = self.dec1(self.unpool(d2, i1))
        feats = []
        for t in range(len(self.TASKS)):
            a = self.att_enc[t](e1)
            feats.append(self.att_dec[t](d1, a))
        normal = F.normalize(self.normal_head(feats[2]), p=2, dim=1)
        return self.seg_head(feats[0]), self.depth_head(feats[1]), normal


class NormsNet(nn.Module):
    """GroupNorm, InstanceNorm2d(affine), PReLU per channel and shared-slope PReLU, no BN."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 12, 3, padding=1)
        self.gn = nn.GroupNorm(3, 12)
        self.act1 = nn.PReLU(12)
        self.conv2 = nn.Conv2d(12, 12, 3, stride=2, padding=1)
        self.inorm = nn.InstanceNorm2d(12, affine=True)
        self.act2 = nn.PReLU()
        self.conv3 = nn.Conv2d(12, 16, 3, stride=2, padding=1)
        self.gn2 = nn.GroupNorm(4, 16)
        self.heads = ClsRegHeads(16, [6, 2])

    def forward(self, image):
        x = self.act1(self.gn(self.conv1(image)))
        x = self.act2(self.inorm(self.conv2(x)))
        return self.heads(F.relu(self.gn2(self.conv3(x))))


class InterpNet(nn.Module):
    """Resize in every form users write: nn.Upsample nearest by scale, F.interpolate bilinear by
    scale (align_corners False) and by size (align_corners True), nearest by size; reflect pad."""

    def __init__(self):
        super().__init__()
        self.enc1 = conv_bn_relu(3, 8)
        # reflect padding after a parameterised layer, so the gradient has to pass through the Pad
        self.enc2 = nn.Sequential(nn.Conv2d(8, 12, 3, stride=2, padding=1, padding_mode="reflect", bias=False),
                                  nn.BatchNorm2d(12), nn.ReLU())
        self.enc3 = conv_bn_relu(12, 12, stride=2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = conv_bn_relu(24, 8)
        self.seg = nn.Conv2d(8, 4, 1)
        self.recon = nn.Conv2d(8, 3, 1)

    def forward(self, image):
        e1 = self.enc1(image)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        f = self.fuse(torch.cat([self.up(e3), e2], 1))
        seg = F.interpolate(self.seg(f), scale_factor=2.0, mode="bilinear", align_corners=False)
        r = F.interpolate(self.recon(f), size=(image.shape[2] // 4, image.shape[3] // 4), mode="nearest")
        r = F.interpolate(r, size=image.shape[-2:], mode="bilinear", align_corners=True)
        return seg, r


class PoolNormNet(nn.Module):
    """AdaptiveAvgPool2d to 2x2 (flattened spatial features) and an L2-normalised embedding via
    torch.norm(p=2, dim=1) with a learned temperature parameter."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(conv_bn_relu(3, 8, stride=2), conv_bn_relu(8, 8))
        self.pool = nn.AdaptiveAvgPool2d((2, 2))
        self.embed = nn.Linear(32, 16)
        self.scale = nn.Parameter(torch.tensor([4.0]))
        self.cls = nn.Linear(16, 5)
        self.reg = nn.Linear(16, 4)

    def forward(self, image):
        e = self.embed(torch.flatten(self.pool(self.features(image)), 1))
        e = self.scale * e / torch.norm(e, p=2, dim=1, keepdim=True)
        return self.cls(e), self.reg(e)
