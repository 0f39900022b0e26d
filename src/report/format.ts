/**
 * Number formatting shared by the terminal and HTML renderers, independent of the machine's
 * locale so output is reproducible.
 */

/** 11221540 → "11,221,540". */
export function formatInteger(value: number): string {
  const sign = value < 0 ? '-' : '';
  const digits = String(Math.round(Math.abs(value)));
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Always signed, fixed decimals: 0.0123 → "+0.0123". */
export function formatSigned(value: number, decimals: number): string {
  const text = Math.abs(value).toFixed(decimals);
  if (Number(text) === 0) return ` ${text}`;
  return (value < 0 ? '-' : '+') + text;
}

/** Fraction → percentage text: 0.4321 → "43.21%". */
export function formatPercent(fraction: number, decimals = 1): string {
  return `${(fraction * 100).toFixed(decimals)}%`;
}

/** An S threshold as written on the command line: -0.1, 0, -0.02. */
export function formatThreshold(S: number): string {
  return Object.is(S, -0) ? '0' : String(S);
}

/** Compact magnitude for axes and cards: 1234 → "1.2k", 11221540 → "11.2M". */
export function formatCompact(value: number): string {
  const abs = Math.abs(value);
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) {
    if (abs >= size) return `${trimZeros((value / size).toFixed(abs / size >= 100 ? 0 : 1))}${suffix}`;
  }
  return trimZeros(value.toFixed(abs >= 100 || Number.isInteger(value) ? 0 : abs >= 1 ? 1 : 3));
}

/** Shortens long names in the middle, where hierarchical names differ least: "layer4…conv2". */
export function ellipsize(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  const keep = maxLength - 1;
  const head = Math.ceil(keep / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (keep - head))}`;
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}
