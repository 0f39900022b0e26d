#!/usr/bin/python3
"""Reference fixtures for the multi-task combination methods (src/conflict/method-registry.ts).

  /usr/bin/python3 scripts/methods/make_method_fixtures.py [-o test/fixtures/methods]

An implementation of every method that is INDEPENDENT of the TypeScript one: it works on the
explicit task-gradient vectors g_i in R^d (never on a Gram matrix handed to it) and follows the
papers' formulas and the reference implementations' conventions (LibMTL, TorchJD, the authors'
code), with torch float64 and autograd:

* loss-weighting methods (EW, UW, DWA, RLW, GLS, FAMO, GradNorm) differentiate their scalar
  objective through linear surrogate losses L_i(theta) = L_i + <g_i, theta> at theta = 0, so
  the shared update is d objective / d theta and the task-specific weight is d objective / d L_i;
* min-norm / quadratic problems (MGDA, UPGrad, DualProj) are solved exactly by enumerating the
  faces of the feasible set (affine least squares on the vectors; the TS code uses Frank-Wolfe and
  an active-set method);
* CAGrad's inner problem: damped Newton on every face of the simplex, best feasible face;
* Nash-MTL and FairGrad: damped Newton with autograd Hessians on the vector form of their convex
  potential; clipping with torch.nn.utils.clip_grad_norm_ itself;
* IMTL-G: the D, U matrices of unit-vector differences built from the vectors;
* Aligned-MTL: SVD of the gradient matrix (the TS code eigen-decomposes the Gram);
* PCGrad, GradVac: projections on the vectors (per layer for GradVac).

Random draws (PCGrad/GradVac orders, RLW samples) come from numpy and are written into the
fixture, so the TS test replays them instead of re-implementing numpy's generator.

Each output file test/fixtures/methods/<method>.json holds cases; a case has T, the layer sizes
(split of the d coordinates into shared layer groups, in network order), the options, and steps
with grads [T][d], losses [T] (float32 values), optional lossesAfter / permutations / normals,
and the expected shared update [d] and task-specific weights [T]. npm test needs no Python.
"""
import argparse
import itertools
import json
import math
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
F32_EPS = float(np.finfo(np.float32).eps)


def f32(x):
    return [float(np.float32(v)) for v in x]


# --------------------------------------------------------------------------------------------
# gradient sets


def random_grads(rng, T, d, scale=1.0):
    return rng.normal(size=(T, d)) * scale


def gradient_sets(rng, d):
    """Single-step gradient sets: random T = 2, 3, 5 and degenerate ones."""
    a, b, c = rng.normal(size=(3, d))
    sets = {
        'T=2 random': random_grads(rng, 2, d),
        'T=3 random': random_grads(rng, 3, d) + 0.3,
        'T=5 random': random_grads(rng, 5, d) + 0.2,
        'T=3 conflicting': np.stack([a, -0.7 * a + 0.5 * rng.normal(size=d), -0.5 * a + 0.8 * b]),
        'T=3 zero gradient': np.stack([a, np.zeros(d), -0.5 * a + 0.5 * rng.normal(size=d)]),
        'T=2 parallel': np.stack([a, 2.5 * a]),
        'T=3 parallel': np.stack([b, 0.5 * b, 3.0 * b]),
        'T=2 opposite': np.stack([a, -0.7 * a]),
        'T=3 rank-deficient': np.stack([a + 0.5 * b, b, a + 1.5 * b]),
        # 5 gradients in a 3-dimensional subspace, all in one half-space (0 not in their hull).
        'T=5 rank-deficient': (np.abs(rng.normal(size=(5, 3))) + 0.2) @ np.stack([a, b, c]),
        'T=3 tiny': 1e-3 * random_grads(rng, 3, d),
    }
    return sets


def losses_for(rng, T):
    return f32(rng.uniform(0.2, 3.0, size=T))


# --------------------------------------------------------------------------------------------
# helpers on vectors


def J_of(grads):
    return torch.tensor(np.asarray(grads, dtype=np.float64))


def surrogate(grads, losses):
    """theta, L(theta) with dL_i/dtheta = g_i at theta = 0."""
    J = J_of(grads)
    theta = torch.zeros(J.shape[1], requires_grad=True)
    L = torch.tensor(losses) + J @ theta
    return theta, L


def objective_gradients(grads, losses, objective):
    """(d objective/d theta, d objective/d L) for a scalar objective of the surrogate losses."""
    theta, L = surrogate(grads, losses)
    (dtheta,) = torch.autograd.grad(objective(L), theta)
    Lleaf = torch.tensor(losses, requires_grad=True)
    (dL,) = torch.autograd.grad(objective(Lleaf), Lleaf)
    return dtheta.tolist(), dL.tolist()


def min_norm_point(vectors):
    """Min-norm point of the convex hull of the rows, by enumerating faces (affine least squares)."""
    V = torch.tensor(np.asarray(vectors, dtype=np.float64))
    T = V.shape[0]
    best = None
    for k in range(1, T + 1):
        for S in itertools.combinations(range(T), k):
            base = V[S[0]]
            if k == 1:
                beta = torch.zeros(0)
            else:
                D = torch.stack([V[s] - base for s in S[1:]], dim=1)  # d x (k-1)
                beta = torch.linalg.lstsq(D, -base.unsqueeze(1), driver='gelsd').solution.squeeze(1)
            w = torch.zeros(T)
            w[S[0]] = 1 - beta.sum()
            for j, s in enumerate(S[1:]):
                w[s] = beta[j]
            if (w < -1e-12).any():
                continue
            u = w @ V
            val = float(u @ u)
            if best is None or val < best[0] - 1e-15 * (1 + abs(val)):
                best = (val, w.clamp_min(0), u)
    return best  # (norm^2, weights, point)


def clip(update, max_norm):
    p = torch.nn.Parameter(torch.zeros(len(update)))
    p.grad = torch.tensor(update).clone()
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_([p], max_norm)
    return p.grad.tolist()


def newton_minimise(f, x0, positive=True, iters=300):
    """Damped Newton with autograd derivatives; keeps x > 0 when asked."""
    x = x0.clone()
    for _ in range(iters):
        xg = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(xg), xg)
        H = torch.autograd.functional.hessian(f, x)
        step = -torch.linalg.lstsq(H, g.unsqueeze(1), driver='gelsd').solution.squeeze(1)
        t = 1.0
        if positive:
            neg = step < 0
            if neg.any():
                t = min(1.0, float((-0.99 * x[neg] / step[neg]).min()))
        f0 = float(f(x))
        slope = float(g @ step)
        if slope > -1e-30:
            break
        # Armijo, with slack for rounding in f so that full Newton steps are taken near the optimum.
        while float(f(x + t * step)) > f0 + 0.25 * t * slope + 1e-14 * abs(f0) and t > 1e-20:
            t *= 0.5
        x = x + t * step
    return x


# --------------------------------------------------------------------------------------------
# methods on vectors


def pcgrad(grads, perms):
    G = [np.array(g, dtype=np.float64) for g in grads]
    T = len(G)
    total = np.zeros_like(G[0])
    for i in range(T):
        others = [j for j in range(T) if j != i]
        v = G[i].copy()
        for k in perms[i]:
            gj = G[others[k]]
            dot = v @ gj
            if dot < 0:
                n = np.linalg.norm(gj) + 1e-8
                v = v - dot / (n * n) * gj
        total += v
    return total.tolist()


def mgda(grads, losses, normalization):
    J = J_of(grads)
    T = J.shape[0]
    norms = J.norm(dim=1)
    L = torch.tensor(losses)
    gn = {'none': torch.ones(T), 'l2': norms, 'loss': L, 'loss+': L * norms}[normalization]
    inv = torch.where(gn != 0, 1 / gn, torch.zeros(T))
    Jn = J * inv.unsqueeze(1)
    _, sol, point = min_norm_point(Jn.numpy())
    return (T * point).tolist()


def cagrad(grads, alpha):
    J = J_of(grads)
    T = J.shape[0]
    g0 = J.mean(0)
    c = alpha * math.sqrt(float(g0 @ g0) + 1e-8) + 1e-8

    def F(w):
        gw = w @ J
        return gw @ g0 + c * torch.sqrt(gw @ gw + 1e-8)

    best = None
    for k in range(1, T + 1):
        for S in itertools.combinations(range(T), k):
            S = list(S)

            def on_face(beta, S=S):
                w = torch.zeros(T, dtype=beta.dtype)
                w = w.index_put((torch.tensor(S[:1]),), 1 - beta.sum().reshape(1))
                if len(S) > 1:
                    w = w.index_put((torch.tensor(S[1:]),), beta)
                return F(w)

            beta = torch.full((k - 1,), 1.0 / k)
            if k > 1:
                beta = newton_minimise(on_face, beta, positive=False, iters=100)
                bg = beta.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(on_face(bg), bg)
                if float(g.abs().max()) > 1e-9 * (1 + float(J.abs().max()) ** 2):
                    continue
            w = torch.zeros(T)
            w[S[0]] = 1 - beta.sum()
            for j, s in enumerate(S[1:]):
                w[s] = beta[j]
            if (w < -1e-12).any():
                continue
            val = float(F(w))
            if best is None or val < best[0]:
                best = (val, w.clamp_min(0))
    w = best[1]
    gw = w @ J
    lam = c / (float(gw.norm()) + 1e-8)
    g = (g0 + lam * gw) / (1 + alpha ** 2)
    return (T * g).tolist()


def imtl_g(grads):
    J = J_of(grads)
    T = J.shape[0]
    norms = J.norm(dim=1)

    def generalized():
        v = torch.linalg.pinv(J @ J.T, rtol=T * F32_EPS, hermitian=True) @ norms
        s = float(v.sum())
        return torch.zeros(T) if abs(s) < 1e-12 else v / s

    if T == 1:
        alpha = torch.ones(1)
    elif (norms == 0).any():
        alpha = generalized()
    else:
        U = J / norms.unsqueeze(1)
        D = J[0:1] - J[1:]
        Ud = U[0:1] - U[1:]
        M = D @ Ud.T  # (T-1) x (T-1)
        if float(torch.linalg.svdvals(M).min()) <= 1e-10 * float(norms.max()):
            alpha = generalized()
        else:
            rest = torch.linalg.solve(M.T, Ud @ J[0])
            alpha = torch.cat([(1 - rest.sum()).reshape(1), rest])
    return (T * (alpha @ J)).tolist()


def power_solution(grads, p):
    """alpha > 0 with G alpha = alpha^(-1/p) from the vectors, or None (0 in the hull)."""
    J = J_of(grads)
    T = J.shape[0]
    nsq, _, _ = min_norm_point(J.numpy())
    if nsq <= 1e-12 * float((J * J).sum(1).max()):
        return None
    q = 1.0 / p

    def f(a):
        u = a @ J
        h = -torch.log(a).sum() if p == 1 else -(a ** (1 - q)).sum() / (1 - q)
        return 0.5 * (u @ u) + h

    Q = float((J.sum(0) @ J.sum(0)))
    a = torch.full((T,), (T / Q) ** (p / (p + 1)))
    a = newton_minimise(f, a, positive=True)
    r = (J @ (a @ J)) - a ** (-q)
    res = float((r.abs() * a ** q).max())
    assert res < 1e-9, f'power solution did not converge: residual {res}, alpha {a.tolist()}, min-norm^2 {nsq}'
    return a


def aligned_mtl(grads, mode):
    J = J_of(grads)
    T = J.shape[0]
    U, S, _ = torch.linalg.svd(J, full_matrices=False)
    lam = S ** 2
    tol = float(lam.max()) * T * F32_EPS
    keep = lam > tol
    if not keep.any():
        alpha = torch.ones(T)
    else:
        lam_k, U_k, S_k = lam[keep], U[:, keep], S[keep]
        if mode == 'min':
            s = float(lam_k.min())
        elif mode == 'median':
            s = float(torch.sort(lam_k).values[(len(lam_k) - 1) // 2])
        else:
            s = float(lam_k.mean())
        B = math.sqrt(s) * U_k @ torch.diag(1 / S_k) @ U_k.T
        alpha = B @ torch.ones(T)
    return (alpha @ J).tolist()


def box_qp(H, u):
    """min v^T H v subject to v >= u, H positive definite, by enumerating free sets."""
    T = len(u)
    best = None
    for k in range(0, T + 1):
        for Fset in itertools.combinations(range(T), k):
            Fset = list(Fset)
            A = [i for i in range(T) if i not in Fset]
            v = u.clone()
            if Fset:
                HFF = H[Fset][:, Fset]
                rhs = -(H[Fset][:, A] @ u[A]) if A else torch.zeros(len(Fset))
                v[Fset] = torch.linalg.solve(HFF, rhs)
            if (v < u - 1e-15).any():
                continue
            val = float(v @ H @ v)
            if best is None or val < best[0]:
                best = (val, v)
    return best[1]


def dual_cone_gram(J, norm_eps, reg_eps):
    G = J @ J.T
    tr = float(torch.trace(G))
    H = torch.zeros_like(G) if tr < norm_eps else G / tr
    return H + reg_eps * torch.eye(G.shape[0])


def upgrad(grads, norm_eps=1e-4, reg_eps=1e-4):
    J = J_of(grads)
    T = J.shape[0]
    H = dual_cone_gram(J, norm_eps, reg_eps)
    w = sum(box_qp(H, torch.eye(T)[i] / T) for i in range(T))
    return (T * (w @ J)).tolist()


def dualproj(grads, norm_eps=1e-4, reg_eps=1e-4):
    J = J_of(grads)
    T = J.shape[0]
    H = dual_cone_gram(J, norm_eps, reg_eps)
    w = box_qp(H, torch.full((T,), 1.0 / T))
    return (T * (w @ J)).tolist()


class GradVac:
    def __init__(self, T, sizes, beta, whole):
        self.T, self.beta, self.whole = T, beta, whole
        self.bounds = [(0, sum(sizes))] if whole else [(sum(sizes[:k]), sum(sizes[: k + 1])) for k in range(len(sizes))]
        self.rho = np.zeros((T, T, len(self.bounds)))

    def step(self, grads, perms):
        G = np.array(grads, dtype=np.float64)
        T = self.T
        pc = G.copy()
        for i in range(T):
            others = [j for j in range(T) if j != i]
            for k_perm in perms[i]:
                j = others[k_perm]
                for k, (lo, hi) in enumerate(self.bounds):
                    pi, gj = pc[i, lo:hi], G[j, lo:hi]
                    rho = float(pi @ gj) / (np.linalg.norm(pi) * np.linalg.norm(gj) + 1e-8)
                    phi = self.rho[i, j, k]
                    if rho < phi:
                        s1 = math.sqrt(max(1 - rho * rho, 0.0))
                        s2 = math.sqrt(max(1 - phi * phi, 0.0))
                        w = np.linalg.norm(pi) * (phi * s1 - rho * s2) / (np.linalg.norm(gj) * s2 + 1e-8)
                        pc[i, lo:hi] = pi + w * gj
                    self.rho[i, j, k] = (1 - self.beta) * phi + self.beta * rho
        return pc.sum(0).tolist()


# --------------------------------------------------------------------------------------------
# fixture assembly


def perms_for(rng, T):
    return [rng.permutation(T - 1).tolist() for _ in range(T)]


def single_step_cases(rng, sets, sizes, fn, needs_perms=False, options=None):
    cases = []
    for name, grads in sets.items():
        T = grads.shape[0]
        losses = losses_for(rng, T)
        step = {'epoch': 0, 'grads': grads.tolist(), 'losses': losses}
        if needs_perms:
            step['permutations'] = perms_for(rng, T)
        update, heads = fn(step)
        step['expected'] = {'update': update, 'taskSpecific': heads}
        cases.append({'name': name, 'T': T, 'layers': sizes, 'options': options or {}, 'steps': [step]})
    return cases


def sequence(rng, T, d, n, decrease=False):
    """n steps of random gradients (with a common drift) and losses."""
    drift = rng.normal(size=(T, d))
    steps = []
    losses = rng.uniform(0.5, 3.0, size=T)
    for s in range(n):
        grads = drift + 0.8 * rng.normal(size=(T, d))
        losses = losses * rng.uniform(0.85, 1.05, size=T)
        step = {'grads': grads.tolist(), 'losses': f32(losses)}
        if decrease:
            step['lossesAfter'] = f32(np.asarray(step['losses']) * rng.uniform(0.9, 1.0, size=T))
        steps.append(step)
    return steps


def write(out, method, cases, note):
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f'{method}.json')
    with open(path, 'w') as fh:
        json.dump({'method': method, 'note': note, 'cases': cases}, fh, separators=(',', ':'))
        fh.write('\n')
    print(f'{path}: {len(cases)} cases')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-o', '--out', default=os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'methods'))
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    rng = np.random.default_rng(20230501)
    sizes = [5, 7, 4]
    d = sum(sizes)
    sets = gradient_sets(rng, d)
    ones = lambda T: [1.0] * T

    # ---- EW
    def ew(step):
        T = len(step['grads'])
        upd, heads = objective_gradients(step['grads'], step['losses'], lambda L: L.sum())
        return upd, heads

    write(out, 'ew', single_step_cases(rng, sets, sizes, ew), 'gradient of sum of losses')

    # ---- GLS
    def gls(step):
        T = len(step['grads'])
        return objective_gradients(step['grads'], step['losses'], lambda L: torch.pow(L.prod(), 1.0 / T))

    write(out, 'gls', single_step_cases(rng, sets, sizes, gls), 'gradient of (prod L)^(1/T)')

    # ---- RLW
    cases = []
    for name, grads in list(sets.items())[:4]:
        T = grads.shape[0]
        steps = []
        for s in range(3):
            normals = rng.normal(size=T).tolist()
            w = torch.softmax(torch.tensor(normals), 0)
            losses = losses_for(rng, T)
            upd, heads = objective_gradients(grads, losses, lambda L, w=w: (w * L).sum())
            steps.append({'epoch': 0, 'grads': grads.tolist(), 'losses': losses, 'normals': normals, 'expected': {'update': upd, 'taskSpecific': heads}})
        cases.append({'name': name, 'T': T, 'layers': sizes, 'options': {}, 'steps': steps})
    write(out, 'rlw', cases, 'softmax of N(0,1) samples')

    # ---- UW (s trained by plain float32 SGD, lr in the case)
    cases = []
    for T, init in [(2, 0.0), (3, 0.0), (5, 0.3)]:
        steps = sequence(rng, T, d, 6)
        s = torch.nn.Parameter(torch.full((T,), init, dtype=torch.float32))
        opt = torch.optim.SGD([s], lr=0.2)
        for st in steps:
            st['epoch'] = 0
            coef = torch.exp(-s.detach().double())
            upd, heads = objective_gradients(st['grads'], st['losses'], lambda L, coef=coef: (coef * L).sum())
            st['expected'] = {'update': upd, 'taskSpecific': heads}
            opt.zero_grad()
            L32 = torch.tensor(st['losses'], dtype=torch.float32)
            (torch.exp(-s) * L32 + s).sum().backward()
            opt.step()
        cases.append({'name': f'T={T} sequence', 'T': T, 'layers': sizes, 'options': {'init': init} if init else {}, 'sgdLr': 0.2, 'steps': steps})
    write(out, 'uw', cases, 'loss sum exp(-s_i) L_i + s_i; s by float32 SGD')

    # ---- DWA
    cases = []
    for T, per_epoch, temp in [(2, 3, None), (3, 2, None), (5, 3, 1.0)]:
        steps = sequence(rng, T, d, 5 * per_epoch)
        history = {}
        for k, st in enumerate(steps):
            e = k // per_epoch
            st['epoch'] = e
            history.setdefault(e, []).append(st['losses'])
            if e > 1:
                last = np.mean(history[e - 1], axis=0)
                before = np.mean(history[e - 2], axis=0)
                w = T * torch.softmax(torch.tensor(last / before) / (temp or 2.0), 0)
            else:
                w = torch.ones(T)
            upd, heads = objective_gradients(st['grads'], st['losses'], lambda L, w=w: (w * L).sum())
            st['expected'] = {'update': upd, 'taskSpecific': heads}
        cases.append({'name': f'T={T}, {per_epoch} steps/epoch', 'T': T, 'layers': sizes, 'options': {'temperature': temp} if temp else {}, 'steps': steps})
    write(out, 'dwa', cases, 'T softmax((L(e-1)/L(e-2))/temperature) from epoch 2')

    # ---- FAMO (logits by float64 torch Adam)
    cases = []
    for T, opts in [(2, {}), (3, {}), (5, {'gamma': 0.01, 'w_lr': 0.1})]:
        steps = sequence(rng, T, d, 6, decrease=True)
        gamma, w_lr = opts.get('gamma', 1e-3), opts.get('w_lr', 0.025)
        logits = torch.zeros(T, requires_grad=True)
        opt = torch.optim.Adam([logits], lr=w_lr, weight_decay=gamma)
        for st in steps:
            st['epoch'] = 0
            z = torch.softmax(logits, 0).detach()
            Lt = torch.tensor(st['losses'])
            c = (z / (Lt + 1e-8)).sum()
            upd, heads = objective_gradients(st['grads'], st['losses'], lambda L, z=z, c=c: (torch.log(L + 1e-8) * z / c).sum())
            st['expected'] = {'update': upd, 'taskSpecific': heads}
            delta = torch.log(Lt + 1e-8) - torch.log(torch.tensor(st['lossesAfter']) + 1e-8)
            (dw,) = torch.autograd.grad(torch.softmax(logits, 0), logits, grad_outputs=delta)
            opt.zero_grad()
            logits.grad = dw
            opt.step()
        cases.append({'name': f'T={T} sequence', 'T': T, 'layers': sizes, 'options': opts, 'steps': steps})
    write(out, 'famo', cases, 'FAMO with logits trained by Adam from the losses after each update')

    # ---- GradNorm (w by float32 SGD, renormalised to sum T)
    cases = []
    for T, opts in [(2, {}), (3, {}), (5, {'alpha': 0.5, 'layer': 'layer1'})]:
        steps = sequence(rng, T, d, 6)
        alpha = opts.get('alpha', 1.5)
        layer = int(opts.get('layer', f'layer{len(sizes) - 1}')[5:])
        lo, hi = sum(sizes[:layer]), sum(sizes[: layer + 1])
        w = torch.nn.Parameter(torch.ones(T, dtype=torch.float32))
        opt = torch.optim.SGD([w], lr=0.05)
        L0 = None
        for st in steps:
            st['epoch'] = 0
            if L0 is None:
                L0 = torch.tensor(st['losses'])
            wd = w.detach().double()
            upd, heads = objective_gradients(st['grads'], st['losses'], lambda L, wd=wd: (wd * L).sum())
            st['expected'] = {'update': upd, 'taskSpecific': heads}
            Jw = J_of(st['grads'])[:, lo:hi]
            w64 = w.to(torch.float64)
            Gw = w64 * Jw.norm(dim=1)
            ratio = torch.tensor(st['losses']) / L0
            target = (Gw.mean() * (ratio / ratio.mean()) ** alpha).detach()
            Lgrad = (Gw - target).abs().sum()
            opt.zero_grad()
            Lgrad.backward()
            opt.step()
            with torch.no_grad():
                w.mul_(T / w.sum())
        cases.append({'name': f'T={T} sequence', 'T': T, 'layers': sizes, 'options': opts, 'sgdLr': 0.05, 'steps': steps})
    write(out, 'gradnorm', cases, 'GradNorm; task weights by float32 SGD on L_grad, renormalised to sum T')

    # ---- MGDA
    cases = []
    for norm in ['none', 'l2', 'loss', 'loss+']:
        for c in single_step_cases(rng, sets, sizes, lambda st, norm=norm: (mgda(st['grads'], st['losses'], norm), ones(len(st['grads']))), options={'normalization': norm}):
            c['name'] = f'{c["name"]}, {norm}'
            cases.append(c)
    write(out, 'mgda', cases, 'T x min-norm point of the (normalised) gradients, LibMTL write-back')

    # ---- PCGrad
    write(out, 'pcgrad', single_step_cases(rng, sets, sizes, lambda st: (pcgrad(st['grads'], st['permutations']), ones(len(st['grads']))), needs_perms=True), 'sum of projected gradients')

    # ---- CAGrad
    cases = []
    for alpha in [0.2, 0.4]:
        for c in single_step_cases(rng, {k: v for k, v in sets.items() if k != 'T=3 tiny'}, sizes, lambda st, alpha=alpha: (cagrad(st['grads'], alpha), ones(len(st['grads']))), options={'alpha': alpha}):
            c['name'] = f'{c["name"]}, alpha={alpha}'
            cases.append(c)
    write(out, 'cagrad', cases, 'T x (g0 + lambda g_w)/(1 + alpha^2)')

    # ---- IMTL-G
    write(out, 'imtl-g', single_step_cases(rng, sets, sizes, lambda st: (imtl_g(st['grads']), ones(len(st['grads'])))), 'T x IMTL-G combination')

    # ---- Aligned-MTL
    cases = []
    for mode in ['min', 'median', 'rmse']:
        for c in single_step_cases(rng, sets, sizes, lambda st, mode=mode: (aligned_mtl(st['grads'], mode), ones(len(st['grads']))), options={} if mode == 'min' else {'scale_mode': mode}):
            c['name'] = f'{c["name"]}, {mode}'
            cases.append(c)
    write(out, 'aligned-mtl', cases, 'sum of aligned gradients')

    # ---- UPGrad, DualProj
    write(out, 'upgrad', single_step_cases(rng, sets, sizes, lambda st: (upgrad(st['grads']), ones(len(st['grads'])))), 'T x UPGrad (TorchJD, mean preference)')
    write(out, 'dualproj', single_step_cases(rng, sets, sizes, lambda st: (dualproj(st['grads']), ones(len(st['grads'])))), 'T x DualProj (TorchJD, mean preference)')

    # ---- Nash-MTL (stateful: previous alpha when there is no solution; update_weights_every)
    def nash_cases(method, p_of, scale_T, heads_alpha, init):
        cases = []
        configs = [
            ('single steps', None, {}),
            ('T=3 sequence with an opposite step', 3, {}),
            ('T=3 sequence, no clipping', 3, {'max_norm': 0}),
        ]
        if method == 'nash-mtl':
            configs.append(('T=3 sequence, update every 2', 3, {'update_weights_every': 2}))
        else:
            configs += [('T=3 sequence, alpha=2', 3, {'alpha': 2.0}), ('T=5 sequence, alpha=0.5', 5, {'alpha': 0.5})]
        for label, T, opts in configs:
            p = p_of(opts)
            max_norm = opts.get('max_norm', 1.0)
            every = opts.get('update_weights_every', 1)
            if T is None:
                # every gradient set as its own one-step case
                for name, grads in sets.items():
                    Tn = grads.shape[0]
                    st = {'epoch': 0, 'grads': grads.tolist(), 'losses': losses_for(rng, Tn)}
                    a = power_solution(grads, p)
                    a = init(Tn) if a is None else a
                    coef = a * (Tn if scale_T else 1)
                    st['expected'] = {'update': clip((coef @ J_of(grads)).tolist(), max_norm), 'taskSpecific': a.tolist() if heads_alpha else ones(Tn)}
                    cases.append({'name': name, 'T': Tn, 'layers': sizes, 'options': opts, 'steps': [st]})
                continue
            steps = sequence(rng, T, d, 5)
            a0 = np.array(steps[1]['grads'][0])
            steps[2]['grads'] = [a0.tolist(), (-0.5 * a0).tolist(), np.zeros(d).tolist()][:T] if T == 3 else steps[2]['grads']
            prev = init(T)
            for k, st in enumerate(steps):
                st['epoch'] = 0
                if k % every == 0:
                    a = power_solution(np.array(st['grads']), p)
                    prev = prev if a is None else a
                coef = prev * (T if scale_T else 1)
                st['expected'] = {'update': clip((coef @ J_of(st['grads'])).tolist(), max_norm), 'taskSpecific': prev.tolist() if heads_alpha else ones(T)}
            cases.append({'name': label, 'T': T, 'layers': sizes, 'options': opts, 'steps': steps})
        return cases

    write(out, 'nash-mtl', nash_cases('nash-mtl', lambda o: 1.0, False, True, lambda T: torch.ones(T)), 'G alpha = 1/alpha, clipped to max_norm; previous alpha when unsolvable')
    write(out, 'fairgrad', nash_cases('fairgrad', lambda o: o.get('alpha', 1.0), True, False, lambda T: torch.full((T,), 1.0 / T)), 'T x w with G w = w^(-1/alpha), clipped; previous w when unsolvable')

    # ---- GradVac (per layer and whole trunk, stateful EMA targets)
    cases = []
    for T, opts in [(2, {}), (3, {}), (5, {}), (3, {'beta': 0.5}), (3, {'group': 'whole', 'beta': 0.5})]:
        steps = sequence(rng, T, d, 5)
        gv = GradVac(T, sizes, opts.get('beta', 0.01), opts.get('group') == 'whole')
        for st in steps:
            st['epoch'] = 0
            st['permutations'] = perms_for(rng, T)
            st['expected'] = {'update': gv.step(st['grads'], st['permutations']), 'taskSpecific': ones(T)}
        cases.append({'name': f'T={T} sequence {json.dumps(opts)}', 'T': T, 'layers': sizes, 'options': opts, 'steps': steps})
    for c in single_step_cases(rng, sets, sizes, lambda st: (GradVac(len(st['grads']), sizes, 0.01, False).step(st['grads'], st['permutations']), ones(len(st['grads']))), needs_perms=True):
        cases.append(c)
    write(out, 'gradvac', cases, 'sum of vaccinated gradients, per layer group')


if __name__ == '__main__':
    main()
