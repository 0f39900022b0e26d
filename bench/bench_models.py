#!/usr/bin/env python3
"""Bench-scale multi-task models beyond the reference ResNet-18 and transformer, built from the
corpus architectures at realistic widths: a MobileNetV2 (torchvision's, width 0.5) with a
classification and a box-regression head, and a four-level U-Net with a per-pixel segmentation and
a depth head. The PyTorch peer (bench/torch_peer.py) times these nn.Modules; recon-onnx times their
ONNX export (train-mode BN, opset 17; MobileNet on 3×64×64 images, the U-Net on 3×32×32 so that a
training step at batch 256 fits the 2-core development machine), written by

    /usr/bin/python3 bench/bench_models.py            # bench/models/{mobilenet,unet}_op17.onnx + .tasks.json

Only shapes matter to the benchmark, so the weights are PyTorch's default initialisation (seed 0).
"""
import json
import os
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGES = {'mobilenet': (3, 64, 64), 'unet': (3, 32, 32)}


class MobileNetBench(nn.Module):
    """torchvision MobileNetV2 features at width 0.5 (17 inverted residual blocks, depthwise 3×3
    convolutions, ReLU6; the last 1×1 conv keeps 1280 channels), global pooling, heads cls (10
    classes) and box (4)."""

    heads = ('cls', 'box')

    def __init__(self):
        super().__init__()
        from torchvision.models import mobilenet_v2  # here: the U-Net and the other peers work without torchvision

        self.features = mobilenet_v2(width_mult=0.5).features
        c = self.features[-1].out_channels
        self.cls = nn.Linear(c, 10)
        self.box = nn.Linear(c, 4)

    def forward(self, image):
        f = torch.flatten(F.adaptive_avg_pool2d(self.features(image), 1), 1)
        return self.cls(f), self.box(f)


def conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNetBench(nn.Module):
    """Four-level U-Net (16, 32, 64, 128 channels, 256 at the bottom): MaxPool encoder,
    ConvTranspose2d decoder with skip concatenations, heads seg (5 classes per pixel) and depth."""

    heads = ('seg', 'depth')

    def __init__(self, widths=(16, 32, 64, 128)):
        super().__init__()
        self.down = nn.ModuleList()
        cin = 3
        for w in widths:
            self.down.append(nn.Sequential(conv_bn_relu(cin, w), conv_bn_relu(w, w)))
            cin = w
        self.bottom = nn.Sequential(conv_bn_relu(cin, 2 * cin), conv_bn_relu(2 * cin, 2 * cin))
        self.ups = nn.ModuleList()
        self.merge = nn.ModuleList()
        c = 2 * cin
        for w in reversed(widths):
            self.ups.append(nn.ConvTranspose2d(c, w, 2, stride=2))
            self.merge.append(nn.Sequential(conv_bn_relu(2 * w, w), conv_bn_relu(w, w)))
            c = w
        self.seg = nn.Conv2d(c, 5, 1)
        self.depth = nn.Conv2d(c, 1, 1)

    def forward(self, image):
        skips, x = [], image
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, merge, skip in zip(self.ups, self.merge, reversed(skips)):
            x = merge(torch.cat([up(x), skip], 1))
        return self.seg(x), self.depth(x)


MODELS = {'mobilenet': MobileNetBench, 'unet': UNetBench}
# Per task: (loss in the task spec, target maker for a batch of outputs).
TASKS = {
    'mobilenet': [('cls', 'cross_entropy'), ('box', 'smooth_l1')],
    'unet': [('seg', 'cross_entropy'), ('depth', 'mse')],
}


def targets(name, outputs, generator=None):
    """Random targets of the right kind and shape for the outputs of one batch."""
    out = []
    for (task, loss), o in zip(TASKS[name], outputs):
        if loss == 'cross_entropy':
            shape = (o.shape[0],) + tuple(o.shape[2:])
            out.append(torch.randint(0, o.shape[1], shape, generator=generator, device=o.device))
        else:
            out.append(torch.randn(o.shape, generator=generator, device=o.device))
    return out


def loss_fns(name):
    table = {'cross_entropy': F.cross_entropy, 'smooth_l1': F.smooth_l1_loss, 'mse': F.mse_loss}
    return [table[loss] for _, loss in TASKS[name]]


def export(name, folder):
    torch.manual_seed(0)
    model = MODELS[name]()
    model.train()
    image = torch.randn(2, *IMAGES[name])
    outputs = [t for t, _ in TASKS[name]]
    path = os.path.join(folder, f'{name}_op17.onnx')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(model, (image,), path, opset_version=17, training=torch.onnx.TrainingMode.TRAINING,
                          do_constant_folding=False, input_names=['image'], output_names=outputs,
                          dynamic_axes={n: {0: 'N'} for n in ['image', *outputs]})
    spec = {'tasks': [{'name': t, 'output': t, 'loss': loss, 'target': f'{t}_target'} for t, loss in TASKS[name]]}
    with open(os.path.join(folder, f'{name}.tasks.json'), 'w') as f:
        json.dump(spec, f, indent=1)
    params = sum(p.numel() for p in model.parameters())
    print(f'{path}: {params:,} parameters')


if __name__ == '__main__':
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'models')
    os.makedirs(folder, exist_ok=True)
    for name in sys.argv[1:] or list(MODELS):
        export(name, folder)
