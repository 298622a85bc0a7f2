/** `modbtf dump --format c`, and distilled modules dumped on their own base in every format. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { dumpJson, dumpRaw, toJsonText } from '../src/btf/dump.js';
import { run } from '../src/cli/main.js';
import { fixture, repoRoot } from './helpers.js';

interface Ran { code: number; out: string; err: string[] }
/** Run modbtf in-process; what goes to stdout is kept as one latin1 string. */
async function modbtf(...argv: string[]): Promise<Ran> {
  let out = '';
  const err: string[] = [];
  const code = await run(argv, { out: (l) => { out += `${l}\n`; }, raw: (t) => { out += t; }, err: (l) => err.push(l) });
  return { code, out, err };
}

const sha = (text: string): string => createHash('sha256').update(Buffer.from(text, 'latin1')).digest('hex');
const expectedSha = new Map(readFileSync(fixture('dumpc/k612.sha256'), 'utf8').trim().split('\n').map((l) => {
  const [h, name] = l.split(/\s+/);
  return [name!, h!];
}));

const haveBpftool = spawnSync('bpftool', ['version']).status === 0;
const tmp = mkdtempSync(join(tmpdir(), 'modbtf-dumpc-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const VMLINUX = fixture('k612/vmlinux.btf.xz');
const MODS = ['crc7', 'tcp_bbr', 'af_key'];
const distilled = (m: string): string => join(tmp, 'distilled', `${m}.ko.xz`);
const reconciled = (m: string): string => join(tmp, 'reconciled', `${m}.ko.xz`);

beforeAll(async () => {
  const mods = MODS.map((m) => fixture('k612/modules', `${m}.ko.xz`));
  mkdirSync(join(tmp, 'distilled'));
  mkdirSync(join(tmp, 'reconciled'));
  const quiet = { out: () => undefined, err: () => undefined, signatureDropped: () => undefined };
  expect(await run(['distill', '-B', VMLINUX, '--out-dir', join(tmp, 'distilled'), ...mods], quiet)).toBe(0);
  expect(await run(['reconcile', '-k', VMLINUX, '--out-dir', join(tmp, 'reconciled'), ...MODS.map(distilled)], quiet)).toBe(0);
});

describe('dump --format c', () => {
  it('vmlinux: the header bpftool prints, streamed', async () => {
    const r = await modbtf('dump', '--format', 'c', VMLINUX);
    expect(r.code).toBe(0);
    expect(sha(r.out)).toBe(expectedSha.get('vmlinux.h'));
  });

  it('a module with --base: bpftool -B output', async () => {
    const r = await modbtf('dump', '--format', 'c', '--base', VMLINUX, fixture('k612/modules/tcp_bbr.ko.xz'));
    expect(r.code).toBe(0);
    expect(sha(r.out)).toBe(expectedSha.get('tcp_bbr.h'));
  });

  it('without a stdout sink of raw text, one out() call holds the header', async () => {
    const out: string[] = [];
    const code = await run(['dump', '--format', 'c', fixture('k612/golden/crc7.base.raw')], { out: (l) => out.push(l), err: () => undefined });
    expect(code).toBe(0);
    expect(out).toHaveLength(1);
    expect(out[0]!.startsWith('#ifndef __VMLINUX_H__\n')).toBe(true);
    expect(out[0]!.endsWith('#endif /* __VMLINUX_H__ */')).toBe(true);
  });

  it('through bin/modbtf into a pipe closed early: quiet, exit 0', () => {
    const bin = join(repoRoot, 'bin/modbtf');
    const r = spawnSync('sh', ['-c', `'${process.execPath}' '${bin}' dump --format c '${VMLINUX}' | head -2`], { encoding: 'utf8' });
    expect(r.stdout).toBe('#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('distilled modules', () => {
  it('are dumped on their own distilled base in every format (no --base)', async () => {
    for (const m of MODS) {
      const base = Btf.parse(readFileSync(fixture(`k612/golden/${m}.base.raw`)));
      const split = Btf.parse(readFileSync(fixture(`k612/golden/${m}.split.raw`)), { base });
      const c = await modbtf('dump', '--format', 'c', distilled(m));
      expect(c.code, m).toBe(0);
      expect(c.out, m).toBe(readFileSync(fixture(`dumpc/${m}.distilled.h`), 'latin1'));
      const raw = await modbtf('dump', distilled(m));
      const lines: string[] = [];
      dumpRaw(split, (l) => lines.push(l));
      expect(raw.out, m).toBe(lines.length ? `${lines.join('\n')}\n` : '');
      const json = await modbtf('dump', '--format', 'json', distilled(m));
      expect(json.out, m).toBe(`${toJsonText(dumpJson(split))}\n`);
    }
  });

  it('a reconciled module is dumped on its distilled base too, without --base', async () => {
    for (const m of MODS) {
      const c = await modbtf('dump', '--format', 'c', reconciled(m));
      expect(c.out, m).toBe(readFileSync(fixture(`dumpc/${m}.distilled.h`), 'latin1'));
    }
  });

  it('with the --base they were built on: relocated onto it, as bpftool prints the reconciled module', async () => {
    for (const m of MODS) {
      for (const f of [distilled(m), reconciled(m)]) {
        const r = await modbtf('dump', '--format', 'c', '--base', VMLINUX, f);
        expect(r.code, f).toBe(0);
        expect(sha(r.out), f).toBe(expectedSha.get(`${m}.reloc-k612.h`));
      }
    }
  });

  it('with a --base they do not fit: refused, exit 1, no header (the failure object for --format json)', async () => {
    const wrong = fixture('k612/golden/crc7.base.raw');
    for (const format of ['c', 'raw', 'json']) {
      const r = await modbtf('dump', '--format', format, '--base', wrong, distilled('tcp_bbr'));
      expect(r.code).toBe(1);
      if (format === 'json') {
        const j = JSON.parse(r.out) as { ok: boolean; error: { code: string } };
        expect(j.ok).toBe(false);
        expect(j.error.code).toBe('E_RELOCATE');
      } else {
        expect(r.out).toBe('');
      }
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(new RegExp(`^modbtf: ${distilled('tcp_bbr').replace(/[.]/g, '\\.')}: \\.BTF\\.base_minimal: distilled module does not fit --base ${wrong.replace(/[.]/g, '\\.')} \\(cannot map 8 distilled base types onto the target: 'unsigned int' \\[2\\] INT size 4: missing in the target; .*\\); dump it without --base to see it on its distilled base$`));
    }
  });
});

describe('min-core outputs', () => {
  it('committed min-core BTF: the headers bpftool prints', async () => {
    const one = await modbtf('dump', '--format', 'c', fixture('dumpc/mincore-samples.btf'));
    expect(one.code).toBe(0);
    expect(one.out).toBe(readFileSync(fixture('dumpc/mincore-samples.h'), 'latin1'));
    const split = await modbtf('dump', '--format', 'c', '--base', fixture('dumpc/mincore-split-vmlinux.btf'), fixture('dumpc/mincore-split-tcp_bbr.btf'));
    expect(split.code).toBe(0);
    expect(split.out).toBe(readFileSync(fixture('dumpc/mincore-split-tcp_bbr.h'), 'latin1'));
  });

  it.skipIf(!haveBpftool)('min-core made now from the samples: what the installed bpftool prints', async () => {
    const out = join(tmp, 'mincore.btf');
    const objs = ['fields', 'types', 'enums', 'missing'].map((o) => join(repoRoot, 'samples/bpf', `${o}.bpf.o`));
    expect((await modbtf('min-core', '-k', VMLINUX, '-o', out, ...objs)).code).toBe(0);
    const want = spawnSync('bpftool', ['btf', 'dump', 'file', out, 'format', 'c'], { encoding: 'latin1' });
    expect(want.status).toBe(0);
    expect((await modbtf('dump', '--format', 'c', out)).out).toBe(want.stdout);
  });
});
