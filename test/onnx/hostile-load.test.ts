import { oneLineError } from '../util/one-line-error.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder, loadModel, type onnx, proto, saveModel } from '../../src/onnx/index.js';
import { printable } from '../../src/util/errors.js';

const root = mkdtempSync(join(tmpdir(), 'recon-hostile-load-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;

/** A folder holding `m.onnx` whose one initializer "w" (256 float32 = 1024 bytes) is external in `m.onnx.data`. */
function externalModel(): { folder: string; path: string } {
  const folder = join(root, `case${counter++}`);
  mkdirSync(folder);
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', [256]);
  b.initializer('w', 'float32', [256], new Float32Array(256).fill(0.5));
  b.output(b.op1('Add', [x, 'w']), 'float32', [256]);
  const path = join(folder, 'm.onnx');
  saveModel(b.model(17), path, { externalDataThreshold: 1, externalDataLocation: 'm.onnx.data' });
  return { folder, path };
}

/** Rewrites the external_data entries of initializer "w" in the saved model file. */
function editExternal(path: string, entries: Record<string, string>): void {
  const model = proto.ModelProto.decode(readFileSync(path));
  const w = model.graph!.initializer!.find((t) => t.name === 'w')!;
  const kept = (w.externalData ?? []).filter((e) => !((e.key ?? '') in entries));
  w.externalData = [...kept, ...Object.entries(entries).map(([key, value]) => proto.StringStringEntryProto.create({ key, value }))];
  writeFileSync(path, proto.ModelProto.encode(model).finish());
}

describe('external data must be a regular file inside the model folder', () => {
  it('a sound model loads and reads its external weights (the control case)', () => {
    const { path } = externalModel();
    expect(Array.from(loadModel(path).graph.initializers.get('w')!.data('float32').slice(0, 2))).toEqual([0.5, 0.5]);
  });

  it('a symbolic link to a file outside the folder is refused, naming tensor and location, without the target size', () => {
    const { folder, path } = externalModel();
    const outside = join(root, `secret${counter++}.bin`);
    writeFileSync(outside, new Uint8Array(12345));
    symlinkSync(outside, join(folder, 'leak.bin'));
    editExternal(path, { location: 'leak.bin' });
    const message = oneLineError(() => loadModel(path));
    expect(message).toMatch(/tensor "w": external data "leak\.bin" resolves outside the model's folder/);
    expect(message).not.toContain('12345');
    expect(message).not.toContain('secret');
    // Also when reading eagerly, and for a link to a system file.
    symlinkSync('/etc/passwd', join(folder, 'passwd'));
    editExternal(path, { location: 'passwd' });
    expect(oneLineError(() => loadModel(path, { eagerExternalData: true }))).toMatch(/tensor "w": external data "passwd" resolves outside/);
  });

  it('a link through a symlinked subfolder pointing outside is refused; a link inside the folder is fine', () => {
    const { folder, path } = externalModel();
    const elsewhere = join(root, `elsewhere${counter++}`);
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'm.onnx.data'), readFileSync(join(folder, 'm.onnx.data')));
    symlinkSync(elsewhere, join(folder, 'sub'));
    editExternal(path, { location: 'sub/m.onnx.data' });
    expect(oneLineError(() => loadModel(path))).toMatch(/resolves outside the model's folder/);
    symlinkSync('m.onnx.data', join(folder, 'alias.data'));
    editExternal(path, { location: 'alias.data' });
    expect(loadModel(path).graph.initializers.get('w')!.data('float32')[0]).toBe(0.5);
  });

  it('a link swapped in after loading is refused when the bytes are read', () => {
    const { folder, path } = externalModel();
    const model = loadModel(path);
    rmSync(join(folder, 'm.onnx.data'));
    symlinkSync('/etc/passwd', join(folder, 'm.onnx.data'));
    expect(oneLineError(() => model.graph.initializers.get('w')!.rawBytes())).toMatch(/resolves outside the model's folder/);
  });

  it('a directory as location is refused (no EISDIR)', () => {
    const { folder, path } = externalModel();
    mkdirSync(join(folder, 'adir'));
    editExternal(path, { location: 'adir' });
    expect(oneLineError(() => loadModel(path))).toMatch(/tensor "w": external data "adir" is a directory, not a regular file/);
  });

  it.skipIf(process.platform !== 'linux')('a named pipe as location is refused at once, not read (which would block forever)', () => {
    const { folder, path } = externalModel();
    execFileSync('mkfifo', [join(folder, 'pipe')]);
    editExternal(path, { location: 'pipe' });
    expect(oneLineError(() => loadModel(path))).toMatch(/tensor "w": external data "pipe" is a named pipe, not a regular file/);
    expect(oneLineError(() => loadModel(path, { eagerExternalData: true }))).toMatch(/is a named pipe/);
  });

  it('a pipe swapped in after loading is refused when read, without blocking', () => {
    if (process.platform !== 'linux') return;
    const { folder, path } = externalModel();
    const model = loadModel(path);
    rmSync(join(folder, 'm.onnx.data'));
    execFileSync('mkfifo', [join(folder, 'm.onnx.data')]);
    expect(oneLineError(() => model.graph.initializers.get('w')!.rawBytes())).toMatch(/is a named pipe, not a regular file/);
  });

  it.each([
    ['offset', '-8'],
    ['offset', 'NaN'],
    ['offset', '3.5'],
    ['offset', '1e3'],
    ['offset', ''],
    ['length', '-8'],
    ['length', 'abc'],
    ['length', '99999999999999999999'],
  ])('%s "%s" is refused naming the tensor', (key, value) => {
    const { path } = externalModel();
    editExternal(path, { [key]: value });
    expect(oneLineError(() => loadModel(path))).toMatch(new RegExp(`tensor "w": external data "m\\.onnx\\.data" ${key} must be a non-negative integer`));
  });

  it('a length that does not match the shape, and an offset past the end, are refused', () => {
    const { path } = externalModel();
    editExternal(path, { length: '8' });
    expect(oneLineError(() => loadModel(path))).toMatch(
      /tensor "w": external data "m\.onnx\.data" has length 8, but shape \[256\] \(float32\) needs 1024 bytes/,
    );
    editExternal(path, { length: '1024', offset: '4' });
    expect(oneLineError(() => loadModel(path))).toMatch(/tensor "w": external data .* has 1024 bytes, needs offset 4 \+ length 1024/);
  });

  it('absolute and parent-relative locations are refused', () => {
    const { path } = externalModel();
    for (const location of ['/etc/passwd', '../m.onnx.data', 'a/../../x']) {
      editExternal(path, { location });
      expect(oneLineError(() => loadModel(path))).toMatch(/tensor "w": .*must be a relative path inside the model folder/);
    }
  });
});

describe('corrupt models are one-line errors', () => {
  function tinyModelBytes(): Uint8Array {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['N', 4]);
    b.initializer('w', 'float32', [4, 2], new Float32Array(8).fill(1));
    b.output(b.op1('MatMul', [x, 'w']), 'float32', ['N', 2]);
    const path = join(root, `tiny${counter++}.onnx`);
    saveModel(b.model(17), path);
    return readFileSync(path);
  }

  it('protobuf garbage and an empty file', () => {
    expect(oneLineError(() => loadModel(new Uint8Array([0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]), { baseDir: root }))).toMatch(/not an ONNX model/);
    expect(oneLineError(() => loadModel(new Uint8Array(0)))).toMatch(/empty file/);
    const bytes = tinyModelBytes();
    expect(oneLineError(() => loadModel(bytes.subarray(0, bytes.length - 7)))).toMatch(/not an ONNX model|truncated|holds|raw_data/);
  });

  it('a graph-input dimension of -3 or 2^40 is refused; -1 reads as unknown', () => {
    for (const [dim, ok] of [
      [-3, false],
      [2 ** 40, false],
      [-1, true],
    ] as const) {
      const model = proto.ModelProto.decode(tinyModelBytes());
      model.graph!.input![0]!.type!.tensorType!.shape!.dim![1] = proto.TensorShapeProto.Dimension.create({ dimValue: dim });
      const bytes = proto.ModelProto.encode(model).finish();
      if (ok) expect(loadModel(bytes).graph.feedInputs.length).toBe(1);
      else expect(oneLineError(() => loadModel(bytes))).toMatch(new RegExp(`graph input "x" has invalid dimension ${dim}`));
    }
  });

  it('initializer dims and data that disagree, and an unknown data type, are refused naming the tensor', () => {
    const withW = (edit: (w: onnx.ITensorProto) => void): Uint8Array => {
      const model = proto.ModelProto.decode(tinyModelBytes());
      edit(model.graph!.initializer![0]!);
      return proto.ModelProto.encode(model).finish();
    };
    expect(oneLineError(() => loadModel(withW((w) => (w.dims = [4, 3]))))).toMatch(/tensor "w": raw_data has 32 bytes, but its shape and type need 48/);
    expect(oneLineError(() => loadModel(withW((w) => (w.dims = [4, -2]))))).toMatch(/tensor "w": invalid dimension -2/);
    expect(oneLineError(() => loadModel(withW((w) => (w.dims = [2 ** 41, 1]))))).toMatch(/tensor "w": invalid dimension/);
    expect(oneLineError(() => loadModel(withW((w) => (w.dataType = 99))))).toMatch(/tensor "w": unsupported ONNX data type 99/);
  });

  it('a name longer than 4096 characters is refused with a short message', () => {
    const model = proto.ModelProto.decode(tinyModelBytes());
    model.graph!.node![0]!.name = 'n'.repeat(100_000);
    const message = oneLineError(() => loadModel(proto.ModelProto.encode(model).finish()));
    expect(message).toMatch(/node "n+… \(100000 characters\)" is 100000 characters long; names longer than 4096 are refused/);
    expect(message.length).toBeLessThan(300);
  });
});

describe('printable', () => {
  it('escapes control and undecodable characters and cuts long text', () => {
    expect(printable(`a${String.fromCharCode(27)}[31mb\n\ufffd`)).toBe('a\\x1b[31mb\\x0a\\ufffd');
    expect(printable('é名前')).toBe('é名前');
    expect(printable('x'.repeat(10), 4)).toBe('xxxx… (10 characters)');
  });
});
