/**
 * Other architectures, other byte orders: Debian's arm64 7.3.4 and s390x
 * (big-endian) 7.2.11 modules distilled and reconciled must equal libbpf's
 * btf__distill_base() / btf__relocate() byte for byte (goldens made by
 * scripts/goldens/make-goldens.sh; see the README in each fixture directory).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { loadBaseBtf } from '../src/btf/load.js';
import { run } from '../src/cli/main.js';
import { distillModule } from '../src/distill/module.js';
import { ElfFile } from '../src/elf/index.js';
import { openInput } from '../src/module/index.js';
import { reconcileModule } from '../src/reconcile/module.js';
import { fixture } from './helpers.js';

const sec = (elf: ElfFile, name: string): Buffer => Buffer.from(elf.data(elf.section(name)!));
const tmp = mkdtempSync(join(tmpdir(), 'modbtf-cross-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const KERNELS = [
  { dir: 'arm64-7.3.4', littleEndian: true, machine: 183 },
  { dir: 's390x-7.2.11', littleEndian: false, machine: 22 },
];

for (const k of KERNELS) {
  const modules = readdirSync(fixture(k.dir, 'modules')).filter((f) => f.endsWith('.ko.xz')).map((f) => f.slice(0, -6)).sort();
  const golden = (m: string, what: string): Buffer => readFileSync(fixture(k.dir, 'golden', `${m}.${what}`));

  describe(`${k.dir}: distill and reconcile equal libbpf`, () => {
    let vmlinux: Btf;
    const elves = new Map<string, ElfFile>();
    beforeAll(async () => {
      vmlinux = await loadBaseBtf(fixture(k.dir, 'vmlinux.btf.xz'));
      for (const m of modules) elves.set(m, (await openInput(fixture(k.dir, 'modules', `${m}.ko.xz`))).elf!);
    });

    it('fixtures are what they say: the byte order and machine of the kernel', () => {
      expect(modules.length).toBeGreaterThanOrEqual(9);
      expect(vmlinux.littleEndian).toBe(k.littleEndian);
      for (const m of modules) {
        expect(elves.get(m)!.littleEndian, m).toBe(k.littleEndian);
        expect(elves.get(m)!.machine, m).toBe(k.machine);
      }
    });

    it('distill: .BTF.base == btf__distill_base() base, .BTF == its split; reconcile: .BTF == btf__relocate()', () => {
      for (const m of modules) {
        const d = distillModule(elves.get(m)!, vmlinux, { section: '.BTF.base', file: m });
        const out = ElfFile.parse(d.elf, m);
        expect(out.littleEndian).toBe(k.littleEndian);
        expect(sec(out, '.BTF.base').equals(golden(m, 'base.raw')), `${m} base`).toBe(true);
        expect(sec(out, '.BTF').equals(golden(m, 'split.raw')), `${m} split`).toBe(true);
        const r = reconcileModule(out, vmlinux, { file: m });
        if (r.status !== 'reconciled') throw new Error(`${m}: ${r.status}`);
        expect(sec(ElfFile.parse(r.elf, m), '.BTF').equals(golden(m, 'reloc.raw')), `${m} reloc`).toBe(true);
      }
    });

    it('through the CLI: distill then reconcile the written modules, base given as the xz-compressed BTF', async () => {
      const base = fixture(k.dir, 'vmlinux.btf.xz');
      const err: string[] = [];
      const io = { out: () => undefined, err: (l: string) => err.push(l) };
      const files = modules.map((m) => join(tmp, `${k.dir}-${m}.ko`));
      for (const [i, m] of modules.entries()) writeFileSync(files[i]!, elves.get(m)!.bytes);
      expect(await run(['distill', '-B', base, '--section', '.BTF.base', ...files], io)).toBe(0);
      for (const [i, m] of modules.entries()) {
        const e = (await openInput(files[i]!)).elf!;
        expect(sec(e, '.BTF.base').equals(golden(m, 'base.raw')), `${m} base`).toBe(true);
      }
      expect(await run(['reconcile', '-k', base, ...files], io)).toBe(0);
      for (const [i, m] of modules.entries()) {
        const e = (await openInput(files[i]!)).elf!;
        expect(sec(e, '.BTF').equals(golden(m, 'reloc.raw')), `${m} reloc`).toBe(true);
      }
      expect(err).toEqual([]);
    });
  });
}
