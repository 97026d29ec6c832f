import type { LabIssue } from '../errors.js';
import { closest } from '../util/names.js';
import { formatPath, type PathSeg, type YamlSource } from './source.js';

const SECRET_KEYS = new Set(['passwd', 'hashed_passwd', 'password', 'plain_text_passwd']);

export type Obj = Record<string, unknown>;

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

/**
 * Collects problems while walking a parsed YAML value. Every helper takes the
 * path it is at, so each problem can name the file position and the lab path.
 */
export class Checker {
  readonly issues: LabIssue[] = [];

  constructor(readonly source: YamlSource) {}

  fail(segs: readonly PathSeg[], message: string, extra: { value?: unknown; hint?: string; atKey?: boolean } = {}): void {
    const pos = this.source.locate(segs, extra.atKey);
    const last = segs[segs.length - 1];
    const secret = typeof last === 'string' && SECRET_KEYS.has(last);
    this.issues.push({
      file: this.source.file,
      line: pos?.line,
      column: pos?.column,
      path: formatPath(segs),
      message,
      ...(extra.value !== undefined ? { value: secret ? '<redacted>' : clip(extra.value) } : {}),
      ...(extra.hint ? { hint: extra.hint } : {}),
    });
  }

  get ok(): boolean {
    return this.issues.length === 0;
  }

  /** A mapping with known keys; unknown keys are reported with a "did you mean" hint. */
  object(segs: readonly PathSeg[], v: unknown, keys: { required?: string[]; optional?: string[] }): Obj | undefined {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.fail(segs, `must be a mapping (key: value), not ${typeName(v)}`, { value: v });
      return undefined;
    }
    const obj = v as Obj;
    const allowed = [...(keys.required ?? []), ...(keys.optional ?? [])];
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) {
        const guess = closest(k, allowed);
        this.fail([...segs, k], `unknown key "${k}"`, {
          atKey: true,
          hint: guess ? `did you mean "${guess}"?` : `allowed keys: ${allowed.join(', ')}`,
        });
      }
    }
    for (const k of keys.required ?? []) {
      if (obj[k] === undefined || obj[k] === null) this.fail(segs, `missing required key "${k}"`);
    }
    return obj;
  }

  /** A mapping whose keys are names the user chose (vms, networks). */
  namedMap(segs: readonly PathSeg[], v: unknown): Obj | undefined {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.fail(segs, `must be a mapping of names to definitions, not ${typeName(v)}`, {
        value: v,
        hint: Array.isArray(v) ? 'write `name:` keys instead of a `- ` list' : undefined,
      });
      return undefined;
    }
    return v as Obj;
  }

  list(segs: readonly PathSeg[], v: unknown, opts: { max?: number } = {}): unknown[] | undefined {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.fail(segs, `must be a list, not ${typeName(v)}`, { value: v, hint: 'start each item with "- "' });
      return undefined;
    }
    if (opts.max !== undefined && v.length > opts.max) {
      this.fail(segs, `at most ${opts.max} items allowed, got ${v.length}`);
      return undefined;
    }
    return v;
  }

  string(segs: readonly PathSeg[], v: unknown, opts: { pattern?: RegExp; maxLength?: number; hint?: string; what?: string } = {}): string | undefined {
    if (typeof v !== 'string') {
      this.fail(segs, `must be ${opts.what ?? 'a string'}, not ${typeName(v)}`, { value: v, hint: opts.hint });
      return undefined;
    }
    if (opts.maxLength !== undefined && v.length > opts.maxLength) {
      this.fail(segs, `is too long (${v.length} > ${opts.maxLength} characters)`, { value: v, hint: opts.hint });
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      this.fail(segs, `is not ${opts.what ?? 'valid'}`, { value: v, hint: opts.hint });
      return undefined;
    }
    return v;
  }

  int(segs: readonly PathSeg[], v: unknown, min: number, max: number): number | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.fail(segs, `must be a whole number, not ${typeName(v)}`, { value: v });
      return undefined;
    }
    if (v < min || v > max) {
      this.fail(segs, `must be between ${min} and ${max}`, { value: v });
      return undefined;
    }
    return v;
  }

  bool(segs: readonly PathSeg[], v: unknown): boolean | undefined {
    if (typeof v !== 'boolean') {
      this.fail(segs, `must be true or false, not ${typeName(v)}`, { value: v });
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(segs: readonly PathSeg[], v: unknown, allowed: readonly T[], what: string): T | undefined {
    if (typeof v !== 'string' || !allowed.includes(v as T)) {
      const guess = typeof v === 'string' ? closest(v, allowed) : undefined;
      this.fail(segs, `unknown ${what}`, {
        value: v,
        hint: guess ? `did you mean "${guess}"? (one of: ${allowed.join(', ')})` : `one of: ${allowed.join(', ')}`,
      });
      return undefined;
    }
    return v as T;
  }
}

function clip(v: unknown): unknown {
  if (typeof v === 'string' && v.length > 120) return v.slice(0, 117) + '...';
  if (v !== null && typeof v === 'object') {
    const s = JSON.stringify(v);
    return s.length > 120 ? s.slice(0, 117) + '...' : v;
  }
  return v;
}
