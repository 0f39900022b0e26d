/**
 * The stages of src/, bottom to top; a module may import from its own stage and the ones below,
 * never from above (README § Architecture). Checked over the real import graph: every static
 * `from '…'`, `import '…'` and dynamic `import('…')` with a relative path.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const STAGES = ['util', 'onnx', 'data', 'runtime', 'analysis', 'autodiff', 'train', 'rewrite', 'report', 'conflict', 'pipeline', 'ablate', 'cli'] as const;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Stage-crossing imports that go upwards: "src/a/x.ts → src/b/y.js (a imports b, above it)". */
function upwardImports(files: readonly { path: string; text: string }[]): string[] {
  const rank = new Map<string, number>(STAGES.map((s, i) => [s, i]));
  const stageOf = (path: string): string | undefined => {
    const parts = relative('src', path).split(/[\\/]/);
    return parts.length > 1 ? parts[0] : undefined; // src/index.ts is the public entry, above all
  };
  const found: string[] = [];
  for (const { path, text } of files) {
    const from = stageOf(path);
    if (from === undefined) continue;
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = normalize(join(dirname(path), m[1]!));
      const to = stageOf(target);
      if (to === undefined || to === from) continue;
      if (!rank.has(to) || !rank.has(from)) {
        found.push(`${path} → ${target} (a stage missing from STAGES)`);
        continue;
      }
      if (rank.get(to)! > rank.get(from)!) found.push(`${path} → ${target} (${from} imports ${to}, above it)`);
    }
  }
  return found;
}

describe('architecture', () => {
  it('every folder of src/ is a stage, and no module imports from a stage above its own', () => {
    const folders = readdirSync('src').filter((f) => statSync(join('src', f)).isDirectory());
    expect(folders.sort()).toEqual([...STAGES].sort());
    const files = sources('src').map((path) => ({ path, text: readFileSync(path, 'utf8') }));
    expect(files.length).toBeGreaterThan(100);
    expect(upwardImports(files)).toEqual([]);
  });

  it('src/ throws ReconError (bad input) or InternalError (a bug), never a plain Error', () => {
    // The CLI prints a ReconError as one line and anything else as an internal error, so every
    // throw must say which it is.
    const plain = sources('src').flatMap((path) =>
      readFileSync(path, 'utf8')
        .split('\n')
        .flatMap((line, i) => (/\b(?:new|throw)\s+(?:Range|Type|Syntax|Reference|Eval|URI)?Error\s*\(/.test(line) ? [`${path}:${i + 1}`] : [])),
    );
    expect(plain).toEqual([]);
  });

  it('the check sees static, side-effect and dynamic imports that go upwards', () => {
    const files = [
      { path: 'src/onnx/a.ts', text: "import { x } from '../util/errors.js';\nimport type { Y } from '../conflict/scan.js';" },
      { path: 'src/data/b.ts', text: "import '../report/html.js';\nconst m = await import('../cli/main.js');" },
      { path: 'src/cli/c.ts', text: "import { z } from '../onnx/model.js';" },
    ];
    expect(upwardImports(files)).toEqual([
      'src/onnx/a.ts → src/conflict/scan.js (onnx imports conflict, above it)',
      'src/data/b.ts → src/report/html.js (data imports report, above it)',
      'src/data/b.ts → src/cli/main.js (data imports cli, above it)',
    ]);
  });
});
