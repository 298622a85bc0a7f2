/**
 * Where modbtf and libbpf/the kernel disagree on purpose, and what the kernel
 * will refuse: a distilled FWD against a STRUCT/UNION target with kind_flag
 * 0 or 1 (fixtures and libbpf's own output in test/fixtures/fwd-kflag, made
 * by scripts/goldens/make-fwd-kflag.ts with btf-goldens linked to libbpf).
 */
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { distill } from '../src/distill/distill.js';
import { editElfPieces, elfBytes } from '../src/elf/index.js';
import { openInput } from '../src/module/index.js';
import { applyPlan, formatProblem, planRelocation } from '../src/reconcile/relocate.js';
import { modbtf } from './cli-run.js';
import { fixture } from './helpers.js';

const fx = (name: string): Buffer => readFileSync(fixture('fwd-kflag', name));
const TARGETS = ['struct-k0', 'struct-k1', 'union-k0', 'union-k1'] as const;
type Target = typeof TARGETS[number];

/**
 * [FWD flavour, target, what libbpf / the kernel do, what modbtf reconcile does].
 * libbpf matches a FWD onto a STRUCT when the STRUCT's kind_flag is 0 and onto
 * a UNION when the UNION's is 1, whatever the FWD's own flavour.
 */
const TABLE: ['struct' | 'union', Target, string, string][] = [
  ['struct', 'struct-k0', 'maps', 'maps'],
  ['struct', 'struct-k1', "'regulator' [1] FWD -> STRUCT [3] with bitfield encoding: the kernel's relocation refuses this (it reads the target's kind_flag 1 as a union; modbtf reconcile maps it)", 'maps'],
  ['struct', 'union-k0', "'regulator' [1] FWD: kind differs (fwd struct): the target has UNION [3] size 4", "'regulator' [1] FWD: kind differs (fwd struct): the target has UNION [3] size 4"],
  ['struct', 'union-k1', 'maps', "'regulator' [1] FWD: kind differs (fwd struct): the target has UNION [3] size 4"],
  ['union', 'struct-k0', 'maps', "'regulator' [1] FWD: kind differs (fwd union): the target has STRUCT [3] size 4"],
  ['union', 'struct-k1', "'regulator' [1] FWD: kind differs (fwd union): the target has STRUCT [3] size 4", "'regulator' [1] FWD: kind differs (fwd union): the target has STRUCT [3] size 4"],
  ['union', 'union-k0', "'regulator' [1] FWD -> UNION [3] without bitfield encoding: the kernel's relocation refuses this (it reads the target's kind_flag 0 as a struct; modbtf reconcile maps it)", 'maps'],
  ['union', 'union-k1', 'maps', 'maps'],
];

describe('a distilled FWD on STRUCT/UNION targets with kind_flag 0 and 1', () => {
  for (const [flavour, tgt, kernel, mine] of TABLE) {
    const golden = `${flavour}-on-${tgt}`;
    it(`FWD (${flavour}) on ${tgt}: libbpf ${kernel === 'maps' ? 'maps' : 'refuses'}, modbtf ${mine === 'maps' ? 'maps' : 'refuses'}`, () => {
      const base = Btf.parse(fx(`base-${flavour}.btf`));
      const mod = Btf.parse(fx('module.btf'), { base });
      const target = Btf.parse(fx(`${tgt}.btf`));
      // distill equals libbpf's btf__distill_base()
      const d = distill(mod);
      expect(Buffer.from(d.base.toBytes()).equals(fx(`${golden}.base.raw`))).toBe(true);
      expect(Buffer.from(d.split.toBytes()).equals(fx(`${golden}.split.raw`))).toBe(true);
      const split = Btf.parse(fx(`${golden}.split.raw`), { base: Btf.parse(fx(`${golden}.base.raw`)) });
      // the kernel's rules give libbpf's verdict, and libbpf's bytes when it maps
      const k = planRelocation(split, target, { rules: 'kernel' });
      expect(existsSync(fixture('fwd-kflag', `${golden}.reloc.raw`))).toBe(kernel === 'maps');
      if (kernel === 'maps') {
        expect(k.problems).toEqual([]);
        expect(Buffer.from(applyPlan(split, target, k).btf.toBytes()).equals(fx(`${golden}.reloc.raw`))).toBe(true);
      } else {
        expect(k.problems.map(formatProblem)).toEqual([kernel]);
        expect(fx(`${golden}.reloc.err`).toString()).toContain("distilled base BTF type 'regulator' [1] is not mapped to base BTF id");
      }
      // modbtf's rules: by the FWD's flavour; where it maps, the bytes are libbpf's for the same target with the other kind_flag
      const m = planRelocation(split, target);
      if (mine === 'maps') {
        expect(m.problems).toEqual([]);
        const same = `${flavour}-on-${tgt.slice(0, -1)}${flavour === 'struct' ? '0' : '1'}.reloc.raw`;
        expect(Buffer.from(applyPlan(split, target, m).btf.toBytes()).equals(fx(same))).toBe(true);
      } else {
        expect(m.problems.map(formatProblem)).toEqual([mine]);
      }
    });
  }
});

describe('check and distill name the kernel\'s refusal', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'modbtf-fwd-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** crc7.ko with .BTF replaced by the fixture module's BTF (split on base-<flavour>.btf). */
  async function moduleFile(name: string): Promise<string> {
    const elf = (await openInput(fixture('k612/modules/crc7.ko.xz'))).elf!;
    const out = editElfPieces(elf, { replace: new Map([['.BTF', new Uint8Array(fx('module.btf'))]]) });
    const path = join(tmp, name);
    writeFileSync(path, elfBytes(out));
    return path;
  }

  it('distill --section .BTF.base warns about the FWD; check shows both verdicts, text and JSON', async () => {
    const f = await moduleFile('m.ko');
    const d = await modbtf('distill', '--base', fixture('fwd-kflag/base-struct.btf'), '--section', '.BTF.base', f);
    expect(d.code).toBe(0);
    expect(d.err).toEqual([`modbtf: ${f}: warning: .BTF.base holds FWD 'regulator' (struct): the kernel's own relocation at load matches a FWD by the target's kind_flag, not by its struct/union flavour, and refuses it on a kernel that defines the struct with bitfields (or the union without); \`modbtf check\` names those kernels, \`modbtf reconcile\` maps it`]);
    const k1 = fixture('fwd-kflag/struct-k1.btf');
    const k0 = fixture('fwd-kflag/struct-k0.btf');
    const c = await modbtf('check', '--kernel', k1, '--kernel', k0, f);
    expect(c.code).toBe(0);
    const w = Math.max(6, f.length);
    expect(c.out).toEqual([
      ['module'.padEnd(w), k1, k0].join('  '),
      [f.padEnd(w), 'ok, at load FAIL (1)'.padEnd(k1.length), 'ok'].join('  '),
      '',
      `${f} on ${k1}, the kernel's own relocation of .BTF.base at load: FAIL (1)`,
      "  'regulator' [1] FWD -> STRUCT [3] with bitfield encoding: the kernel's relocation refuses this (it reads the target's kind_flag 1 as a union; modbtf reconcile maps it)",
    ]);
    const j = await modbtf('check', '--json', '--kernel', k1, '--kernel', k0, f);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.out[0]!)).toEqual({
      file: f, ok: true, baseSection: '.BTF.base',
      results: [
        {
          kernel: k1, status: 'ok', problems: [],
          kernelRelocation: { status: 'fail', problems: ["'regulator' [1] FWD -> STRUCT [3] with bitfield encoding: the kernel's relocation refuses this (it reads the target's kind_flag 1 as a union; modbtf reconcile maps it)"] },
        },
        { kernel: k0, status: 'ok', problems: [], kernelRelocation: { status: 'ok', problems: [] } },
      ],
    });
    // and reconcile maps it
    const r = await modbtf('reconcile', '--kernel', k1, '-o', join(tmp, 'r.ko'), f);
    expect(r.code).toBe(0);
  });

  it('distill into .BTF.base_minimal does not warn (reconcile, not the kernel, maps it)', async () => {
    const f = await moduleFile('n.ko');
    const d = await modbtf('distill', '--base', fixture('fwd-kflag/base-struct.btf'), f);
    expect(d.code).toBe(0);
    expect(d.err).toEqual([]);
  });
});

describe('inspect states the byte order of the BTF it shows', () => {
  it('big-endian (s390x) and little-endian (arm64) modules, text and JSON', async () => {
    const be = fixture('s390x-7.2.11/modules/aegis128.ko.xz');
    const le = fixture('arm64-7.3.4/modules/aegis128.ko.xz');
    const r = await modbtf('inspect', be, le);
    expect(r.out.filter((l) => l.startsWith('  BTF: '))).toEqual([
      '  BTF: split BTF on the vmlinux it was built against, big-endian',
      '  BTF: split BTF on the vmlinux it was built against, little-endian',
    ]);
    const j = await modbtf('inspect', '--json', be, le);
    expect(j.out.map((l) => JSON.parse(l).byteOrder)).toEqual(['big-endian', 'little-endian']);
  });
});

describe("arm64 aegis128: a module's own FLOAT 'long double'", () => {
  it('is accepted, and distill and reconcile equal libbpf byte for byte', async () => {
    const { loadBaseBtf } = await import('../src/btf/load.js');
    const { distillModule } = await import('../src/distill/module.js');
    const { reconcileModule } = await import('../src/reconcile/module.js');
    const { ElfFile } = await import('../src/elf/index.js');
    const dir = 'arm64-7.3.4';
    const vmlinux = await loadBaseBtf(fixture(dir, 'vmlinux.btf.xz'));
    const elf = (await openInput(fixture(dir, 'modules/aegis128.ko.xz'))).elf!;
    const own = Btf.parse(elf.data(elf.section('.BTF')!), { base: vmlinux });
    const floats: string[] = [];
    for (let id = own.startId; id < own.typeCount; id++) if (own.kind(id) === 16) floats.push(own.name(id));
    expect(floats).toEqual(['long double']);
    const g = (what: string): Buffer => readFileSync(fixture(dir, 'golden', `aegis128.${what}`));
    const sec = (e: InstanceType<typeof ElfFile>, n: string): Buffer => Buffer.from(e.data(e.section(n)!));
    const d = ElfFile.parse(distillModule(elf, vmlinux, { section: '.BTF.base' }).elf);
    expect(sec(d, '.BTF.base').equals(g('base.raw'))).toBe(true);
    expect(sec(d, '.BTF').equals(g('split.raw'))).toBe(true);
    const r = reconcileModule(d, vmlinux);
    if (r.status !== 'reconciled') throw new Error(r.status);
    expect(sec(ElfFile.parse(r.elf), '.BTF').equals(g('reloc.raw'))).toBe(true);
  });
});
