/**
 * The plain command-line parser (src/cli/argv.ts) against yargs: for every
 * command line it accepts, yargs must run the same command with the same
 * values; everything else (help, version, usage errors, unusual forms) it
 * must leave to yargs. Command lines are generated from the option table.
 */
import { describe, expect, it } from 'vitest';
import { parsePlain } from '../src/cli/argv.js';
import { COMMANDS, run } from '../src/cli/main.js';
import { GLOBAL_OPTIONS, flag, type OptionSpec } from '../src/cli/options.js';
import { parseWithYargs } from '../src/cli/usage.js';

const specsOf = (name: string): readonly OptionSpec[] => [...COMMANDS.find((c) => c.name === name)!.options, ...GLOBAL_OPTIONS];

/** What yargs makes of `argv`: the command and the values the option table names, or a usage error, or help. */
function viaYargs(argv: string[]): unknown {
  const r = parseWithYargs(COMMANDS, argv, '');
  if (r.usageError !== null) return { usageError: r.usageError };
  if (!r.chosen) return { text: r.text };
  return values(r.chosen.cmd.name, r.chosen.argv);
}

function values(cmd: string, argv: Record<string, unknown>): unknown {
  const c = COMMANDS.find((x) => x.name === cmd)!;
  const out: Record<string, unknown> = { cmd, [c.arg.name]: argv[c.arg.name] };
  for (const s of specsOf(cmd)) out[s.name] = argv[s.name];
  return out;
}

function viaPlain(argv: string[]): unknown {
  const p = parsePlain(COMMANDS, GLOBAL_OPTIONS, argv);
  return p && values(p.cmd.name, p.argv);
}

// The command lines the commands are run with every day: all of them parsed without yargs.
const everyday: string[][] = [
  ['distill', '--base', 'vmlinux', 'a.ko'],
  ['distill', '-B', 'vmlinux', '--section', '.BTF.base', '--force', 'a.ko', 'b.ko.xz', '-j', '2'],
  ['distill', '--base=vmlinux', '-r', 'dir', '--out-dir', 'out', '--json'],
  ['reconcile', '-k', 'vmlinux', 'a.ko', '-o', '-'],
  ['reconcile', '--kernel', 'vmlinux', '--strip', '--dedup', '--strict', 'a.ko', '--max-input-size', '2G'],
  ['--max-input-size', '64M', 'reconcile', '-k', 'vmlinux', 'a.ko'],
  ['map', '--base', 'vmlinux', 'a.ko', '--sign-key', 'k.pem', '--sign-cert', 'c.x509', '--sign-hash', 'sha256'],
  ['check', '-k', 'v1', '-k', 'v2', '--kernel=v3', 'a.ko', '-r', '--json'],
  ['inspect', 'a.ko', 'b.ko', '--json'],
  ['dump', 'vmlinux.btf', '--format', 'c'],
  ['dump', '-B', 'vmlinux', 'a.ko', '--format=json'],
  ['extract', '/boot/vmlinuz', '-o', 'v.btf', '--section', '.BTF'],
  ['min-core', '--kernel', 'v.btf', '-o', 'out.btf', 'a.bpf.o', 'b.bpf.o', '--report'],
  ['min-core', '-k', 'v.btf', '-m', 'x.ko', '--module', 'y.ko', '--split', '--out-dir', 'd', 'a.bpf.o'],
  ['min-core', '-r', '--kernel', 'tree', '--tar', 'out.tar.gz', '-j', '3', 'a.bpf.o'],
  ['core-check', '-k', 'v1', '-k', 'v2', '-v', '--strict', 'a.bpf.o'],
];

describe('plain parser', () => {
  it('parses the everyday command lines itself, exactly as yargs does', () => {
    for (const argv of everyday) {
      const plain = viaPlain(argv);
      expect(plain, argv.join(' ')).toBeDefined();
      expect(plain, argv.join(' ')).toEqual(viaYargs(argv));
    }
  });

  it('prints --version alone as yargs does', async () => {
    for (const v of ['--version', '-V']) {
      const out: string[] = [];
      expect(await run([v], { out: (l) => out.push(l), err: (l) => out.push(`err: ${l}`) })).toBe(0);
      expect(out).toEqual([parseWithYargs(COMMANDS, [v], '').text]);
      expect(out[0]).toMatch(/^\d+\.\d+\.\d+/);
    }
  });

  it('leaves help, version and usage errors to yargs', () => {
    for (const argv of [
      [], ['--help'], ['-h'], ['--version'], ['-V'], ['distill', '--help'], ['dump', '-h', 'x'],
      ['distill'], ['dump', 'a', 'b'], ['bogus', 'a'], ['distill', '--forse', 'a.ko'], ['distill', '--base'],
      ['extract', 'a', '-o'], ['inspect', 'a', 'help'], ['inspect', 'a', '-'], ['inspect', '--', 'a'],
      ['distill', '-rf', 'a'], ['distill', '--no-force', 'a'], ['distill', '--force=true', 'a'], ['distill', '--force', 'false', 'a'],
      ['distill', '--outDir', 'o', 'a'], ['distill', '--json', '--json', 'a'], ['--base', 'v', 'distill', 'a'], ['dump', '--base=', 'a'],
      ['reconcile', '-o', '-1', 'a'], ['reconcile', '-k', 'v', '--output', '-', 'a'], ['inspect', ''],
    ]) {
      expect(viaPlain(argv), JSON.stringify(argv)).toBeUndefined();
    }
  });

  it('agrees with yargs on generated command lines', () => {
    const names = COMMANDS.map((c) => c.name);
    const spellings = new Set<string>(['--help', '-h', '--version', '-V', '--', '-', '', '--no-force', '--outDir', '-rj', '-j2', '--kernel.x']);
    for (const c of COMMANDS) {
      for (const s of [...c.options, ...GLOBAL_OPTIONS]) {
        for (const n of [s.name, ...(s.alias ?? [])]) {
          spellings.add(flag(n));
          spellings.add(`${flag(n)}=v`);
          if (n.length > 1) spellings.add(`${flag(n)}=`);
        }
      }
    }
    const words = ['a.ko', 'b.ko', '12', '0x10', '-1', 'true', 'false', 'help', 'sha256', '.BTF.base', 'raw', 'c', '2G', 'x=y', ...names];
    const tokens = [...spellings];
    let seed = 0x2545f491;
    const rnd = (n: number): number => {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    let accepted = 0;
    for (let k = 0; k < 1500; k++) {
      const argv: string[] = rnd(10) ? [names[rnd(names.length)]!] : [];
      const len = 1 + rnd(6);
      for (let j = 0; j < len; j++) argv.push(rnd(2) ? tokens[rnd(tokens.length)]! : words[rnd(words.length)]!);
      const plain = viaPlain(argv);
      if (plain === undefined) continue;
      accepted++;
      expect(plain, JSON.stringify(argv)).toEqual(viaYargs(argv));
    }
    // Enough of them parsed without yargs for the comparison to mean something.
    expect(accepted).toBeGreaterThan(100);
  });
});
