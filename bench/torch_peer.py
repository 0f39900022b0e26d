#!/usr/bin/env python3
"""PyTorch peer for the recon-onnx benchmarks: the same work as one `recon grads` step.

Forward once, one backward per task loss (retain_graph, as Recon does), then per shared layer the
task-gradient Gram matrix (weight and bias concatenated). With --train, one training step of a
Recon scan on top: every parameter's per-task gradients (task heads included), combined with equal
weights (their sum, 'ew'), and an SGD step (lr 0.01, no momentum). Prints one JSON line.
Usage: torch_peer.py MODEL BATCH [--threads N] [--steps K] [--device cpu|cuda] [--bn train|eval] [--train] [--tasks T]
       torch_peer.py gemm SIZE [--threads N] [--device cpu|cuda]   (the machine's float32 GEMM rate, GFLOP/s)
MODEL: resnet18, transformer, or one of bench/bench_models.py (mobilenet, unet).
"""
import argparse
import json
import resource
import time

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_models  # noqa: E402


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class MnistResNet(nn.Module):
    """Recon's Multi-Fashion+MNIST ResNet-18 (1×36×36 input, shared fc 512→100, heads 100→10)."""

    def __init__(self, tasks=2):
        super().__init__()
        self.tasks = tasks
        self.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cfg = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for i, (cin, cout, s) in enumerate(cfg, 1):
            setattr(self, f'layer{i}', nn.Sequential(BasicBlock(cin, cout, s), BasicBlock(cout, cout, 1)))
        self.fc = nn.Linear(512, 100)
        for t in range(1, tasks + 1):
            setattr(self, f'task{t}', nn.Linear(100, 10))

    def shared(self):
        return [(n, p) for n, p in self.named_parameters() if not n.startswith('task')]

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, f'layer{i}')(x)
        x = F.relu(self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))
        return tuple(getattr(self, f'task{t}')(x) for t in range(1, self.tasks + 1))


class Transformer(nn.Module):
    """The reference transformer: vocab 50, 12 tokens, width 32, 4 heads, 2 layers, MLP 64."""

    def __init__(self, vocab=50, length=12, width=32, heads=4, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.pos_embed = nn.Parameter(torch.zeros(1, length, width))
        self.layers = nn.ModuleList()
        for _ in range(layers):
            self.layers.append(nn.ModuleDict({
                'norm1': nn.LayerNorm(width), 'q': nn.Linear(width, width), 'k': nn.Linear(width, width),
                'v': nn.Linear(width, width), 'out': nn.Linear(width, width), 'norm2': nn.LayerNorm(width),
                'fc1': nn.Linear(width, 2 * width), 'fc2': nn.Linear(2 * width, width)}))
        self.norm = nn.LayerNorm(width)
        self.heads = heads
        self.cls = nn.Linear(width, 4)
        self.reg = nn.Linear(width, 1)

    def shared(self):
        return [(n, p) for n, p in self.named_parameters() if not n.startswith(('cls', 'reg'))]

    def forward(self, tokens):
        x = self.embed(tokens) + self.pos_embed
        n, l, w = x.shape
        h = self.heads
        for layer in self.layers:
            y = layer['norm1'](x)
            q, k, v = (layer[name](y).view(n, l, h, w // h).transpose(1, 2) for name in ('q', 'k', 'v'))
            a = torch.softmax(q @ k.transpose(-1, -2) / (w // h) ** 0.5, dim=-1) @ v
            x = x + layer['out'](a.transpose(1, 2).reshape(n, l, w))
            x = x + layer['fc2'](F.gelu(layer['fc1'](layer['norm2'](x))))
        x = self.norm(x).mean(1)
        return self.cls(x), self.reg(x)


def shared_parameters(model):
    """The trunk's parameters: everything but the task heads."""
    if hasattr(model, 'shared'):
        return model.shared()
    return [(n, p) for n, p in model.named_parameters() if n.split('.')[0] not in model.heads]


def layer_groups(named):
    groups = {}
    for name, p in named:
        key = name.rsplit('.', 1)[0] if name.endswith(('.weight', '.bias')) else name
        groups.setdefault(key, []).append(p)
    return groups


def train_step(model, batch, targets, losses, groups, optimizer):
    outputs = model(batch)
    task_losses = [fn(o, t) for fn, o, t in zip(losses, outputs, targets)]
    params = [p for p in model.parameters()]
    grads = []
    for i, loss in enumerate(task_losses):
        g = torch.autograd.grad(loss, params, retain_graph=i + 1 < len(task_losses), allow_unused=True)
        grads.append([torch.zeros_like(p) if x is None else x for x, p in zip(g, params)])
    index = {id(p): j for j, p in enumerate(params)}
    grams = []
    for ps in groups.values():
        rows = torch.stack([torch.cat([g[index[id(p)]].reshape(-1) for p in ps]) for g in grads])
        grams.append(rows @ rows.T)
    for j, p in enumerate(params):
        p.grad = sum(g[j] for g in grads)
    optimizer.step()
    return [float(l) for l in task_losses], torch.stack(grams).cpu()


def step(model, batch, targets, losses, groups):
    outputs = model(batch)
    task_losses = [fn(o, t) for fn, o, t in zip(losses, outputs, targets)]
    grads = []
    params = [p for ps in groups.values() for p in ps]
    for i, loss in enumerate(task_losses):
        g = torch.autograd.grad(loss, params, retain_graph=i + 1 < len(task_losses), allow_unused=True)
        grads.append([torch.zeros_like(p) if x is None else x for x, p in zip(g, params)])
    grams, k = [], 0
    for ps in groups.values():
        rows = torch.stack([torch.cat([g[k + j].reshape(-1) for j in range(len(ps))]) for g in grads])
        grams.append(rows @ rows.T)
        k += len(ps)
    return [float(l) for l in task_losses], torch.stack(grams).cpu()


def gemm_rate(size, device, steps):
    """float32 GEMM of two SIZE×SIZE matrices, best of `steps`: the practical FLOP peak."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = float('inf')
    for _ in range(steps + 2):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.type == 'cuda':
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * size ** 3 / best / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model', choices=['resnet18', 'transformer', 'gemm', *bench_models.MODELS])
    ap.add_argument('batch', type=int)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--bn', default='train', choices=['train', 'eval'])
    ap.add_argument('--train', action='store_true')
    ap.add_argument('--tasks', type=int, default=2, help='resnet18: task heads (scaling benchmarks)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    if args.model == 'gemm':
        print(json.dumps({'peer': 'pytorch', 'torch': torch.__version__, 'device': args.device, 'threads': args.threads,
                          'gemm_size': args.batch, 'gflops': gemm_rate(args.batch, dev, args.steps)}))
        return
    if args.model in bench_models.MODELS:
        model = bench_models.MODELS[args.model]().to(dev)
        batch = torch.randn(args.batch, *bench_models.IMAGES[args.model], device=dev)
        with torch.no_grad():
            targets = bench_models.targets(args.model, model(batch))
        losses = bench_models.loss_fns(args.model)
    elif args.model == 'resnet18':
        model = MnistResNet(args.tasks).to(dev)
        batch = torch.randn(args.batch, 1, 36, 36, device=dev)
        targets = [torch.randint(0, 10, (args.batch,), device=dev) for _ in range(args.tasks)]
        losses = [F.cross_entropy] * args.tasks
    else:
        model = Transformer().to(dev)
        batch = torch.randint(0, 50, (args.batch, 12), device=dev)
        targets = [torch.randint(0, 4, (args.batch,), device=dev), torch.randn(args.batch, 1, device=dev)]
        losses = [F.cross_entropy, F.mse_loss]
    model.train(args.bn == 'train')
    groups = layer_groups(shared_parameters(model))
    if args.train:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        run = lambda: train_step(model, batch, targets, losses, groups, optimizer)
    else:
        run = lambda: step(model, batch, targets, losses, groups)
    run()  # warm-up (twice: the first CUDA step also picks cuDNN algorithms and fills the caching allocator)
    run()
    if dev.type == 'cuda':
        torch.cuda.synchronize()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        run()
        if dev.type == 'cuda':
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(json.dumps({'peer': 'pytorch', 'torch': torch.__version__, 'model': args.model, 'batch': args.batch, 'tasks': args.tasks, 'device': args.device, 'train': args.train,
                      'threads': args.threads, 'ms_median': times[len(times) // 2], 'ms_min': times[0],
                      'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      **({'peak_gpu_mb': torch.cuda.max_memory_allocated() / 2**20} if dev.type == 'cuda' else {})}))


if __name__ == '__main__':
    main()
