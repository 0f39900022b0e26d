import { float } from '../../onnx/builder.js';
import type { DType } from '../../onnx/dtype.js';
import type { Emitter } from '../emitter.js';
import { broadcastShapes } from '../emitter.js';
import type { GradientRule, InputGradients } from '../types.js';
import { gradDType, numel, scalarOf, zerosOf } from './emit-util.js';

/**
 * alpha·op(a)·op(b) for 2-D operands. Gemm without C exists from opset 11; before that, explicit
 * Transposes and a MatMul.
 */
function matmul2d(e: Emitter, a: string, b: string, transA: boolean, transB: boolean, alpha: number, dtype: DType): string {
  if (e.opset >= 11) {
    return e.op1('Gemm', [a, b], { transA: transA ? 1 : 0, transB: transB ? 1 : 0, alpha: alpha === 1 ? undefined : float(alpha) });
  }
  const y = e.op1('MatMul', [transA ? e.transpose(a, [1, 0]) : a, transB ? e.transpose(b, [1, 0]) : b]);
  return alpha === 1 ? y : e.mul(y, scalarOf(e, alpha, dtype));
}

/**
 * Gemm: Y = α·op(A)·op(B) + β·C. With A' = op(A), B' = op(B): dA' = α·dY·B'ᵀ and dB' = α·A'ᵀ·dY,
 * transposed back when the operand was transposed; dC = β·dY summed over C's broadcast axes.
 */
export const gemmRule: GradientRule = {
  opTypes: ['Gemm'],
  differentiableInputs: (node) => (node.inputs[2] ? [0, 1, 2] : [0, 1]),
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const [a, b, c] = node.inputs as [string, string, string | undefined];
    const dY = ctx.outputGrad(0)!;
    const dtype = gradDType(ctx);
    const alpha = node.attrs.float('alpha', 1);
    const beta = node.attrs.float('beta', 1);
    const tA = node.attrs.int('transA', 0) === 1;
    const tB = node.attrs.int('transB', 0) === 1;
    const grads: InputGradients = {};
    if (ctx.needsGrad(0)) {
      // A [M,K]: dY·B'ᵀ. A [K,M] (transA): B'·dYᵀ.
      grads[0] = tA ? matmul2d(e, b, dY, tB, true, alpha, dtype) : matmul2d(e, dY, b, false, !tB, alpha, dtype);
    }
    if (ctx.needsGrad(1)) {
      // B [K,N]: A'ᵀ·dY. B [N,K] (transB): dYᵀ·A'.
      grads[1] = tB ? matmul2d(e, dY, a, true, tA, alpha, dtype) : matmul2d(e, a, dY, !tA, false, alpha, dtype);
    }
    if (c && ctx.needsGrad(2)) {
      const scaled = beta === 1 ? dY : e.mul(dY, scalarOf(e, beta, dtype));
      grads[2] = e.reduceToShape(scaled, ctx.shape(node.outputs[0]!), ctx.shape(c));
    }
    return grads;
  },
};

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return perm;
}

/**
 * MatMul with numpy semantics: 1-D operands are promoted ([K] → [1,K] on the left, [K,1] on the
 * right) and batch dims broadcast. dA = dY·Bᵀ and dB = Aᵀ·dY, summed over A's (B's) broadcast
 * batch axes. When one side has no batch dims (the usual linear layer), its gradient is a single
 * 2-D product over the folded batch instead of a batched product followed by a ReduceSum, so no
 * [batch, K, N] intermediate is materialised.
 */
export const matmulRule: GradientRule = {
  opTypes: ['MatMul'],
  differentiableInputs: () => [0, 1],
  backward(ctx) {
    const e = ctx.emit;
    const [a, b] = ctx.node.inputs as [string, string];
    const dY = ctx.outputGrad(0)!;
    const dtype = gradDType(ctx);
    const aShape = ctx.shape(a);
    const bShape = ctx.shape(b);
    const a1 = aShape.length === 1;
    const b1 = bShape.length === 1;
    const aP = a1 ? [1, aShape[0]!] : aShape;
    const bP = b1 ? [bShape[0]!, 1] : bShape;
    const M = aP[aP.length - 2]!;
    const K = aP[aP.length - 1]!;
    const N = bP[bP.length - 1]!;
    const batch = broadcastShapes(aP.slice(0, -2), bP.slice(0, -2));
    const P = numel(batch);
    const outP = [...batch, M, N];
    const grads: InputGradients = {};
    if (numel(outP) === 0 || K === 0) {
      // Empty product: every input gradient is zero (and empty shapes cannot be reshaped through).
      if (ctx.needsGrad(0)) grads[0] = zerosOf(e, aShape, dtype);
      if (ctx.needsGrad(1)) grads[1] = zerosOf(e, bShape, dtype);
      return grads;
    }
    const dYp = a1 || b1 ? e.reshape(dY, outP) : dY;
    const r = outP.length;
    if (ctx.needsGrad(0)) {
      let dA: string;
      if (aP.length === 2 && batch.length > 0) {
        // A is shared across the batch: dA[M,K] = Σ_batch dY_b·B_bᵀ as one [M,P·N]×[P·N,K] product.
        const moveRowsFirst = [r - 2, ...Array.from({ length: r - 2 }, (_, i) => i), r - 1];
        const dYr = e.reshape(e.transpose(dYp, moveRowsFirst), [M, P * N]);
        const bR = e.reshape(e.transpose(b, moveRowsFirst), [K, P * N]);
        dA = matmul2d(e, dYr, bR, false, true, 1, dtype);
      } else {
        const bT = b1 ? e.reshape(b, [1, K]) : e.transpose(b, swapLastTwo(bP.length));
        const full = e.op1('MatMul', [dYp, bT]);
        dA = e.reduceToShape(full, [...batch, M, K], aP);
      }
      grads[0] = a1 ? e.reshape(dA, aShape) : dA;
    }
    if (ctx.needsGrad(1)) {
      let dB: string;
      if (bP.length === 2 && batch.length > 0) {
        // B is shared across the batch: dB[K,N] = Aᵀ·dY with the batch folded into the rows.
        dB = matmul2d(e, e.reshape(a, [P * M, K]), e.reshape(dYp, [P * M, N]), true, false, 1, dtype);
      } else {
        const aT = a1 ? e.reshape(a, [K, 1]) : e.transpose(a, swapLastTwo(aP.length));
        const full = e.op1('MatMul', [aT, dYp]);
        dB = e.reduceToShape(full, [...batch, K, N], bP);
      }
      grads[1] = b1 ? e.reshape(dB, bShape) : dB;
    }
    return grads;
  },
};

export const matmulRules: readonly GradientRule[] = [gemmRule, matmulRule];
