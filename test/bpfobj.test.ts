/** BPF objects: .BTF.ext parsing (both byte orders) and objects embedded in program binaries. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  coreReloKindName, findEmbeddedBpfObjects, parseBtfExt, readBpfObject, readBpfObjects,
} from '../src/bpfobj/object.js';
import { ModbtfError } from '../src/errors.js';
import { fixture } from './helpers.js';

const load = (name: string): Uint8Array => new Uint8Array(readFileSync(fixture('bpfobj', name)));

// What clang 14 emitted for core_kinds.bpf.c (one record per builtin, in source order).
const EXPECTED_RELOS = [
  ['kprobe/do_nothing', 0, 'FIELD_BYTE_OFFSET', 'task_struct', '0:1'],
  ['kprobe/do_nothing', 32, 'FIELD_BYTE_SIZE', 'task_struct', '0:2'],
  ['kprobe/do_nothing', 48, 'FIELD_EXISTS', 'task_struct', '0:3'],
  ['kprobe/do_nothing', 64, 'FIELD_SIGNED', 'task_struct', '0:0'],
  ['kprobe/do_nothing', 80, 'FIELD_LSHIFT_U64', 'sock', '0:2'],
  ['kprobe/do_nothing', 96, 'FIELD_RSHIFT_U64', 'sock', '0:2'],
  ['kprobe/do_nothing', 112, 'FIELD_BYTE_OFFSET', 'sock', '0:0:0'],
  ['kprobe/do_nothing', 128, 'FIELD_BYTE_OFFSET', 'dentry', '0:0:0:0:1'],
  ['kprobe/do_nothing', 144, 'FIELD_BYTE_OFFSET', 'task_struct', '0:2:3'],
  ['kprobe/do_nothing', 160, 'FIELD_BYTE_OFFSET', 'task_struct', '0:4:1'],
  ['kprobe/do_nothing', 176, 'FIELD_EXISTS', 'task_struct___old', '0:0'],
  ['kprobe/do_nothing', 192, 'FIELD_EXISTS', 'task_struct___new', '0:0'],
  ['kprobe/do_nothing', 208, 'FIELD_BYTE_SIZE', 'dentry', '0:1'],
  ['tracepoint/sched/sched_switch', 0, 'TYPE_EXISTS', 'task_struct', '0'],
  ['tracepoint/sched/sched_switch', 32, 'TYPE_SIZE', 'task_struct', '0'],
  ['tracepoint/sched/sched_switch', 48, 'TYPE_EXISTS', 'no_such_struct_xyz', '0'],
  ['tracepoint/sched/sched_switch', 64, 'TYPE_ID_LOCAL', 'task_struct', '0'],
  ['tracepoint/sched/sched_switch', 88, 'TYPE_ID_TARGET', 'task_struct', '0'],
  ['tracepoint/sched/sched_switch', 112, 'ENUMVAL_EXISTS', 'pid_type', '1'],
  ['tracepoint/sched/sched_switch', 136, 'ENUMVAL_VALUE', 'pid_type', '3'],
  ['tracepoint/sched/sched_switch', 160, 'ENUMVAL_EXISTS', 'pid_type___x', '1'],
  ['tracepoint/sched/sched_switch', 184, 'TYPE_SIZE', 'list_head', '0'],
];

describe('readBpfObject', () => {
  for (const endian of ['bpfel', 'bpfeb']) {
    it(`reads .BTF and .BTF.ext of a ${endian} object`, () => {
      const o = readBpfObject(load(`core_kinds.${endian}.o`), 'core_kinds.o');
      expect(o.littleEndian).toBe(endian === 'bpfel');
      expect(o.btf.littleEndian).toBe(endian === 'bpfel');
      const ext = o.ext!;
      expect(ext.littleEndian).toBe(endian === 'bpfel');
      expect(ext.header.hdrLen).toBe(32);
      expect([ext.funcInfoRecSize, ext.lineInfoRecSize, ext.coreReloRecSize]).toEqual([8, 16, 16]);
      expect(ext.funcInfo.map((s) => [s.name, s.records.map((r) => [r.insnOff, o.btf.name(r.typeId)])])).toEqual([
        ['kprobe/do_nothing', [[0, 'prog_fields']]],
        ['tracepoint/sched/sched_switch', [[0, 'prog_types']]],
      ]);
      expect(ext.lineInfo.map((s) => [s.name, s.records.length])).toEqual([
        ['kprobe/do_nothing', 15], ['tracepoint/sched/sched_switch', 11],
      ]);
      expect(o.btf.str(ext.lineInfo[0]!.records[0]!.fileNameOff)).toMatch(/core_kinds\.bpf\.c$/);
      const relos = ext.coreRelos.flatMap((s) => s.records.map((r) => [s.name, r.insnOff, coreReloKindName(r.kind), o.btf.name(r.typeId), r.accessStr]));
      expect(relos).toEqual(EXPECTED_RELOS);
    });
  }

  it('rejects an ELF that is not a BPF object, naming the machine', () => {
    const bytes = load('core_kinds.bpfel.o').slice();
    new DataView(bytes.buffer).setUint16(18, 62, true);
    expect(() => readBpfObject(bytes, 'x86.o')).toThrow(/^not a BPF object \(ELF machine 62, expected 247\)$/);
  });

  it('rejects a .BTF.ext whose core_relo block claims more records than it holds', () => {
    const bytes = load('core_kinds.bpfel.o').slice();
    const o = readBpfObject(bytes, 'x.o');
    const sec = o.elf.section('.BTF.ext')!;
    const dv = new DataView(bytes.buffer, sec.offset);
    const hdr = o.ext!.header;
    // num_info of the first core_relo section
    dv.setUint32(hdr.hdrLen + hdr.coreReloOff + 4 + 4, 1000, true);
    const err = (() => { try { parseBtfExt(bytes.subarray(sec.offset, sec.offset + sec.size), o.btf, { file: 'x.o' }); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(ModbtfError);
    expect((err as ModbtfError).message).toBe('core_relo section at offset 476 claims 1000 records, more than the block holds');
    expect((err as ModbtfError).section).toBe('.BTF.ext');
  });
});

describe('findEmbeddedBpfObjects', () => {
  it('finds objects embedded in arbitrary bytes, with their exact size', () => {
    const a = load('core_kinds.bpfel.o');
    const b = load('core_kinds.bpfeb.o');
    const junk = new Uint8Array(333).fill(0x7f); // many false starts
    const fake = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]); // ELF magic, no valid header
    const blob = Buffer.concat([junk, a, fake, junk, b, junk]);
    const found = findEmbeddedBpfObjects(blob);
    expect(found.map((f) => [f.offset, f.size])).toEqual([[333, a.length], [333 + a.length + 8 + 333, b.length]]);
    expect(Buffer.from(found[1]!.bytes).equals(Buffer.from(b))).toBe(true);
    const objs = readBpfObjects(blob, 'blob');
    expect(objs.map((o) => o.name)).toEqual(['blob@0x14d', `blob@0x${(333 + a.length + 8 + 333).toString(16)}`]);
  });

  it('a BPF object file is read as itself', () => {
    expect(readBpfObjects(load('core_kinds.bpfel.o'), 'k.o').map((o) => o.name)).toEqual(['k.o']);
  });

  const tools = spawnSync('dpkg', ['-L', 'libbpf-tools'], { encoding: 'utf8' });
  const bins = tools.status === 0 ? tools.stdout.split('\n').filter((p) => p.startsWith('/usr/sbin/') && existsSync(p)) : [];
  it.skipIf(bins.length === 0)('finds the one skeleton object in every libbpf-tools binary', () => {
    let relos = 0;
    for (const p of bins) {
      const objs = readBpfObjects(new Uint8Array(readFileSync(p)), p);
      expect(objs.length, p).toBe(1);
      expect(objs[0]!.name).toMatch(new RegExp(`^${p}@0x[0-9a-f]+$`));
      relos += objs[0]!.ext?.coreRelos.reduce((n, s) => n + s.records.length, 0) ?? 0;
    }
    expect(bins.length).toBeGreaterThanOrEqual(55);
    expect(relos).toBeGreaterThan(500);
  });
});

describe('malformed objects: a ModbtfError, never anything else', () => {
  it('every truncation of an object and of its .BTF.ext', () => {
    const bytes = load('core_kinds.bpfel.o');
    const o = readBpfObject(bytes, 'x.o');
    const sec = o.elf.section('.BTF.ext')!;
    const ext = bytes.subarray(sec.offset, sec.offset + sec.size);
    for (let n = 0; n < ext.length; n++) {
      try {
        parseBtfExt(ext.subarray(0, n), o.btf);
      } catch (e) {
        expect(e, `cut at ${n}`).toBeInstanceOf(ModbtfError);
      }
    }
    for (let n = 0; n < bytes.length; n += 7) {
      try {
        readBpfObject(bytes.subarray(0, n), 'cut.o');
      } catch (e) {
        expect(e, `cut at ${n}`).toBeInstanceOf(ModbtfError);
      }
    }
  });

  it('relocation records with garbage type ids, kinds and access strings resolve to errors', async () => {
    const { resolveCoreRelocations } = await import('../src/core/relo.js');
    const { Btf } = await import('../src/btf/btf.js');
    const kernel = Btf.parse(new Uint8Array(readFileSync(fixture('bpfobj/k612-mini.btf'))));
    const o = readBpfObject(load('core_kinds.bpfel.o'), 'x.o');
    let seed = 1;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const strs = o.ext!.coreRelos.flatMap((s) => s.records.map((r) => r.accessStr)).concat(['', ':', '0:', '0::1', 'x', '-1', '0:-5', '99999999999']);
    for (let round = 0; round < 200; round++) {
      for (const s of o.ext!.coreRelos) {
        for (const r of s.records) {
          r.typeId = rnd() % (o.btf.typeCount + 3);
          r.kind = rnd() % 15;
          r.accessStr = strs[rnd() % strs.length]!;
        }
      }
      for (const r of resolveCoreRelocations(o, kernel)) {
        expect(['ok', 'missing', 'error']).toContain(r.status);
        if (r.status === 'error') expect(r.error!.message.length).toBeGreaterThan(0);
      }
    }
  });
});
