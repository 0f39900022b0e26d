import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder, loadModel, proto, saveModel, serializeModel, Tensor, type Model } from '../../src/onnx/index.js';
import { REFERENCE_MODELS, REFERENCE_OPSETS } from '../../models/reference-models.js';

const dir = mkdtempSync(join(tmpdir(), 'recon-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every field the schema knows, as plain data (int64 as strings, bytes as base64). */
function asObject(bytes: Uint8Array): unknown {
  return proto.ModelProto.toObject(proto.ModelProto.decode(bytes), { longs: String, bytes: String, defaults: false });
}

function tensorsOf(m: Model): Map<string, string> {
  return new Map([...m.graph.initializers].map(([k, t]) => [k, `${t.dtype}[${t.dims.join(',')}]:${Buffer.from(t.rawBytes()).toString('base64')}`]));
}

describe('load → save → load', () => {
  for (const ref of REFERENCE_MODELS) {
    for (const opset of REFERENCE_OPSETS) {
      it(`${ref.name} at opset ${opset} round-trips without loss`, () => {
        const original = serializeModel(ref.build({ opset }));
        const path = join(dir, `${ref.name}_${opset}.onnx`);
        writeFileSync(path, original);
        const loaded = loadModel(path);
        const out = join(dir, `${ref.name}_${opset}.copy.onnx`);
        saveModel(loaded, out);
        expect(asObject(readFileSync(out))).toEqual(asObject(original));
        expect(tensorsOf(loadModel(out))).toEqual(tensorsOf(loadModel(path)));
      });
    }
  }

  it('keeps every field the schema knows: metadata, doc strings, value_info, functions, subgraphs, training info', () => {
    const m = proto.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ version: 17 }, { domain: 'custom.fn', version: 1 }],
      producerName: 'hand',
      producerVersion: '1.2',
      domain: 'test.domain',
      modelVersion: 42,
      docString: 'model doc',
      metadataProps: [{ key: 'a', value: 'b' }],
      graph: {
        name: 'g',
        docString: 'graph doc',
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }] } } }, docString: 'in' }],
        output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
        valueInfo: [{ name: 'h', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 3 }] } } } }],
        initializer: [
          { name: 'w', dims: [3], dataType: 1, floatData: [1, 2, 3], docString: 'typed fields, not raw' },
          { name: 'k', dims: [2], dataType: 7, int64Data: [5, -9] },
        ],
        node: [
          { name: 'add', opType: 'Add', input: ['x', 'w'], output: ['h'], docString: 'node doc' },
          {
            name: 'branch',
            opType: 'If',
            input: ['cond'],
            output: ['y'],
            attribute: [
              { name: 'then_branch', type: 6, g: { name: 't', node: [{ opType: 'Identity', input: ['h'], output: ['o'] }], output: [{ name: 'o' }] } },
              { name: 'else_branch', type: 6, g: { name: 'e', node: [{ opType: 'Neg', input: ['h'], output: ['o2'] }], output: [{ name: 'o2' }] } },
            ],
          },
        ],
      },
      functions: [
        {
          name: 'f',
          domain: 'custom.fn',
          input: ['a'],
          output: ['b'],
          node: [{ opType: 'Relu', input: ['a'], output: ['b'] }],
          opsetImport: [{ version: 17 }],
        },
      ],
      trainingInfo: [{ initialization: { name: 'init' }, initializationBinding: [{ key: 'w', value: 'w0' }] }],
    });
    const bytes = proto.ModelProto.encode(m).finish();
    const out = join(dir, 'fields.onnx');
    saveModel(loadModel(bytes), out);
    expect(asObject(readFileSync(out))).toEqual(asObject(bytes));
    expect(loadModel(out).graph.initializers.get('w')!.toNumbers()).toEqual([1, 2, 3]);
    expect(loadModel(out).graph.initializers.get('k')!.toNumbers()).toEqual([5, -9]);
  });
});

describe('external data', () => {
  it('moves tensors above a threshold into one .data file, and reads them back byte-identical', () => {
    const ref = REFERENCE_MODELS.find((r) => r.name === 'cnn')!;
    const model = ref.build({ opset: 17 });
    const path = join(dir, 'ext', 'cnn.onnx');
    rmSync(join(dir, 'ext'), { recursive: true, force: true });
    mkdirSync(join(dir, 'ext'));
    saveModel(model, path, { externalDataThreshold: 256 });
    // The data file is named by the sha256 of its bytes (first 16 hex digits), computed here.
    const files = readdirSync(join(dir, 'ext')).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toBe('cnn.onnx');
    const dataFile = join(dir, 'ext', files[1]!);
    const digest = createHash('sha256').update(readFileSync(dataFile)).digest('hex').slice(0, 16);
    expect(files[1]).toBe(`cnn.onnx.${digest}.data`);
    const loaded = loadModel(path);
    const external = [...loaded.graph.initializers.values()].filter((t) => t.externalSource);
    expect(external.length).toBeGreaterThan(0);
    for (const t of loaded.graph.initializers.values()) expect(t.externalSource !== undefined).toBe(t.byteLength >= 256);
    expect(tensorsOf(loaded)).toEqual(tensorsOf(model));
    // The model file itself stays small: the bytes live in the data file.
    expect(statSync(path).size).toBeLessThan(statSync(dataFile).size);

    // Saving a model loaded with external data elsewhere keeps it external and valid.
    const copy = join(dir, 'ext', 'copy.onnx');
    saveModel(loaded, copy);
    expect(existsSync(`${copy}.${digest}.data`)).toBe(true);
    expect(tensorsOf(loadModel(copy))).toEqual(tensorsOf(model));
    // Overwriting the model it was loaded from (same data file) must not corrupt it.
    saveModel(loadModel(path), path);
    expect(tensorsOf(loadModel(path))).toEqual(tensorsOf(model));
    // Overwriting it with other weights: a new data file, the old one removed after the switch.
    const changed = loadModel(path);
    const first = [...changed.graph.initializers.values()].find((t) => t.byteLength >= 256)!;
    const values = Float32Array.from(first.data('float32'));
    values[0] = values[0]! + 1;
    changed.graph.initializers.set(first.name, Tensor.fromArray(first.name, 'float32', first.dims.slice(), values));
    saveModel(changed, path);
    const after = readdirSync(join(dir, 'ext')).filter((f) => f.startsWith('cnn.onnx.'));
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(files[1]);
    expect(loadModel(path).graph.initializers.get(first.name)!.data('float32')).toEqual(values);
  });

  it('removes the old `<name>.data` only when the model it replaces read it', () => {
    const ref = REFERENCE_MODELS.find((r) => r.name === 'cnn')!;
    const folder = join(dir, 'legacy');
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder);
    // m.onnx in the earlier naming; a.onnx reads b.onnx.data, a name b.onnx would have used.
    saveModel(ref.build({ opset: 17 }), join(folder, 'm.onnx'), { externalDataThreshold: 256, externalDataLocation: 'm.onnx.data' });
    saveModel(ref.build({ opset: 17 }), join(folder, 'a.onnx'), { externalDataThreshold: 256, externalDataLocation: 'b.onnx.data' });
    saveModel(loadModel(join(folder, 'm.onnx')), join(folder, 'm.onnx'), { externalDataThreshold: 256 });
    saveModel(ref.build({ opset: 17 }), join(folder, 'b.onnx')); // inline: it does not read b.onnx.data
    saveModel(ref.build({ opset: 17 }), join(folder, 'b.onnx'), { externalDataThreshold: 256 });
    const files = readdirSync(folder).sort();
    expect(files.filter((f) => f.startsWith('m.onnx.'))).toEqual([expect.stringMatching(/^m\.onnx\.[0-9a-f]{16}\.data$/)]);
    expect(files).toContain('b.onnx.data');
    expect(tensorsOf(loadModel(join(folder, 'a.onnx')))).toEqual(tensorsOf(ref.build({ opset: 17 })));
  });

  it('names the tensor and file when external data is missing or too short', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    b.initializer('big', 'float32', [1024], new Float32Array(1024).fill(1));
    b.output(b.op1('Add', [x, 'big']), 'float32', [1024]);
    const path = join(dir, 'missing.onnx');
    saveModel(b.model(17), path, { externalDataThreshold: 1 });
    const data = [...loadModel(path).graph.initializers.values()][0]!.externalSource!.path;
    rmSync(data);
    expect(() => loadModel(path)).toThrow(/tensor "big": external data file not found: .*missing\.onnx\.[0-9a-f]{16}\.data/);
    writeFileSync(data, new Uint8Array(10));
    expect(() => loadModel(path)).toThrow(/tensor "big": external data .* has 10 bytes, needs offset 0 \+ length 4096/);
  });
});

describe('fields of newer ONNX versions', () => {
  it('are detected and named instead of dropped silently', () => {
    const b = new GraphBuilder();
    b.output(b.op1('Relu', [b.input('x', 'float32', [2])]), 'float32', [2]);
    const bytes = proto.ModelProto.encode(b.model(17).toProto()).finish();
    // Rebuild the NodeProto with an extra field 9 (metadata_props in ONNX ≥ 1.16).
    const decoded = proto.ModelProto.decode(bytes);
    const nodeBytes = proto.NodeProto.encode(decoded.graph!.node![0]!).finish();
    const extra = Uint8Array.from([...nodeBytes, (9 << 3) | 2, 4, 10, 0, 18, 0]);
    decoded.graph!.node = [];
    const graphBytes = proto.GraphProto.encode(decoded.graph!).finish();
    const withNode = Uint8Array.from([...graphBytes, (1 << 3) | 2, extra.length, ...extra]);
    decoded.graph = null;
    const modelBytes = proto.ModelProto.encode(decoded).finish();
    const full = Uint8Array.from([...modelBytes, (7 << 3) | 2, ...varint(withNode.length), ...withNode]);
    const warnings: string[] = [];
    const m = loadModel(full, { onWarning: (w) => warnings.push(w) });
    expect(m.graph.nodes[0]!.opType).toBe('Relu');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/NodeProto field 9 \(metadata_props\) ×1/);
    // A model with only known fields gives no warning.
    const none: string[] = [];
    loadModel(bytes, { onWarning: (w) => none.push(w) });
    expect(none).toEqual([]);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

describe('bad input', () => {
  it('a file that is not ONNX', () => {
    const p = join(dir, 'text.onnx');
    writeFileSync(p, 'hello, I am not a model\n');
    expect(() => loadModel(p)).toThrow(/text\.onnx: not an ONNX model/);
  });

  it('a truncated file', () => {
    const bytes = serializeModel(REFERENCE_MODELS[0]!.build({ opset: 17 }));
    const p = join(dir, 'truncated.onnx');
    writeFileSync(p, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(() => loadModel(p)).toThrow(/truncated\.onnx: not an ONNX model, or the file is truncated/);
  });

  it('an empty file, a missing file, a directory', () => {
    const p = join(dir, 'empty.onnx');
    writeFileSync(p, '');
    expect(() => loadModel(p)).toThrow(/empty file/);
    expect(() => loadModel(join(dir, 'nope.onnx'))).toThrow(/nope\.onnx: cannot read model file \(ENOENT\)/);
    expect(() => loadModel(dir)).toThrow(/is a directory/);
  });

  it('never modifies the input file', () => {
    const p = join(dir, 'input.onnx');
    const bytes = serializeModel(REFERENCE_MODELS[0]!.build({ opset: 13 }));
    writeFileSync(p, bytes);
    const m = loadModel(p);
    m.graph.initializers.set('extra', Tensor.fromArray('extra', 'float32', [1], Float32Array.of(1)));
    saveModel(m, join(dir, 'output.onnx'));
    expect(Buffer.compare(readFileSync(p), Buffer.from(bytes))).toBe(0);
  });
});
