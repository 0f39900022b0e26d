import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { onnx } from 'onnx-proto';
import { proto } from '../../src/onnx/proto.js';
import { readTensorDir, tensorFileName, writeTensorDir } from '../../src/data/tensor-dir.js';
import type { HostTensor } from '../../src/data/host-tensor.js';
import { numpyFixtureArrays, plain } from './fixture-values.js';

const root = mkdtempSync(join(tmpdir(), 'tensor-dir-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
function freshDir(): string {
  const dir = join(root, `d${counter++}`);
  mkdirSync(dir);
  return dir;
}

function writeProto(dir: string, file: string, message: onnx.ITensorProto): void {
  writeFileSync(join(dir, file), proto.TensorProto.encode(proto.TensorProto.create(message)).finish());
}

function plainMap(map: Map<string, HostTensor>): Record<string, ReturnType<typeof plain>> {
  return Object.fromEntries([...map].map(([k, v]) => [k, plain(v)]));
}

const T = proto.TensorProto.DataType;

describe('writeTensorDir / readTensorDir', () => {
  it('round-trips every dtype, including scalars and empty arrays', () => {
    const dir = freshDir();
    const arrays = numpyFixtureArrays();
    writeTensorDir(dir, arrays);
    expect(readdirSync(dir).sort()).toEqual(
      Object.keys(arrays)
        .map((k) => `${k}.pb`)
        .sort(),
    );
    expect(plainMap(readTensorDir(dir))).toEqual(Object.fromEntries(Object.entries(arrays).map(([k, v]) => [k, plain(v)])));
  });

  it('keeps names that are not file-safe in the proto and sanitizes only the file name', () => {
    const dir = freshDir();
    const t: HostTensor = { dtype: 'float64', dims: [2], data: Float64Array.of(0.1, -7) };
    writeTensorDir(dir, new Map([['layer1/conv:0', t]]));
    expect(readdirSync(dir)).toEqual(['layer1_conv_0.pb']);
    expect(plainMap(readTensorDir(dir))).toEqual({ 'layer1/conv:0': plain(t) });
    expect(tensorFileName('.hidden')).toBe('_.hidden.pb');
  });

  it('refuses names that would collide on disk', () => {
    const t: HostTensor = { dtype: 'uint8', dims: [1], data: Uint8Array.of(1) };
    expect(() => writeTensorDir(freshDir(), { 'a/b': t, 'a:b': t })).toThrow(/tensors "a\/b" and "a:b" would both be written to a_b\.pb/);
  });
});

describe('reading TensorProtos written by other tools', () => {
  it('decodes typed fields (float_data, double_data, int64_data, int32_data)', () => {
    const dir = freshDir();
    writeProto(dir, 'f.pb', { name: 'f', dims: [2, 2], dataType: T.FLOAT, floatData: [1, 2.5, -3, 0.25] });
    writeProto(dir, 'd.pb', { name: 'd', dims: [1], dataType: T.DOUBLE, doubleData: [Math.E] });
    writeProto(dir, 'l.pb', { name: 'l', dims: [3], dataType: T.INT64, int64Data: [-5, 2 ** 40, 9007199254740991] });
    writeProto(dir, 'i.pb', { name: 'i', dims: [2], dataType: T.INT32, int32Data: [-7, 2147483647] });
    writeProto(dir, 'u.pb', { name: 'u', dims: [2], dataType: T.UINT8, int32Data: [0, 255] });
    writeProto(dir, 'b.pb', { name: 'b', dims: [3], dataType: T.BOOL, int32Data: [1, 0, 1] });
    expect(plainMap(readTensorDir(dir))).toEqual({
      b: { dtype: 'bool', dims: [3], values: [1, 0, 1] },
      d: { dtype: 'float64', dims: [1], values: [Math.E] },
      f: { dtype: 'float32', dims: [2, 2], values: [1, 2.5, -3, 0.25] },
      i: { dtype: 'int32', dims: [2], values: [-7, 2147483647] },
      l: { dtype: 'int64', dims: [3], values: [-5n, 2n ** 40n, 9007199254740991n] },
      u: { dtype: 'uint8', dims: [2], values: [0, 255] },
    });
  });

  it('decodes raw_data at any byte offset and falls back to the file name when the proto has none', () => {
    const dir = freshDir();
    const values = Float64Array.of(1.5, -2.25, 1e-300);
    // A doc string shifts raw_data inside the message, so it is unlikely to be 8-byte aligned.
    writeProto(dir, 'input_0.pb', { docString: 'x', dims: [3], dataType: T.DOUBLE, rawData: new Uint8Array(values.buffer) });
    expect(plainMap(readTensorDir(dir))).toEqual({ input_0: { dtype: 'float64', dims: [3], values: [1.5, -2.25, 1e-300] } });
  });

  it('reports unsupported types, wrong sizes, duplicate names and non-protobuf files', () => {
    let dir = freshDir();
    writeProto(dir, 's.pb', { name: 's', dims: [1], dataType: T.STRING, stringData: [Buffer.from('x')] });
    expect(() => readTensorDir(dir)).toThrow(/s\.pb: tensor "s": unsupported data type STRING/);

    dir = freshDir();
    writeProto(dir, 'r.pb', { name: 'r', dims: [2, 2], dataType: T.FLOAT, rawData: new Uint8Array(12) });
    expect(() => readTensorDir(dir)).toThrow(/tensor "r": raw_data has 12 bytes, shape \[2,2\] \(float32\) needs 16/);

    dir = freshDir();
    writeProto(dir, 'c.pb', { name: 'c', dims: [3], dataType: T.INT32, int32Data: [1, 2] });
    expect(() => readTensorDir(dir)).toThrow(/tensor "c": int32_data has 2 values, expected 3/);

    dir = freshDir();
    writeProto(dir, 'one.pb', { name: 'same', dims: [1], dataType: T.FLOAT, floatData: [1] });
    writeProto(dir, 'two.pb', { name: 'same', dims: [1], dataType: T.FLOAT, floatData: [2] });
    expect(() => readTensorDir(dir)).toThrow(/tensor name "same" appears in both one\.pb and two\.pb/);

    dir = freshDir();
    writeFileSync(join(dir, 'junk.pb'), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]));
    expect(() => readTensorDir(dir)).toThrow(/junk\.pb: not a serialized onnx\.TensorProto/);
  });
});
