import { printable, ReconError } from '../util/errors.js';
/**
 * Parser for the small subset of Python literal syntax that NumPy writes into .npy headers:
 * dicts, tuples, lists, strings, integers, True/False/None.
 */

export type PyValue = string | number | boolean | null | PyValue[] | PyDict;

export interface PyDict {
  kind: 'dict';
  entries: Map<string, PyValue>;
}

export function isPyDict(value: PyValue): value is PyDict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses one literal; `where` prefixes error messages. */
export function parsePythonLiteral(text: string, where: string): PyValue {
  const parser = new LiteralParser(text, where);
  const value = parser.value();
  parser.skipSpace();
  if (!parser.atEnd()) parser.fail('unexpected text after the literal');
  return value;
}

class LiteralParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly where: string,
  ) {}

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  fail(problem: string): never {
    throw new ReconError(
      `${this.where}: cannot parse header ${printable(JSON.stringify(this.text.trim()), 200)}: ${printable(problem, 100)} at offset ${this.pos}`,
    );
  }

  skipSpace(): void {
    while (!this.atEnd() && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  value(): PyValue {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === '{') return this.dict();
    if (c === '(') return this.sequence('(', ')');
    if (c === '[') return this.sequence('[', ']');
    if (c === "'" || c === '"') return this.string();
    if (c !== undefined && /[-+0-9]/.test(c)) return this.integer();
    if (c !== undefined && /[A-Za-z_]/.test(c)) return this.keyword();
    return this.fail('expected a value');
  }

  private expect(char: string): void {
    this.skipSpace();
    if (this.text[this.pos] !== char) this.fail(`expected '${char}'`);
    this.pos++;
  }

  /** True (and consumes it) when the next non-space character is `char`. */
  private accept(char: string): boolean {
    this.skipSpace();
    if (this.text[this.pos] === char) {
      this.pos++;
      return true;
    }
    return false;
  }

  private dict(): PyDict {
    this.expect('{');
    const entries = new Map<string, PyValue>();
    while (!this.accept('}')) {
      const key = this.value();
      if (typeof key !== 'string') this.fail('dict keys must be strings');
      this.expect(':');
      entries.set(key, this.value());
      if (!this.accept(',')) {
        this.expect('}');
        break;
      }
    }
    return { kind: 'dict', entries };
  }

  private sequence(open: string, close: string): PyValue[] {
    this.expect(open);
    const items: PyValue[] = [];
    while (!this.accept(close)) {
      items.push(this.value());
      if (!this.accept(',')) {
        this.expect(close);
        break;
      }
    }
    return items;
  }

  private string(): string {
    const quote = this.text[this.pos]!;
    this.pos++;
    let out = '';
    while (!this.atEnd() && this.text[this.pos] !== quote) {
      let c = this.text[this.pos]!;
      if (c === '\\') {
        this.pos++;
        if (this.atEnd()) break;
        c = this.text[this.pos]!;
      }
      out += c;
      this.pos++;
    }
    if (this.atEnd()) this.fail('unterminated string');
    this.pos++;
    return out;
  }

  private integer(): number {
    const match = /^[-+]?\d+/.exec(this.text.slice(this.pos));
    if (!match) return this.fail('expected an integer');
    this.pos += match[0].length;
    // Python 2 wrote long integers with an L suffix.
    if (this.text[this.pos] === 'L' || this.text[this.pos] === 'l') this.pos++;
    const value = Number(match[0]);
    if (!Number.isSafeInteger(value)) this.fail(`integer ${match[0]} is too large`);
    return value;
  }

  private keyword(): boolean | null {
    const match = /^[A-Za-z_]\w*/.exec(this.text.slice(this.pos))!;
    this.pos += match[0].length;
    if (match[0] === 'True') return true;
    if (match[0] === 'False') return false;
    if (match[0] === 'None') return null;
    return this.fail(`unknown name ${match[0]}`);
  }
}
