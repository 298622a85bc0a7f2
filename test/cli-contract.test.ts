/**
 * The command line as a contract: usage errors are caught before any file is
 * read or written (exit 2, one line naming the option), closed pipes end runs
 * quietly, `-o -` writes to stdout, `--version` works from anywhere.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { GLOBAL_OPTIONS, type OptionSpec } from '../src/cli/options.js';
import { openInput } from '../src/module/index.js';
import { fixture, repoRoot } from './helpers.js';
import { modbtf } from './cli-run.js';


const bin = join(repoRoot, 'bin/modbtf');
const tmp = mkdtempSync(join(tmpdir(), 'modbtf-contract-'));
const K = join(tmp, 'vmlinux.btf');
const M = join(tmp, 'tcp_bbr.ko.xz');
let original: Buffer;

beforeAll(() => {
  writeFileSync(K, spawnSync('xz', ['-dc', fixture('k612/vmlinux.btf.xz')], { maxBuffer: 1 << 26 }).stdout);
  copyFileSync(fixture('k612/modules/tcp_bbr.ko.xz'), M);
  original = readFileSync(M);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('usage errors: exit 2, one line naming the option, the module untouched', () => {
  const cases: [string[], string][] = [
    [['distill', '--base', K, M, '--forse'], 'modbtf: distill: unknown option --forse'],
    [['reconcile', '--kernel', K, M, '--stirp'], 'modbtf: reconcile: unknown option --stirp'],
    [['reconcile', '--kernel', K, '--stirp', '--forse', M], 'modbtf: reconcile: unknown options --stirp, --forse'],
    [['distill', '-B', K, '-x', M], 'modbtf: distill: unknown option -x'],
    [['check', M], 'modbtf: check: --kernel is required'],
    [['map', M], 'modbtf: map: --base is required'],
    [['extract', M], 'modbtf: extract: --output is required'],
    [['check', '--kernel', K, '--kernel'], 'modbtf: check: missing MODULE... argument'],
    [['reconcile', '--kernel', K, '--kernel', K, M], 'modbtf: reconcile: --kernel given more than once'],
    [['reconcile', '--base', K, '--kernel', K, M], 'modbtf: reconcile: --base/--kernel given more than once'],
    [['distill', '--base', K, '-B', K, M], 'modbtf: distill: --base/-B given more than once'],
    [['distill', '-B', K, '--section', '.BTF.base', '--section', '.BTF.base', M], 'modbtf: distill: --section given more than once'],
    [['extract', '-o', join(tmp, 'a'), '-o', join(tmp, 'b'), M], 'modbtf: extract: -o given more than once'],
    [['distill', '-j', 'abc', '-B', K, M], "modbtf: distill: -j: 'abc' is not a whole number >= 1"],
    [['reconcile', '--jobs', '0', '-k', K, M], "modbtf: reconcile: --jobs: '0' is not a whole number >= 1"],
    [['map', '-j', '1.5', '-B', K, M], "modbtf: map: -j: '1.5' is not a whole number >= 1"],
    [['dump', '--format', 'yaml', M], "modbtf: dump: --format: 'yaml' is not one of raw, json, c"],
    [['distill', '--section', '.BTF', '-B', K, M], "modbtf: distill: --section: '.BTF' is not one of .BTF.base_minimal, .BTF.base"],
    [['distill', '--section', '.bogus', '-B', K, M], "modbtf: distill: --section: '.bogus' is not one of .BTF.base_minimal, .BTF.base"],
    [['distill', '-B', K, '--section', M], 'modbtf: distill: missing MODULE... argument'],
    [['reconcile', '-k', '', M], 'modbtf: reconcile: -k needs a value'],
    [['distill', '-B', K, '-o', join(tmp, 'x'), '--out-dir', tmp, M], 'modbtf: distill: -o and --out-dir cannot be used together'],
    [['distill', '-B', K, '-o', join(tmp, 'x'), M, M], 'modbtf: distill: -o takes exactly one module; use --out-dir for several'],
    [['distill', '-B', K, '--sign-key', 'k.pem', M], 'modbtf: distill: --sign-key and --sign-cert go together'],
    [['reconcile', '-k', K, '-o', '-', '--json', M], 'modbtf: reconcile: -o - and --json cannot be used together (both write to stdout)'],
    [['dump', M, M], `modbtf: dump: unexpected argument '${M}'`],
    [['frobnicate', M], "modbtf: unknown command 'frobnicate'"],
    [[], 'modbtf: a command is required'],
    [['distill'], 'modbtf: distill: missing MODULE... argument'],
    [['dump', '--kernel', K, M], 'modbtf: dump: unknown option --kernel'],
  ];
  for (const [argv, line] of cases) {
    it(`modbtf ${argv.map((a) => a.replace(tmp, '$T')).join(' ')}`, async () => {
      const before = statSync(M).mtimeMs;
      const r = await modbtf(...argv);
      expect(r).toEqual({ code: 2, out: [], err: [line] });
      expect(readFileSync(M).equals(original)).toBe(true);
      expect(statSync(M).mtimeMs).toBe(before);
      expect(readdirSync(tmp).sort()).toEqual(['tcp_bbr.ko.xz', 'vmlinux.btf']);
    });
  }

  it('through bin/modbtf too: the typo is refused before the module is rewritten', () => {
    const r = spawnSync(process.execPath, [bin, 'distill', '--base', K, M, '--forse'], { encoding: 'utf8' });
    expect([r.status, r.stdout, r.stderr]).toEqual([2, '', 'modbtf: distill: unknown option --forse\n']);
    expect(readFileSync(M).equals(original)).toBe(true);
  });
});

describe('an option every command takes is one entry in GLOBAL_OPTIONS', () => {
  it('parsed before or after the command, checked, documented', async () => {
    const spec: OptionSpec = { name: 'test-limit', type: 'int', min: 1, value: 'N', describe: 'a limit for the test' };
    (GLOBAL_OPTIONS as OptionSpec[]).push(spec);
    try {
      expect(await modbtf('inspect', '--test-limit', 'x', M)).toEqual({ code: 2, out: [], err: ["modbtf: inspect: --test-limit: 'x' is not a whole number >= 1"] });
      expect(await modbtf('--test-limit', '1', '--test-limit', '2', 'dump', M)).toEqual({ code: 2, out: [], err: ['modbtf: dump: --test-limit given more than once'] });
      expect((await modbtf('--test-limit', '3', 'inspect', M)).code).toBe(0);
      expect((await modbtf('inspect', M, '--test-limit', '3')).code).toBe(0);
      const help: string[] = [];
      await run(['reconcile', '--help'], { out: (l) => help.push(l), err: () => undefined });
      expect(help.join('\n')).toMatch(/--test-limit +N: a limit for the test/);
    } finally {
      (GLOBAL_OPTIONS as OptionSpec[]).pop();
    }
  });
});

describe('--kernel and --base name the kernel BTF in every command that takes one', () => {
  it('reconcile --base K uses K (not /sys/kernel/btf/vmlinux), distill --kernel K uses K', async () => {
    const d = mkdtempSync(join(tmp, 'spell-'));
    const out = join(d, 'm.ko.xz');
    const r1 = await modbtf('distill', '--kernel', K, '--json', '-o', out, M);
    expect(r1.code).toBe(0);
    expect(JSON.parse(r1.out[0]!)).toMatchObject({ file: M, ok: true, status: 'distilled', kernel: K, output: out });
    const r2 = await modbtf('reconcile', '--base', K, '--json', out);
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.out[0]!)).toMatchObject({ file: out, ok: true, status: 'reconciled', kernel: K });
    const r3 = await modbtf('check', '-B', K, '--json', out);
    expect(JSON.parse(r3.out[0]!)).toEqual({ file: out, ok: true, baseSection: '.BTF.base_minimal', results: [{ kernel: K, status: 'ok', problems: [], kernelRelocation: { status: 'ok', problems: [] } }] });
    rmSync(d, { recursive: true });
  });
});

describe('Unix manners', () => {
  const sh = (cmd: string) => spawnSync('bash', ['-c', `set -o pipefail; ${cmd}`], { encoding: 'utf8', maxBuffer: 1 << 26 });

  it('modbtf dump K | head -1: one line, no stack trace, exit 0', () => {
    const r = sh(`'${process.execPath}' '${bin}' dump '${K}' | head -1`);
    expect(r.stdout).toBe("[1] INT 'long unsigned int' size=8 bits_offset=0 nr_bits=64 encoding=(none)\n");
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('modbtf dump --format json K | head -c 20 ends quietly too', () => {
    const r = sh(`'${process.execPath}' '${bin}' dump --format json '${K}' | head -c 20`);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '{"types":[{"id":1,"k', '']);
  });

  it('modbtf inspect X... | head -1 (more output than a pipe holds)', () => {
    const plain = join(tmp, 'plain.ko');
    writeFileSync(plain, spawnSync('xz', ['-dc', M]).stdout);
    const many = Array.from({ length: 400 }, () => `'${plain}'`).join(' ');
    const r = sh(`'${process.execPath}' '${bin}' inspect ${many} | head -1`);
    rmSync(plain);
    expect(r.stdout).toBe(`${plain}: kernel module, signed, built for 6.12.117+deb13-cloud-amd64\n`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('-o - writes the module to stdout (compressed as the input), the report to stderr', async () => {
    const r = sh(`'${process.execPath}' '${bin}' distill -B '${K}' -o - '${M}' > '${tmp}/stdout.ko.xz'`);
    expect(r.status).toBe(0);
    expect(r.stderr.split('\n')).toEqual([
      `${M}: distilled: .BTF 2.47 kB -> 3.04 kB (38 -> 62 types), .BTF.base_minimal 349 B (12 types), 8 .BTF_ids slots renumbered -> stdout`,
      `modbtf: ${M}: module signature dropped (rewriting invalidates it; re-sign with --sign-key/--sign-cert)`,
      '',
    ]);
    const viaFile = join(tmp, 'file.ko.xz');
    expect((await modbtf('distill', '-B', K, '-o', viaFile, M)).code).toBe(0);
    expect(readFileSync(join(tmp, 'stdout.ko.xz')).equals(readFileSync(viaFile))).toBe(true);
    expect(readFileSync(M).equals(original)).toBe(true);
    const back = sh(`'${process.execPath}' '${bin}' reconcile -k '${K}' -o - '${viaFile}' | '${process.execPath}' '${bin}' inspect --json /dev/stdin`);
    expect(JSON.parse(back.stdout)).toMatchObject({ ok: true, kind: 'module', state: 'reconciled', compression: 'xz' });
    rmSync(viaFile);
    rmSync(join(tmp, 'stdout.ko.xz'));
  });

  it('extract -o - writes raw BTF to stdout', async () => {
    const r = spawnSync(process.execPath, [bin, 'extract', '-o', '-', M], { maxBuffer: 1 << 26 });
    expect(r.status).toBe(0);
    const elf = (await openInput(M)).elf!;
    expect(Buffer.from(r.stdout).equals(Buffer.from(elf.data(elf.section('.BTF')!)))).toBe(true);
    expect(r.stderr.toString()).toBe(`${M}: .BTF (2.47 kB) -> -\n`);
  });

  it('--version prints package.json\'s version from any directory', () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = spawnSync(process.execPath, [bin, flag], { encoding: 'utf8', cwd: tmpdir() });
      expect([r.status, r.stdout, r.stderr]).toEqual([0, `${version}\n`, '']);
    }
  });
});
