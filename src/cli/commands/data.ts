import { ReconError } from '../../util/errors.js';
import { writeMultiFashionMnist } from '../../data/multi-fashion-mnist.js';
import { numberOption, optionValue } from '../args.js';
import type { Command } from '../command.js';
import { ProgressBar } from '../progress.js';

export const dataCommand: Command = {
  name: 'data',
  summary: 'Build a bundled dataset: multi-fashion-mnist (Multi-Fashion+MNIST, 36×36, T1 digit, T2 fashion item).',
  usage: 'recon data multi-fashion-mnist -o data/ [--limit N] [--seed n]',
  positionals: [{ name: 'the dataset name', kind: 'value' }],
  options: [
    { name: 'output', check: { kind: 'output-dir' }, value: 'dir', description: 'folder for train.npz and test.npz (-o works too)' },
    {
      name: 'limit',
      check: { kind: 'number', integer: true, min: 1 },
      value: 'N',
      description: 'only the first N images of each split (same images as the full build)',
    },
    {
      name: 'seed',
      check: { kind: 'number', integer: true, min: 0, max: 4294967295 },
      value: 'n',
      description: 'seed of the pairing and the shifts (default 0)',
    },
  ],
  async run(args, io) {
    const name = args.positionals[0];
    if (name !== 'multi-fashion-mnist') throw new ReconError(`unknown dataset "${name ?? ''}" (available: multi-fashion-mnist)`);
    const out = optionValue(args, 'output') ?? 'data';
    const limitText = optionValue(args, 'limit');
    const bar = new ProgressBar(io.stderr, io.interactive, 'building');
    const paths = writeMultiFashionMnist(out, {
      ...(limitText ? { limit: numberOption(args, 'limit', 0, 'data') } : {}),
      seed: numberOption(args, 'seed', 0, 'data'),
      onProgress: (done: number, total: number) => bar.update(done, total),
    });
    bar.finish();
    io.stdout(`wrote ${paths.train}\nwrote ${paths.test}\n`);
    return 0;
  },
};
