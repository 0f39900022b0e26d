import type { DType } from '../../onnx/dtype.js';
import { dtypeCode } from '../../onnx/dtype.js';
import { ReconError } from '../../util/errors.js';
import { Tensor } from '../../onnx/tensor.js';
import type { Emitter } from '../emitter.js';
import type { GradientRule, InputGradients } from '../types.js';
import { gradDType, zerosOf } from './emit-util.js';

/**
 * Einsum. Its gradient with respect to one operand is again an Einsum: dY contracted with the
 * other operands, written to that operand's subscripts. Three things keep that from being a
 * plain swap of subscripts, since an Einsum output can neither repeat a label nor introduce one:
 * - a label repeated in the operand (a diagonal, "ii->i"): each repeat gets a fresh label tied to
 *   the first by an identity matrix operand, so the gradient lands on the diagonal only;
 * - a label only this operand has (summed out in the forward, "ij->i"): a ones vector operand
 *   with that label broadcasts the gradient along it;
 * - broadcasting (ellipsis dims, or any label of size 1 against a larger size, which onnxruntime
 *   also broadcasts): the size-1 occurrence gets a label of its own, summed out like the above.
 * Ellipses are replaced by explicit labels first, so every emitted equation is explicit and free
 * of ellipses.
 */

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** An Einsum equation with explicit labels only: one label per axis of each operand and the output. */
export interface CanonicalEinsum {
  inputs: string[][];
  output: string[];
  /** Size of every label (broadcast occurrences of size 1 carry labels of their own). */
  sizes: Map<string, number>;
  /** Labels in use, for picking fresh ones. */
  used: Set<string>;
}

/**
 * Rewrites `equation` for operands of the given shapes into explicit, ellipsis-free form with
 * consistent label sizes. `where` names the node in errors.
 */
export function canonicalEinsum(equation: string, shapes: readonly (readonly number[])[], where: string): CanonicalEinsum {
  const fail = (why: string): never => {
    throw new ReconError(`${where}: Einsum equation "${equation}" ${why}`);
  };
  const eq = equation.replace(/\s+/g, '');
  const sides = eq.split('->');
  if (sides.length > 2) fail('has more than one "->"');
  const [lhs, rhs] = sides as [string, string | undefined];
  const terms = lhs.split(',');
  if (terms.length !== shapes.length) fail(`has ${terms.length} operand term(s) for ${shapes.length} input(s)`);
  const term = /^([a-zA-Z]*)(\.\.\.)?([a-zA-Z]*)$/;
  const used = new Set<string>(eq.replace(/[^a-zA-Z]/g, ''));
  const fresh = (): string => {
    for (const c of LETTERS) {
      if (!used.has(c)) {
        used.add(c);
        return c;
      }
    }
    return fail('needs more than 52 subscript labels once ellipses, broadcasts and diagonals are spelled out');
  };

  // Ellipsis ranks, then one shared run of labels for the broadcast dims (right-aligned).
  const parts = terms.map((t, i) => {
    const m = term.exec(t) ?? fail(`has an operand term "${t}" that is not labels with at most one "..."`);
    const [before, ellipsis, after] = [m[1]!, m[2] !== undefined, m[3]!];
    const rank = shapes[i]!.length;
    const ellipsisRank = rank - before.length - after.length;
    if (ellipsisRank < 0 || (!ellipsis && ellipsisRank !== 0)) fail(`labels operand ${i} with ${before.length + after.length} axes, but it has rank ${rank}`);
    return { before: [...before], after: [...after], ellipsisRank: ellipsis ? ellipsisRank : 0 };
  });
  const broadcastRank = Math.max(0, ...parts.map((p) => p.ellipsisRank));
  const ellipsisLabels = Array.from({ length: broadcastRank }, fresh);
  const inputs = parts.map((p) => [...p.before, ...ellipsisLabels.slice(broadcastRank - p.ellipsisRank), ...p.after]);

  let output: string[];
  if (rhs !== undefined) {
    const m = term.exec(rhs) ?? fail(`has an output term "${rhs}" that is not labels with at most one "..."`);
    output = [...m[1]!, ...(m[2] !== undefined ? ellipsisLabels : []), ...m[3]!];
  } else {
    // Implicit output (numpy): the broadcast dims, then the labels used exactly once, sorted.
    const counts = new Map<string, number>();
    for (const p of parts) for (const c of [...p.before, ...p.after]) counts.set(c, (counts.get(c) ?? 0) + 1);
    output = [
      ...ellipsisLabels,
      ...[...counts]
        .filter(([, n]) => n === 1)
        .map(([c]) => c)
        .sort(),
    ];
  }

  // Label sizes; a size-1 occurrence against a larger size is a broadcast: relabel it.
  const sizes = new Map<string, number>();
  inputs.forEach((labels, i) => labels.forEach((c, a) => sizes.set(c, Math.max(sizes.get(c) ?? 1, shapes[i]![a]!))));
  inputs.forEach((labels, i) => {
    const renamed = new Map<string, string>();
    labels.forEach((c, a) => {
      const d = shapes[i]![a]!;
      const size = sizes.get(c)!;
      if (d === size) return;
      if (d !== 1) fail(`gives label "${c}" sizes ${d} and ${size}`);
      let r = renamed.get(c);
      if (r === undefined) {
        renamed.set(c, (r = fresh()));
        sizes.set(r, 1);
      }
      labels[a] = r;
    });
  });
  for (const c of output) if (!sizes.has(c)) fail(`has output label "${c}" that no operand has`);
  return { inputs, output, sizes, used };
}

/** A constant-filled tensor of a static shape, via ConstantOfShape (no large initializer). */
function onesOf(e: Emitter, shape: readonly number[], dtype: DType): string {
  if (dtype === 'float32' || dtype === 'float64') {
    const value = dtype === 'float32' ? Tensor.fromArray('', 'float32', [1], Float32Array.of(1)) : Tensor.fromArray('', 'float64', [1], Float64Array.of(1));
    return e.op1('ConstantOfShape', [e.int64s(shape)], { value });
  }
  return e.op1('Cast', [onesOf(e, shape, 'float32')], { to: dtypeCode(dtype) });
}

export const einsumRule: GradientRule = {
  opTypes: ['Einsum'],
  differentiableInputs: (node) => node.inputs.map((_, i) => i),
  backward(ctx) {
    const e = ctx.emit;
    const node = ctx.node;
    const dY = ctx.outputGrad(0)!;
    const dtype = gradDType(ctx);
    const equation = node.attrs.string('equation') ?? '';
    const shapes = node.inputs.map((v) => ctx.shape(v));
    const canon = canonicalEinsum(equation, shapes, node.label);
    const grads: InputGradients = {};
    node.inputs.forEach((_, i) => {
      if (!ctx.needsGrad(i)) return;
      const used = new Set(canon.used);
      const fresh = (): string => {
        const c = [...LETTERS].find((l) => !used.has(l));
        if (c === undefined) throw new ReconError(`${node.label}: the gradient of Einsum "${equation}" for input ${i} needs more than 52 subscript labels`);
        used.add(c);
        return c;
      };
      // The operand's labels, each repeat of a label replaced by a fresh one tied to it by an identity.
      const target: string[] = [];
      const ties: [string, string][] = [];
      const seen = new Set<string>();
      for (const c of canon.inputs[i]!) {
        if (!seen.has(c)) {
          seen.add(c);
          target.push(c);
        } else {
          const r = fresh();
          ties.push([c, r]);
          target.push(r);
        }
      }
      const terms: string[] = [canon.output.join('')];
      const operands: string[] = [dY];
      canon.inputs.forEach((labels, j) => {
        if (j === i) return;
        terms.push(labels.join(''));
        operands.push(node.inputs[j]!);
      });
      for (const [c, r] of ties) {
        const n = canon.sizes.get(c)!;
        terms.push(c + r);
        operands.push(e.op1('EyeLike', [zerosOf(e, [n, n], dtype)]));
      }
      const elsewhere = new Set(terms.join(''));
      for (const c of seen) {
        if (elsewhere.has(c)) continue;
        terms.push(c);
        operands.push(onesOf(e, [canon.sizes.get(c)!], dtype));
      }
      grads[i] = e.op1('Einsum', operands, { equation: `${terms.join(',')}->${target.join('')}` });
    });
    return grads;
  },
};

export const einsumRules: readonly GradientRule[] = [einsumRule];
