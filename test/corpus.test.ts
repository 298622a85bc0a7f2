/**
 * Differential tests over ../shared/corpus: every module distilled and
 * reconciled must equal libbpf v1.7.0's output byte for byte.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { loadBaseBtf } from '../src/btf/load.js';
import { distillModule } from '../src/distill/module.js';
import { ElfFile, editElf } from '../src/elf/index.js';
import { ModbtfError } from '../src/errors.js';
import { openInput } from '../src/module/index.js';
import { checkModule, reconcileModule } from '../src/reconcile/module.js';
import { corpus, haveCorpus } from './helpers.js';

const MODULES = haveCorpus
  ? readdirSync(corpus('k612cloud/modules')).filter((f) => f.endsWith('.ko.xz')).map((f) => f.slice(0, -6)).sort()
  : [];
const golden = (m: string, what: string): Buffer => readFileSync(corpus('k612cloud/golden', `${m}.${what}`));
const sec = (elf: ElfFile, name: string): Buffer => Buffer.from(elf.data(elf.section(name)!));

describe.skipIf(!haveCorpus)('corpus: distill and reconcile equal libbpf', () => {
  let vmlinux: Btf;
  let perm: Btf;
  let host618: Btf;
  const elves = new Map<string, ElfFile>();
  const distilled = new Map<string, ElfFile>();

  beforeAll(async () => {
    vmlinux = await loadBaseBtf(corpus('k612cloud/vmlinux.btf'));
    perm = await loadBaseBtf(corpus('k612cloud-perm/vmlinux.btf'));
    host618 = await loadBaseBtf(corpus('host618/vmlinux.btf'));
    for (const m of MODULES) elves.set(m, (await openInput(corpus('k612cloud/modules', `${m}.ko.xz`))).elf!);
  });

  it('has the 53 modules', () => {
    expect(MODULES.length).toBe(53);
  });

  it('distill --section .BTF.base: .BTF.base == <mod>.base.raw and .BTF == <mod>.split.raw', () => {
    for (const m of MODULES) {
      const r = distillModule(elves.get(m)!, vmlinux, { section: '.BTF.base', file: m });
      const out = ElfFile.parse(r.elf, m);
      expect(sec(out, '.BTF.base').equals(golden(m, 'base.raw')), `${m} base`).toBe(true);
      expect(sec(out, '.BTF').equals(golden(m, 'split.raw')), `${m} split`).toBe(true);
      distilled.set(m, out);
    }
  });

  it('.BTF_ids slots follow the renumbering', () => {
    // tcp_bbr's kfunc set: every slot still names the same function after distill.
    for (const m of ['tcp_bbr', 'nf_conntrack', 'fou', 'nf_flow_table', 'nf_nat', 'xfrm_interface']) {
      const before = elves.get(m)!;
      const after = distilled.get(m)!;
      const orig = Btf.parse(sec(before, '.BTF'), { base: vmlinux });
      const dist = Btf.parse(sec(after, '.BTF.base'));
      const split = Btf.parse(sec(after, '.BTF'), { base: dist });
      const a = sec(before, '.BTF_ids');
      const b = sec(after, '.BTF_ids');
      expect(b.length).toBe(a.length);
      let named = 0;
      const idsSec = before.section('.BTF_ids')!;
      for (const s of before.symbols()) {
        if (s.shndx !== idsSec.index || !s.name.startsWith('__BTF_ID__') || s.name.startsWith('__BTF_ID__set')) continue;
        const off = Number(s.value);
        const oldId = a.readUInt32LE(off);
        const newId = b.readUInt32LE(off);
        expect(split.name(newId), `${m} ${s.name}`).toBe(orig.name(oldId));
        expect(split.kind(newId)).toBe(orig.kind(oldId));
        named++;
      }
      expect(named).toBeGreaterThan(0);
    }
  });

  it('reconcile onto k612 and k612-perm equals btf__relocate(); again from the reconciled module too', () => {
    for (const m of MODULES) {
      const d = distilled.get(m)!;
      const r = reconcileModule(d, vmlinux, { file: m });
      if (r.status !== 'reconciled') throw new Error(m);
      const rec = ElfFile.parse(r.elf, m);
      expect(sec(rec, '.BTF').equals(golden(m, 'reloc-k612.raw')), `${m} k612`).toBe(true);
      expect(rec.section('.BTF.base'), `${m} keeps no .BTF.base`).toBeUndefined();
      const direct = reconcileModule(d, perm, { file: m });
      const again = reconcileModule(rec, perm, { file: m });
      if (direct.status !== 'reconciled' || again.status !== 'reconciled') throw new Error(m);
      const de = ElfFile.parse(direct.elf, m);
      const ae = ElfFile.parse(again.elf, m);
      expect(sec(de, '.BTF').equals(golden(m, 'reloc-k612perm.raw')), `${m} perm`).toBe(true);
      expect(sec(ae, '.BTF').equals(sec(de, '.BTF')), `${m} again`).toBe(true);
      if (de.section('.BTF_ids')) expect(sec(ae, '.BTF_ids').equals(sec(de, '.BTF_ids'))).toBe(true);
    }
  });

  it('onto host618 every module fails, naming the type libbpf names (and the others)', () => {
    let total = 0;
    for (const m of MODULES) {
      const err = golden(m, 'reloc-host618.err').toString();
      const [, name, id] = /type '([^']*)' \[(\d+)\]/.exec(err)!;
      let e: unknown;
      try {
        reconcileModule(distilled.get(m)!, host618, { file: m });
      } catch (x) {
        e = x;
      }
      expect(e, m).toBeInstanceOf(ModbtfError);
      const msg = (e as ModbtfError).describe();
      expect(msg).toContain(`'${name}' [${id}]`);
      expect((e as ModbtfError).code).toBe('E_RELOCATE');
      const c = checkModule(distilled.get(m)!, host618, { file: m });
      expect(c.status).toBe('fail');
      total += c.problems.length;
    }
    expect(total).toBeGreaterThan(MODULES.length);
  });

  it('rewriting .BTF with its own bytes and adding a section keeps the ELF valid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'modbtf-elf-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    for (const m of MODULES) {
      const elf = elves.get(m)!;
      const out = editElf(elf, {
        replace: new Map([['.BTF', sec(elf, '.BTF')]]),
        add: [{ name: '.modbtf.test', data: Uint8Array.of(0x5a) }],
      });
      const p = join(dir, `${m}.ko`);
      writeFileSync(p, out);
      const re = spawnSync('readelf', ['-a', '-W', p], { encoding: 'utf8', maxBuffer: 1 << 28 });
      expect(re.status, m).toBe(0);
      expect(re.stderr, m).toBe('');
      const after = ElfFile.parse(out, m);
      expect(after.sections.length).toBe(elf.sections.length + 1);
      for (const s of elf.sections) {
        const t = after.sections[s.index]!;
        expect(t.name).toBe(s.name);
        const was = Buffer.from(elf.data(s));
        const now = Buffer.from(after.data(t));
        // The section name table gains the new name at its end; everything else is unchanged.
        if (s.index === elf.shstrndx) expect(now.subarray(0, was.length).equals(was)).toBe(true);
        else expect(now.equals(was), `${m} ${s.name}`).toBe(true);
      }
      const dumped = join(dir, `${m}.new`);
      const oc = spawnSync('objcopy', [`--dump-section`, `.modbtf.test=${dumped}`, p, join(dir, 'scratch.o')], { encoding: 'utf8' });
      expect(oc.status, oc.stderr).toBe(0);
      expect([...readFileSync(dumped)]).toEqual([0x5a]);
    }
  });
});
