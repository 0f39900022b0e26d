import { float, GraphBuilder, Tensor, type AttrInput, type Dim, type Model, type NumericDType, type TypedArrayByDType } from '../src/onnx/index.js';
import { ModuleScope } from './module-scope.js';
import { initValues, kaimingNormalFanOut, pytorchDefaultUniform, transpose2d, type ParamInit } from './param-init.js';

/** Opsets the reference builders emit; forms differ at 14 (BatchNormalization) and 17 (LayerNormalization). */
export const MIN_OPSET = 13;
export const MAX_OPSET = 17;

/** `eval`: one-output BatchNormalization; `training`: PyTorch's training-mode export. */
export type BatchNormForm = 'eval' | 'training';

/** `gemm`: Gemm(transB=1) with a [out, in] weight; `matmul`: MatMul with a [in, out] weight, then Add. */
export type LinearForm = 'gemm' | 'matmul';

export interface ModelBuildOptions {
  opset: number;
  /** Weight seed (default 0); the same seed gives the same weights at every opset. */
  seed?: number;
}

export interface Conv2dSpec {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  padding?: number;
  bias: boolean;
}

export interface Pool2dSpec {
  kernel: number;
  stride: number;
  padding?: number;
}

/** The ONNX BatchNormalization momentum equal to PyTorch's default 0.1. */
const BN_MOMENTUM = 0.9;
const BN_EPSILON = 1e-5;

/**
 * Emits the nodes and initializers a PyTorch export of common layers produces, named after a
 * module tree. Every parameter is initialised from (seed, name), so weights do not depend on the
 * opset or on the order layers are added.
 */
export class NetBuilder {
  readonly graph = new GraphBuilder();
  readonly opset: number;
  readonly seed: number;
  readonly batchNormForm: BatchNormForm;
  readonly root = ModuleScope.root();
  private readonly callCounts = new Map<string, number>();

  constructor(options: ModelBuildOptions & { batchNorm?: BatchNormForm }) {
    if (!Number.isInteger(options.opset) || options.opset < MIN_OPSET || options.opset > MAX_OPSET) {
      throw new RangeError(`reference models are written at opsets ${MIN_OPSET}..${MAX_OPSET}, not ${options.opset}`);
    }
    this.opset = options.opset;
    this.seed = options.seed ?? 0;
    this.batchNormForm = options.batchNorm ?? 'eval';
  }

  input(name: string, dtype: 'float32' | 'int64', dims: readonly Dim[]): string {
    return this.graph.input(name, dtype, dims);
  }

  /** Makes `value` a graph output called `name` by renaming it at its producer, as exporters do. */
  output(value: string, name: string, dims: readonly Dim[]): string {
    if (this.graph.name(name) !== name) throw new Error(`output name "${name}" is already taken`);
    const producer = this.graph.graph.nodes.find((n) => n.outputs.includes(value));
    if (!producer) throw new Error(`no node produces "${value}"`);
    producer.outputs = producer.outputs.map((o) => (o === value ? name : o));
    return this.graph.output(name, 'float32', dims);
  }

  model(): Model {
    return this.graph.model(this.opset, { irVersion: this.opset >= 14 ? 8 : 7, producerName: 'recon-onnx-models' });
  }

  /** A float32 initializer owned by `scope` (a parameter or a buffer). */
  parameter(scope: ModuleScope, name: string, dims: readonly number[], init: ParamInit): string {
    const full = scope.param(name);
    const count = dims.reduce((a, b) => a * b, 1);
    return this.graph.initializer(full, 'float32', dims, initValues(this.seed, full, count, init));
  }

  /**
   * Registers one call of a module and returns the scope its nodes are named in: PyTorch names a
   * module's second call `relu_1`, its third `relu_2`, ...
   */
  call(scope: ModuleScope): ModuleScope {
    const n = this.callCounts.get(scope.qualifiedName) ?? 0;
    this.callCounts.set(scope.qualifiedName, n + 1);
    return scope.repeatedCall(n);
  }

  /** One node named `<scope>/<opType>` with outputs `<node name>_output_<i>`. */
  node(scope: ModuleScope, opType: string, inputs: readonly string[], attrs: Record<string, AttrInput | undefined> = {}, outputCount = 1): string[] {
    this.graph.op(opType, inputs, attrs, { name: scope.nodeName(opType), outputCount });
    // The builder picks the collision-free node name; only then can outputs be named after it.
    const node = this.graph.graph.nodes[this.graph.graph.nodes.length - 1]!;
    node.outputs = node.outputs.map((_, i) => this.graph.name(`${node.name}_output_${i}`));
    return node.outputs;
  }

  node1(scope: ModuleScope, opType: string, inputs: readonly string[], attrs: Record<string, AttrInput | undefined> = {}): string {
    return this.node(scope, opType, inputs, attrs)[0]!;
  }

  /** A Constant node (exporters keep scalars and shapes as nodes, so initializers stay parameters). */
  constant<D extends NumericDType>(scope: ModuleScope, dtype: D, dims: readonly number[], data: TypedArrayByDType[D]): string {
    return this.node1(scope, 'Constant', [], { value: Tensor.fromArray('', dtype, dims, data) });
  }

  scalar(scope: ModuleScope, value: number): string {
    return this.constant(scope, 'float32', [], Float32Array.of(value));
  }

  int64s(scope: ModuleScope, values: readonly number[]): string {
    return this.constant(
      scope,
      'int64',
      [values.length],
      BigInt64Array.from(values, (v) => BigInt(v)),
    );
  }

  /** nn.Conv2d; the weight gets torchvision's Kaiming-normal (fan_out) init, the bias PyTorch's default. */
  conv2d(x: string, module: ModuleScope, spec: Conv2dSpec): string {
    const { inChannels, outChannels, kernel, bias } = spec;
    const stride = spec.stride ?? 1;
    const padding = spec.padding ?? 0;
    const weight = this.parameter(module, 'weight', [outChannels, inChannels, kernel, kernel], kaimingNormalFanOut(outChannels, kernel * kernel));
    const inputs = [x, weight];
    if (bias) inputs.push(this.parameter(module, 'bias', [outChannels], pytorchDefaultUniform(inChannels * kernel * kernel)));
    return this.node1(this.call(module), 'Conv', inputs, {
      dilations: [1, 1],
      group: 1,
      kernel_shape: [kernel, kernel],
      pads: [padding, padding, padding, padding],
      strides: [stride, stride],
    });
  }

  /** nn.BatchNorm2d with γ=1, β=0 and fresh running statistics (mean 0, var 1). */
  batchNorm2d(x: string, module: ModuleScope, channels: number): string {
    const inputs = [
      x,
      this.parameter(module, 'weight', [channels], { kind: 'constant', value: 1 }),
      this.parameter(module, 'bias', [channels], { kind: 'constant', value: 0 }),
      this.parameter(module, 'running_mean', [channels], { kind: 'constant', value: 0 }),
      this.parameter(module, 'running_var', [channels], { kind: 'constant', value: 1 }),
    ];
    const scope = this.call(module);
    const attrs: Record<string, AttrInput> = { epsilon: float(BN_EPSILON), momentum: float(BN_MOMENTUM) };
    if (this.batchNormForm === 'eval') return this.node1(scope, 'BatchNormalization', inputs, attrs);
    // Opset 13 marks training by its optional outputs (saved mean/var dangle); 14+ has an attribute.
    if (this.opset < 14) return this.node(scope, 'BatchNormalization', inputs, attrs, 5)[0]!;
    return this.node(scope, 'BatchNormalization', inputs, { ...attrs, training_mode: 1 }, 3)[0]!;
  }

  /** nn.Linear (PyTorch default init). Both forms hold the same values; `matmul` stores them transposed. */
  linear(x: string, module: ModuleScope, inFeatures: number, outFeatures: number, form: LinearForm = 'gemm'): string {
    const weightName = module.param('weight');
    const torchLayout = initValues(this.seed, weightName, outFeatures * inFeatures, pytorchDefaultUniform(inFeatures));
    const scope = this.call(module);
    if (form === 'gemm') {
      const weight = this.graph.initializer(weightName, 'float32', [outFeatures, inFeatures], torchLayout);
      const bias = this.parameter(module, 'bias', [outFeatures], pytorchDefaultUniform(inFeatures));
      return this.node1(scope, 'Gemm', [x, weight, bias], { alpha: float(1), beta: float(1), transB: 1 });
    }
    const weight = this.graph.initializer(weightName, 'float32', [inFeatures, outFeatures], transpose2d(torchLayout, outFeatures, inFeatures));
    const bias = this.parameter(module, 'bias', [outFeatures], pytorchDefaultUniform(inFeatures));
    const product = this.node1(scope, 'MatMul', [x, weight]);
    return this.node1(scope, 'Add', [bias, product]);
  }

  relu(x: string, module: ModuleScope): string {
    return this.node1(this.call(module), 'Relu', [x]);
  }

  maxPool2d(x: string, module: ModuleScope, spec: Pool2dSpec): string {
    const padding = spec.padding ?? 0;
    return this.node1(this.call(module), 'MaxPool', [x], {
      ceil_mode: 0,
      kernel_shape: [spec.kernel, spec.kernel],
      pads: [padding, padding, padding, padding],
      strides: [spec.stride, spec.stride],
    });
  }

  /** nn.AdaptiveAvgPool2d(1). */
  globalAveragePool(x: string, module: ModuleScope): string {
    return this.node1(this.call(module), 'GlobalAveragePool', [x]);
  }

  /** torch.flatten(x, 1) called in `scope`'s forward. */
  flatten(x: string, scope: ModuleScope): string {
    return this.node1(scope, 'Flatten', [x], { axis: 1 });
  }

  add(a: string, b: string, scope: ModuleScope): string {
    return this.node1(scope, 'Add', [a, b]);
  }

  concat(values: readonly string[], axis: number, scope: ModuleScope): string {
    return this.node1(scope, 'Concat', values, { axis });
  }
}
