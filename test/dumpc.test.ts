/** `dump --format c`: the C header printer against bpftool (committed expectations; live when installed). */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { dumpC, dumpCTo } from '../src/btf/dumpc.js';
import { loadBaseBtf, rawBtfOf } from '../src/btf/load.js';
import { ModbtfError } from '../src/errors.js';
import { openInput } from '../src/module/index.js';
import { kitchenSinkBtf } from './dumpc-fixture.js';
import { fixture, info, rawBtf } from './helpers.js';

const haveBpftool = spawnSync('bpftool', ['version']).status === 0;
if (!haveBpftool) console.log('note: bpftool not installed: C headers are compared with committed expectations only');

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-dumpc-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sha = (text: string): string => createHash('sha256').update(Buffer.from(text, 'latin1')).digest('hex');
const expectedSha = new Map(readFileSync(fixture('dumpc/k612.sha256'), 'utf8').trim().split('\n').map((l) => {
  const [h, name] = l.split(/\s+/);
  return [name!, h!];
}));

/** What bpftool prints for raw BTF `raw` (with base file `base`), as latin1. */
function bpftoolC(raw: Uint8Array, base?: string): string {
  const f = join(tmp, `in-${Math.random().toString(36).slice(2)}.btf`);
  writeFileSync(f, raw);
  const r = spawnSync('bpftool', ['btf', 'dump', 'file', f, ...(base ? ['-B', base] : []), 'format', 'c'], { encoding: 'latin1', maxBuffer: 1 << 28 });
  rmSync(f);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('C header printer', () => {
  const ks = kitchenSinkBtf();

  it('prints every construct as bpftool does (committed expectation)', () => {
    expect(dumpC(Btf.parse(ks))).toBe(readFileSync(fixture('dumpc/kitchen-sink.h'), 'latin1'));
  });

  it.skipIf(!haveBpftool)('prints every construct as the installed bpftool does', () => {
    expect(dumpC(Btf.parse(ks))).toBe(bpftoolC(ks));
  });

  it('streams in chunks that join to the same text', () => {
    const btf = Btf.parse(ks);
    const chunks: string[] = [];
    dumpCTo(btf, (c) => chunks.push(c), { chunkSize: 100 });
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.join('')).toBe(dumpC(btf));
  });

  it('refuses a typedef of an anonymous struct that points back to the typedef', () => {
    const btf = Btf.parse(rawBtf([
      [1, info(8), 2],
      [0, info(4, 1), 8, 3, 3, 0],
      [0, info(2), 1],
    ], ['', 't', 'p']));
    let err: unknown;
    try {
      dumpC(btf);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModbtfError);
    expect((err as ModbtfError).code).toBe('E_BTF_INVALID');
    expect((err as ModbtfError).describe()).toBe('type [2]: unsatisfiable type cycle (no C declaration order defines it)');
  });

  it('refuses chains deeper than 1024 types (one error line, no stack overflow)', () => {
    for (const deep of [1100, 100_000]) {
      const recs: number[][] = [[1, info(1), 4, 0x01000020]];
      for (let i = 0; i < deep; i++) recs.push([0, info(10), recs.length]);
      recs.push([5, info(8), recs.length]);
      const btf = Btf.parse(rawBtf(recs, ['', 'int', 't']));
      expect(() => dumpC(btf)).toThrow(`type chain deeper than 1024 (a loop, or nesting no kernel has)`);
    }
  });

  it('distilled modules on their distilled base (committed expectations)', () => {
    for (const m of ['crc7', 'tcp_bbr', 'af_key']) {
      const base = Btf.parse(readFileSync(fixture(`k612/golden/${m}.base.raw`)));
      const split = Btf.parse(readFileSync(fixture(`k612/golden/${m}.split.raw`)), { base });
      expect(dumpC(split), m).toBe(readFileSync(fixture(`dumpc/${m}.distilled.h`), 'latin1'));
    }
  });

  it('vmlinux and modules with --base: sha256 equal to bpftool\'s output', async () => {
    const vm = await loadBaseBtf(fixture('k612/vmlinux.btf.xz'));
    const text = dumpC(vm);
    expect(sha(text)).toBe(expectedSha.get('vmlinux.h'));
    expect(text.split('\n').length - 1).toBe(120244);
    for (const m of ['crc7', 'tcp_bbr', 'af_key']) {
      const input = await openInput(fixture(`k612/modules/${m}.ko.xz`));
      const btf = Btf.parse(rawBtfOf(input), { base: vm });
      expect(sha(dumpC(btf)), m).toBe(expectedSha.get(`${m}.h`));
    }
  });
});
