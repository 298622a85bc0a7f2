/** Mapping standalone BTF onto vmlinux, and folding reconciled copies back (dedup). */
import { readFileSync, readdirSync } from 'node:fs';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { loadBaseBtf } from '../src/btf/load.js';
import { dedupAgainstBase, mapOntoBase, toStandalone } from '../src/map/map.js';
import { openInput } from '../src/module/index.js';
import { corpus, fixture, haveCorpus } from './helpers.js';

/** A type as text: names resolved, base ids as they are, split ids relative to the split. */
function canon(b: Btf, id: number): string {
  const o = b.off(id);
  const ids = new Set<number>();
  const strs = new Set<number>();
  b.forEachIdField(id, (p) => ids.add(p - o));
  b.forEachStrField(id, (p) => strs.add(p - o));
  const parts: string[] = [];
  for (let i = 0; i < b.recordSize(id); i += 4) {
    const v = b.u32(o + i);
    if (strs.has(i)) parts.push(JSON.stringify(b.str(v)));
    else if (ids.has(i)) parts.push(v >= b.startId ? `s${v - b.startId}` : `b${v}`);
    else parts.push(String(v));
  }
  return parts.join(' ');
}

function sameTypes(a: Btf, b: Btf): boolean {
  if (a.nrTypes !== b.nrTypes) return false;
  for (let i = 0; i < a.nrTypes; i++) if (canon(a, a.startId + i) !== canon(b, b.startId + i)) return false;
  return true;
}

async function moduleBtf(path: string, base: Btf): Promise<Btf> {
  const elf = (await openInput(path)).elf!;
  return Btf.parse(elf.data(elf.section('.BTF')!), { base });
}

describe('map on the fixtures', () => {
  let vm: Btf;
  beforeAll(async () => {
    vm = await loadBaseBtf(fixture('k612/vmlinux.btf.xz'));
  });
  it('split -> standalone -> mapped gives back the same types', async () => {
    for (const m of ['crc7', 'tcp_bbr', 'af_key']) {
      const orig = await moduleBtf(fixture('k612/modules', `${m}.ko.xz`), vm);
      const sa = toStandalone(orig);
      expect(sa.base).toBeNull();
      expect(sa.nrTypes).toBeGreaterThan(orig.nrTypes);
      const r = mapOntoBase(sa, vm);
      expect(sameTypes(r.split, orig), m).toBe(true);
      expect(r.kept).toBe(orig.nrTypes);
      // Strings are laid out anew in first-use order, so bytes match only where pahole's order agrees.
      if (m === 'crc7') expect(Buffer.from(r.split.toBytes()).equals(Buffer.from(orig.toBytes())), m).toBe(true);
    }
  });
  it('dedup folds the copies reconcile left back into the kernel', () => {
    const rel = Btf.parse(readFileSync(fixture('k612/golden/af_key.reloc-k612.raw')), { base: vm });
    const d = dedupAgainstBase(rel);
    expect(d.folded).toBeGreaterThan(0);
    expect(d.bytesSaved).toBe(rel.toBytes().length - d.btf.toBytes().length);
    expect(d.btf.toBytes().length).toBeLessThan(rel.toBytes().length);
  });
});

describe.skipIf(!haveCorpus)('map over the 53 corpus modules', () => {
  it('standalone -> mapped: same types as the original .BTF; dedup no larger than the original', async () => {
    const vm = await loadBaseBtf(corpus('k612cloud/vmlinux.btf'));
    const mods = readdirSync(corpus('k612cloud/modules')).map((f) => f.replace('.ko.xz', '')).sort();
    let same = 0;
    let bytes = 0;
    let smaller = 0;
    const differ: string[] = [];
    for (const m of mods) {
      const orig = await moduleBtf(corpus('k612cloud/modules', `${m}.ko.xz`), vm);
      const r = mapOntoBase(toStandalone(orig), vm);
      if (sameTypes(r.split, orig)) same++;
      else differ.push(`${m} (${orig.nrTypes} -> ${r.split.nrTypes})`);
      if (Buffer.from(r.split.toBytes()).equals(Buffer.from(orig.toBytes()))) bytes++;
      // Every mapped-away type really is in vmlinux: nothing the original kept is lost beyond that.
      expect(r.split.nrTypes, m).toBeLessThanOrEqual(orig.nrTypes);
      const rel = Btf.parse(readFileSync(corpus('k612cloud/golden', `${m}.reloc-k612.raw`)), { base: vm });
      if (dedupAgainstBase(rel).btf.toBytes().length <= orig.toBytes().length) smaller++;
    }
    console.log(`map: ${same}/53 same types as the original .BTF, ${bytes} byte-identical${differ.length ? `; differing: ${differ.join(', ')}` : ''}; dedup <= original: ${smaller}/53`);
    expect(same).toBe(53);
    expect(smaller).toBeGreaterThanOrEqual(45);
  });
});

describe('modbtf map / distill on standalone module BTF', () => {
  it('map writes split BTF on vmlinux; distill maps by itself; a split module is refused', async () => {
    const { run } = await import('../src/cli/main.js');
    const { editElf } = await import('../src/elf/index.js');
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const vm = await loadBaseBtf(fixture('k612/vmlinux.btf.xz'));
    const input = await openInput(fixture('k612/modules/tcp_bbr.ko.xz'));
    const elf = input.elf!;
    const orig = Btf.parse(elf.data(elf.section('.BTF')!), { base: vm });
    const dir = mkdtempSync(join(tmpdir(), 'modbtf-map-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const f = join(dir, 'tcp_bbr.ko');
    // Built without vmlinux, resolve_btfids never ran: .BTF_ids slots are still zero.
    const ids = new Uint8Array(elf.section('.BTF_ids')!.size);
    writeFileSync(f, editElf(elf, { replace: new Map([['.BTF', toStandalone(orig).toBytes()], ['.BTF_ids', ids]]) }));
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const g = join(dir, 'tcp_bbr.distilled.ko');
    expect(await run(['distill', '-B', fixture('k612/vmlinux.btf.xz'), '-o', g, f], io), err.join('\n')).toBe(0);
    expect(out[0]).toMatch(/^.*tcp_bbr\.ko: standalone BTF mapped onto the base: \d+ types are the kernel's, 38 kept$/);
    expect(await run(['map', '-B', fixture('k612/vmlinux.btf.xz'), f], io)).toBe(0);
    const mapped = (await openInput(f)).elf!;
    const split = Btf.parse(mapped.data(mapped.section('.BTF')!), { base: vm });
    expect(sameTypes(split, orig)).toBe(true);
    err.length = 0;
    expect(await run(['map', '-B', fixture('k612/vmlinux.btf.xz'), f], io)).toBe(1);
    expect(err).toEqual([`modbtf: ${f}: .BTF: .BTF is not standalone BTF (it is split already): nothing to map`]);
  });
});
