import { describe, expect, it } from 'vitest';
import { parseTaskSpec } from '../../src/analysis/task-spec.js';
import { analyzeModel } from '../../src/analysis/analyze.js';
import { inferShapes } from '../../src/analysis/shapes.js';
import { CostModel, reconRewrite } from '../../src/rewrite/recon.js';
import { countMacs } from '../../src/rewrite/cost.js';
import { carryShapes } from '../../src/rewrite/rewrite.js';
import { selectLayers } from '../../src/rewrite/select.js';
import { verify } from '../../src/rewrite/verify.js';
import { Random } from '../../src/util/random.js';
import { referenceModel } from '../../models/reference-models.js';
import { cloneModel } from '../../src/autodiff/gradient-graph.js';

const TASKS = parseTaskSpec({ tasks: [{ name: 'T1' }, { name: 'T2' }] }, 'test');
const RECON_MNIST_25 = [
  'bn1',
  'layer1.0.bn1',
  'layer1.1.bn1',
  'layer1.0.bn2',
  'layer1.1.bn2',
  'layer2.0.bn1',
  'layer2.1.bn1',
  'conv1',
  'layer2.0.downsample.1',
  'layer2.0.bn2',
  'layer2.1.bn2',
  'layer1.0.conv1',
  'layer3.0.bn1',
  'layer3.1.bn1',
  'layer4.1.bn1',
  'layer4.0.bn1',
  'layer3.0.downsample.1',
  'layer3.0.bn2',
  'layer4.1.bn2',
  'layer3.1.bn2',
  'layer4.0.bn2',
  'layer4.0.downsample.1',
  'layer1.0.conv2',
  'layer1.1.conv1',
  'layer1.1.conv2',
];

/** MACs per image of the MNIST ResNet-18, by hand: conv k×k×Cin×Cout×Hout×Wout, linear in×out. */
function handMacs(): { total: number } {
  const conv = (k: number, cin: number, cout: number, hw: number) => k * k * cin * cout * hw * hw;
  let total = conv(7, 1, 64, 18);
  const stages: [number, number, number][] = [
    [64, 64, 9],
    [64, 128, 5],
    [128, 256, 3],
    [256, 512, 2],
  ];
  for (const [cin, cout, hw] of stages) {
    total += conv(3, cin, cout, hw) + conv(3, cout, cout, hw); // block 0
    if (cin !== cout) total += conv(1, cin, cout, hw); // downsample
    total += 2 * conv(3, cout, cout, hw); // block 1
  }
  total += 512 * 100;
  return { total: total + 2 * 100 * 10 };
}

describe('Recon rewrite by layer name', () => {
  it("Recon's 25-layer Multi-Fashion+MNIST selection: 11,383,752 parameters (+1.43%) and the hand-computed MACs", async () => {
    const model = referenceModel('resnet18').build({ opset: 17 });
    const r = await reconRewrite(model, TASKS, RECON_MNIST_25);
    expect(r.cost.paramsBefore).toBe(11_223_560);
    expect(r.cost.paramsAfter).toBe(11_383_752);
    expect(r.cost.paramIncreasePct).toBeCloseTo(1.427, 3);
    const { total } = handMacs();
    expect(r.cost.macsBefore).toBe(total);
    // conv1 is branched, so the whole trunk runs twice; the heads ran once per task already.
    expect(r.cost.macsAfter).toBe(2 * (total - 2000) + 2000);
    expect(r.cost.macsBefore).toBe(78_549_200);
    // The analytic cost equals the MACs measured on the rewritten graph.
    const shapes = await inferShapes(model, { batchSize: 1 });
    const carried = carryShapes(new Map([...shapes.values].map(([k, v]) => [k, v.dims])), r.summary);
    expect(countMacs(r.model.graph, carried)).toBe(r.cost.macsAfter);
    expect((await verify(model, r.model)).ok).toBe(true);
  });

  it('the analytic cost model matches the rewritten graphs for random selections', async () => {
    const model = referenceModel('encdec').build({ opset: 17 });
    const tasks = parseTaskSpec({ tasks: [{ name: 'seg' }, { name: 'depth', loss: 'l1' }] }, 't');
    const analysis = analyzeModel(model, tasks);
    const costs = await CostModel.create(model, analysis);
    const shapes = await inferShapes(model, { batchSize: 1 });
    const dims = new Map([...shapes.values].map(([k, v]) => [k, v.dims]));
    const rng = new Random(3);
    for (let trial = 0; trial < 5; trial++) {
      const chosen = analysis.sharedLayers.filter(() => rng.uniform() < 0.3).map((l) => l.name);
      if (chosen.length === 0) continue;
      const r = await reconRewrite(model, tasks, chosen, { analysis });
      expect(countMacs(r.model.graph, carryShapes(dims, r.summary))).toBe(costs.cost(chosen).macsAfter);
      const after = analyzeModel(r.model, tasks);
      const params = [...after.paramTasks.keys()].reduce((n, p) => n + r.model.graph.initializers.get(p)!.numel, 0);
      expect(params).toBe(costs.cost(chosen).paramsAfter);
    }
  });

  it('a layer list made on the opset-17 build applies to the opset-13 build', async () => {
    const op17 = analyzeModel(referenceModel('transformer').build({ opset: 17 }), TASKS);
    const op13 = referenceModel('transformer').build({ opset: 13 });
    const chosen = op17.sharedLayers.slice(0, 6).map((l) => l.name);
    expect(chosen).toContain('layers.0.norm1');
    const r = await reconRewrite(op13, TASKS, chosen);
    expect(r.layers).toEqual(chosen);
    expect((await verify(op13, r.model, { tolerance: 1e-5 })).ok).toBe(true);
  });

  it('budgets pick greedily in score order and never exceed the budget', async () => {
    const model = referenceModel('resnet18').build({ opset: 17 });
    const analysis = analyzeModel(model, TASKS);
    const costs = await CostModel.create(model, analysis);
    const rng = new Random(4);
    const ranked = analysis.sharedLayers.map((l) => ({ name: l.name, score: rng.int(100), params: l.numel }));
    const pick = selectLayers(ranked, { maxParamIncreasePct: 2 }, (n) => costs.cost(n));
    expect(pick.layers.length).toBeGreaterThan(0);
    expect(costs.cost(pick.layers).paramIncreasePct).toBeLessThanOrEqual(2);
    const flops = selectLayers(ranked, { maxMacIncreasePct: 10 }, (n) => costs.cost(n));
    expect(costs.cost(flops.layers).macIncreasePct).toBeLessThanOrEqual(10);
    expect(flops.layers).not.toContain('conv1');
  });
});

describe('rewrites of models with BatchNormalization in training mode', () => {
  // onnxruntime's optimizer folds Conv into a following training-mode BN as if it were in
  // inference mode, which once made `rewrite --layers conv1` of cnn_trainbn fail its verification.
  it('verification runs training-mode BN with batch statistics: the same model in inference mode differs', async () => {
    const model = referenceModel('cnn_trainbn').build({ opset: 17 });
    const inference = inferenceModeCopy(model);
    const result = await verify(model, inference);
    expect(result.ok).toBe(false);
    expect((await verify(model, model)).ok).toBe(true);
  });

  for (const opset of [13, 17]) {
    it(`every shared layer of cnn_trainbn (opset ${opset}) rewritten alone verifies`, async () => {
      const model = referenceModel('cnn_trainbn').build({ opset });
      const analysis = analyzeModel(model, TASKS);
      expect(analysis.sharedLayers.map((l) => l.name)).toContain('conv1');
      for (const layer of analysis.sharedLayers) {
        const r = await reconRewrite(model, TASKS, [layer.name], { analysis });
        const result = await verify(model, r.model, { tolerance: 1e-5 });
        expect(result.ok, `${layer.name}: ${result.worst.output} differs by ${result.worst.maxRel}`).toBe(true);
      }
    });
  }
});

/** A copy of the model whose BatchNormalization nodes use their running statistics. */
function inferenceModeCopy(model: ReturnType<ReturnType<typeof referenceModel>['build']>) {
  const copy = cloneModel(model);
  for (const n of copy.graph.nodes) {
    if (n.opType !== 'BatchNormalization') continue;
    n.removeAttr('training_mode');
    n.outputs = n.outputs.slice(0, 1);
  }
  return copy;
}
