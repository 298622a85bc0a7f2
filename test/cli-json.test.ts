/** --json: one object per input on every command, failures included, the same keys for the same facts. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { fixture } from './helpers.js';

async function json(...argv: string[]): Promise<{ code: number; objs: Record<string, unknown>[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, objs: out.map((l) => JSON.parse(l) as Record<string, unknown>), err };
}

/** Set-up runs: must succeed; their output is not looked at. */
async function ok(...argv: string[]): Promise<void> {
  const code = await run(argv, { out: () => undefined, err: () => undefined });
  expect(code, argv.join(' ')).toBe(0);
}

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-json-'));
const K = join(tmp, 'vmlinux.btf');
const BAD = join(tmp, 'bad.ko');
const MISSING = join(tmp, 'missing.ko');
const mod = (m: string): string => fixture('k612/modules', `${m}.ko.xz`);
const badError = { code: 'E_NOT_BTF', message: 'not an ELF file, raw BTF, or compressed module' };
const missingError = { code: 'E_IO', message: 'cannot read: no such file' };

beforeAll(() => {
  writeFileSync(K, spawnSync('xz', ['-dc', fixture('k612/vmlinux.btf.xz')], { maxBuffer: 1 << 26 }).stdout);
  writeFileSync(BAD, 'not a module\n');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The facts every module-rewriting command reports under the same names. */
const WRITE_KEYS = ['file', 'ok', 'status', 'kernel', 'output', 'signed', 'signatureDropped'];

describe('--json', () => {
  it('distill: a success and a failure, in input order', async () => {
    const out = mkdtempSync(join(tmp, 'd-'));
    const r = await json('distill', '--json', '-j', '1', '-B', K, '--out-dir', out, mod('crc7'), BAD);
    expect(r.code).toBe(1);
    expect(r.objs).toHaveLength(2);
    expect(Object.keys(r.objs[0]!)).toEqual(expect.arrayContaining([...WRITE_KEYS, 'section', 'btfBefore', 'btfAfter', 'baseKinds']));
    expect(r.objs[0]).toMatchObject({ file: mod('crc7'), ok: true, status: 'distilled', kernel: K, output: join(out, 'crc7.ko.xz'), signed: false, signatureDropped: true });
    expect(r.objs[1]).toEqual({ file: BAD, ok: false, error: badError });
  });

  it('reconcile: reconciled, not distilled, failed; --strict makes not-distilled a failure', async () => {
    const d = mkdtempSync(join(tmp, 'r-'));
    const f = join(d, 'crc7.ko.xz');
    await ok('distill', '-B', K, '-o', f, mod('crc7'));
    const r = await json('reconcile', '--json', '-j', '1', '-k', K, f, mod('tcp_bbr'), MISSING);
    expect(r.code).toBe(1);
    expect(Object.keys(r.objs[0]!)).toEqual(expect.arrayContaining(WRITE_KEYS));
    expect(r.objs[0]).toMatchObject({ file: f, ok: true, status: 'reconciled', kernel: K, output: f, signed: false, signatureDropped: false });
    expect(r.objs[1]).toEqual({ file: mod('tcp_bbr'), ok: true, status: 'not-distilled', kernel: K, output: null, signed: true, signatureDropped: false });
    expect(r.objs[2]).toEqual({ file: MISSING, ok: false, error: missingError });
    const s = await json('reconcile', '--json', '--strict', '-k', K, mod('tcp_bbr'));
    expect(s.objs).toEqual([{ file: mod('tcp_bbr'), ok: false, error: { code: 'E_NOT_DISTILLED', message: 'not distilled (no .BTF.base_minimal or .BTF.base): nothing to do' } }]);
    expect(s.code).toBe(1);
  });

  it('map: a module whose BTF is split already is a failure object', async () => {
    const r = await json('map', '--json', '-B', K, '-o', join(tmp, 'x.ko'), mod('crc7'));
    expect(r.objs).toEqual([{ file: mod('crc7'), ok: false, error: { code: 'E_MAP', message: '.BTF: .BTF is not standalone BTF (it is split already): nothing to map', section: '.BTF' } }]);
    expect(r.code).toBe(1);
  });

  it('check: ok, cannot be reconciled, unreadable', async () => {
    const d = mkdtempSync(join(tmp, 'c-'));
    const f = join(d, 'af_key.ko.xz');
    await ok('distill', '-B', K, '-o', f, mod('af_key'));
    const small = join(d, 'small.btf');
    // A kernel BTF that lacks what af_key needs: crc7's distilled base.
    const crc7 = join(d, 'crc7.ko.xz');
    await ok('distill', '-B', K, '--section', '.BTF.base', '-o', crc7, mod('crc7'));
    await ok('extract', '--section', '.BTF.base', '-o', small, crc7);
    const r = await json('check', '--json', '-k', K, '-k', small, f, BAD);
    expect(r.code).toBe(1);
    expect(r.objs[0]).toMatchObject({ file: f, ok: false, error: { code: 'E_RELOCATE', message: 'cannot be reconciled onto 1 of 2 kernels' } });
    const results = r.objs[0]!.results as { kernel: string; status: string }[];
    expect(results.map((c) => [c.kernel, c.status])).toEqual([[K, 'ok'], [small, 'fail']]);
    expect(r.objs[1]).toEqual({ file: BAD, ok: false, error: badError });
  });

  it('inspect: what the file is, and failures', async () => {
    const r = await json('inspect', '--json', mod('crc7'), K, MISSING);
    expect(r.code).toBe(1);
    expect(r.objs[0]).toMatchObject({ file: mod('crc7'), ok: true, kind: 'module', format: 'elf', compression: 'xz', signed: true, state: 'split', kernelRelease: '6.12.117+deb13-cloud-amd64' });
    expect(r.objs[1]).toMatchObject({ file: K, ok: true, kind: 'kernel-btf', format: 'btf', state: 'standalone' });
    expect(r.objs[2]).toEqual({ file: MISSING, ok: false, error: missingError });
  });

  it('extract: the section written, or the failure', async () => {
    const out = join(tmp, 'crc7.btf');
    const r = await json('extract', '--json', '-o', out, mod('crc7'));
    expect(r.objs).toEqual([{ file: mod('crc7'), ok: true, section: '.BTF', size: 128, output: out }]);
    const f = await json('extract', '--json', '--section', '.BTF.base', '-o', out, mod('crc7'));
    expect(f.objs).toEqual([{ file: mod('crc7'), ok: false, error: { code: 'E_NO_BTF', message: '.BTF.base: no .BTF.base section', section: '.BTF.base' } }]);
    expect(f.code).toBe(1);
  });

  it('dump --format json: bpftool\'s shape, or the failure object', async () => {
    const r = await json('dump', '--format', 'json', MISSING);
    expect(r.objs).toEqual([{ file: MISSING, ok: false, error: missingError }]);
    expect(r.err).toEqual([`modbtf: ${MISSING}: cannot read: no such file`]);
  });
});

describe('batch output', () => {
  it('several modules: one summary line for dropped signatures', async () => {
    const d = mkdtempSync(join(tmp, 'b-'));
    for (const m of ['crc7', 'tcp_bbr', 'af_key']) copyFileSync(mod(m), join(d, `${m}.ko.xz`));
    const r = await json('distill', '--json', '-j', '1', '-B', K, '-r', d);
    expect(r.code).toBe(0);
    expect(r.objs.map((o) => o.signatureDropped)).toEqual([true, true, true]);
    expect(r.err).toEqual(['modbtf: 3 module signatures dropped (rewriting invalidates them; re-sign with --sign-key/--sign-cert)']);
  });

  it('an empty -r directory says so', async () => {
    const d = mkdtempSync(join(tmp, 'empty-'));
    writeFileSync(join(d, 'README'), 'no modules here');
    for (const cmd of [['reconcile', '-k', K], ['distill', '-B', K], ['check', '-k', K]]) {
      const r = await json(...cmd, '-r', d);
      expect(r).toEqual({ code: 1, objs: [], err: [`modbtf: ${d}: no modules (*.ko, *.ko.xz, *.ko.zst, *.ko.gz) under this directory`] });
    }
  });
});
