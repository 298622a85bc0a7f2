/**
 * Options as data: each command lists its options once, and the same list
 * builds the yargs parser, renders the help, and validates the parsed values
 * before any file is read or written. A usage error is one line naming the
 * option (exit 2).
 */
import type { Argv } from 'yargs';
import { SEC_BASE_MINIMAL, SEC_BASE_NATIVE } from '../btf/sections.js';
import { ModbtfError } from '../errors.js';
import { checkSize, parseSize } from '../module/limits.js';

export type OptionValue = string | boolean | number | string[];

export interface OptionSpec {
  /** Long name as typed (kebab-case); the parsed value is found under it. */
  name: string;
  /** Other spellings: one letter for `-x`, longer for `--xyz`. */
  alias?: readonly string[];
  /** `string`: one value; `int`: a whole number; `choice`: one of `choices`; `boolean`: a flag. */
  type: 'string' | 'boolean' | 'int' | 'choice';
  describe: string;
  /** Placeholder for the value in help (`FILE`, `N`). */
  value?: string;
  choices?: readonly string[];
  default?: string | boolean | number;
  /** Smallest value of an `int`. */
  min?: number;
  required?: boolean;
  /** May be given several times (the value is then a list). */
  repeatable?: boolean;
  /** A check of its own for a given value: a message (without the option name) when it is bad. */
  check?: (value: string) => string | null;
  /** Converts a checked string value (e.g. a size with a unit). */
  parse?: (value: string) => number | string;
}

/** Options every command takes. An option added here is parsed, documented and checked everywhere. */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'max-input-size', type: 'string', value: 'SIZE', check: checkSize, parse: (v) => parseSize(v)!,
    describe: 'refuse an input file, or what a compressed input decompresses to, larger than SIZE (bytes, or 64M, 2G; at most 4G) [default: 1G]',
  },
];

export const OPT_JSON: OptionSpec = { name: 'json', type: 'boolean', default: false, describe: 'one JSON object per input on stdout (see "JSON output" in the README)' };
export const OPT_RECURSIVE: OptionSpec = { name: 'recursive', alias: ['r'], type: 'boolean', default: false, describe: 'process the *.ko, *.ko.xz, *.ko.zst, *.ko.gz modules under the directories given' };
export const OPT_JOBS: OptionSpec = { name: 'jobs', alias: ['j'], type: 'int', min: 1, value: 'N', describe: 'worker threads for several modules (default: one, more only for big batches, at most the idle cores)' };

/** The kernel BTF a module is built against or reconciled onto: `--base` and `--kernel` are the same option. */
export function kernelOption(primary: 'base' | 'kernel', o: Partial<OptionSpec> & { describe: string }): OptionSpec {
  const alias = primary === 'base' ? ['B', 'kernel', 'k'] : ['k', 'base', 'B'];
  return { name: primary, alias, type: 'string', value: 'FILE', ...o };
}

export const SECTION_CHOICES = [SEC_BASE_MINIMAL, SEC_BASE_NATIVE] as const;

/** What every module-rewriting command takes: where to write, signing, batch. */
export const OUTPUT_OPTIONS: readonly OptionSpec[] = [
  { name: 'output', alias: ['o'], type: 'string', value: 'FILE', describe: 'write the result here instead of in place (one module; `-` for stdout)' },
  { name: 'out-dir', type: 'string', value: 'DIR', describe: 'write the results into DIR under their own names' },
  OPT_JSON,
  { name: 'sign-key', type: 'string', value: 'KEY', describe: 're-sign the written module with this private key (kernel sign-file)' },
  { name: 'sign-cert', type: 'string', value: 'CERT', describe: 'certificate for --sign-key' },
  { name: 'sign-tool', type: 'string', value: 'PATH', describe: 'sign-file to use (default: the kernel build tree\'s, else linux-kbuild\'s)' },
  { name: 'sign-hash', type: 'string', value: 'ALGO', default: 'sha512', describe: 'hash algorithm for sign-file' },
  OPT_RECURSIVE,
  OPT_JOBS,
];

/** `--name` for a long spelling, `-n` for a letter. */
export const flag = (n: string): string => (n.length === 1 ? `-${n}` : `--${n}`);

/** The spellings of `spec` that appear in `tokens` (what the user typed), in the order typed. */
function spellingsUsed(spec: OptionSpec, tokens: readonly string[]): string[] {
  const names = [spec.name, ...(spec.alias ?? [])];
  const used: string[] = [];
  for (const t of tokens) {
    if (t === '--') break;
    for (const n of names) {
      const f = flag(n);
      const hit = n.length === 1
        ? t.startsWith('-') && !t.startsWith('--') && t.slice(1).includes(n) && /^-[A-Za-z]+/.test(t)
        : t === f || t.startsWith(`${f}=`) || t === `--no-${n}`;
      if (hit && !used.includes(f)) used.push(f);
    }
  }
  return used.length ? used : [flag(spec.name)];
}

const usage = (msg: string): ModbtfError => new ModbtfError('E_USAGE', msg);

/**
 * Check and convert the parsed values of `specs` in `argv` (yargs' result),
 * returning them by option name. Throws an E_USAGE error naming the option.
 */
export function validateOptions(specs: readonly OptionSpec[], argv: Record<string, unknown>, tokens: readonly string[]): Record<string, OptionValue | undefined> {
  const out: Record<string, OptionValue | undefined> = {};
  for (const spec of specs) {
    const raw = argv[spec.name];
    const name = () => spellingsUsed(spec, tokens).join('/');
    if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) {
      if (spec.required) throw usage(`${flag(spec.name)} is required`);
      out[spec.name] = spec.default;
      continue;
    }
    if (Array.isArray(raw) && !spec.repeatable) {
      if (spec.type !== 'boolean' || new Set(raw).size > 1) throw usage(`${name()} given more than once`);
    }
    if (spec.type === 'boolean') {
      out[spec.name] = Array.isArray(raw) ? Boolean(raw[0]) : Boolean(raw);
      continue;
    }
    const values = (Array.isArray(raw) ? raw : [raw]).map((v) => (typeof v === 'boolean' ? '' : String(v)));
    const converted: (string | number)[] = [];
    for (const v of values) {
      if (v === '') throw usage(`${name()} needs a value`);
      if (spec.type === 'choice' && !spec.choices!.includes(v)) {
        throw usage(`${name()}: '${v}' is not one of ${spec.choices!.join(', ')}`);
      }
      if (spec.type === 'int') {
        const min = spec.min ?? 0;
        if (!/^[0-9]+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
          throw usage(`${name()}: '${v}' is not a whole number >= ${min}`);
        }
        converted.push(Number(v));
        continue;
      }
      const bad = spec.check?.(v);
      if (bad) throw usage(`${name()}: ${bad}`);
      converted.push(spec.parse ? spec.parse(v) : v);
    }
    out[spec.name] = spec.repeatable ? converted.map(String) : converted[0];
  }
  return out;
}

/** Help text of one option: description, value placeholder, choices, default. */
function helpText(spec: OptionSpec): string {
  let s = spec.describe;
  if (spec.choices) s += ` (${spec.choices.join(' | ')})`;
  if (spec.required) s += ' [required]';
  if (spec.repeatable) s += ' [repeatable]';
  if (spec.default !== undefined && spec.default !== false) s += ` [default: ${String(spec.default)}]`;
  return s;
}

/** Declare `specs` on a yargs command. Values are taken as strings and checked by `validateOptions`. */
export function declareOptions<T>(y: Argv<T>, specs: readonly OptionSpec[]): Argv<T> {
  let a = y;
  for (const spec of specs) {
    a = a.option(spec.name, {
      alias: spec.alias ? [...spec.alias] : undefined,
      type: spec.type === 'boolean' ? 'boolean' : 'string',
      describe: spec.value ? `${spec.value}: ${helpText(spec)}` : helpText(spec),
    }) as unknown as Argv<T>;
  }
  return a;
}
