/**
 * The 2026 BTF format (libbpf master, pahole's `layout` feature): a 32-byte
 * header with layout_off/layout_len, a kind layout section between the types
 * and the strings, vlen in 24 bits, kind in 7 bits, and kinds modbtf does not
 * know, sized from the layout. BTF is encoded here by hand (rawBtf) and by
 * rewriting the committed 6.12 kernel BTF into the 2026 format.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Btf, serializeSections } from '../src/btf/btf.js';
import { dumpJson, dumpRaw } from '../src/btf/dump.js';
import { dumpC } from '../src/btf/dumpc.js';
import { Kind, defaultKindLayout, infoKind, infoKflag, infoVlen, makeInfo } from '../src/btf/kinds.js';
import { validateBtf } from '../src/btf/validate.js';
import { run } from '../src/cli/main.js';
import { distill } from '../src/distill/distill.js';
import { distillModule } from '../src/distill/module.js';
import { ElfFile } from '../src/elf/index.js';
import { ModbtfError } from '../src/errors.js';
import { mapOntoBase, toStandalone } from '../src/map/map.js';
import { openInput } from '../src/module/index.js';
import { relocate } from '../src/reconcile/relocate.js';
import { checkModule, reconcileModule } from '../src/reconcile/module.js';
import { LIBBPF_LAYOUT, corpus, fixture, haveCorpus, info, rawBtf, strOff } from './helpers.js';

function thrown(fn: () => unknown): ModbtfError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ModbtfError) return e;
    throw e;
  }
  throw new Error('no error');
}

const dumpLines = (btf: Btf): string[] => {
  const out: string[] = [];
  dumpRaw(btf, (t) => out.push(...t.split('\n')));
  return out;
};

/** Layout entries ([info_sz, elem_sz, flags] per kind) as section bytes. */
function layoutBytes(entries: number[][], le = true): Uint8Array {
  const out = new Uint8Array(entries.length * 4);
  const dv = new DataView(out.buffer);
  entries.forEach(([i, e, f], k) => {
    out[k * 4] = i!;
    out[k * 4 + 1] = e!;
    dv.setUint16(k * 4 + 2, f ?? 0, le);
  });
  return out;
}

const S = ['', 'int', 'foo', 'a', 'b', 'E', 'X', 'f', '.data', 'v'];
const o = (s: string): number => strOff(S, s);
const RECORDS = [
  /* 1 INT int */ [o('int'), info(Kind.INT), 4, 0x01000020],
  /* 2 PTR -> 1 */ [0, info(Kind.PTR), 1],
  /* 3 ARRAY int[4] */ [0, info(Kind.ARRAY), 0, 1, 1, 4],
  /* 4 STRUCT foo */ [o('foo'), info(Kind.STRUCT, 2), 8, o('a'), 1, 0, o('b'), 1, 32],
  /* 5 ENUM E */ [o('E'), info(Kind.ENUM, 1), 4, o('X'), 1],
  /* 6 FUNC_PROTO int (int a) */ [0, info(Kind.FUNC_PROTO, 1), 1, o('a'), 1],
  /* 7 FUNC f */ [o('f'), info(Kind.FUNC, 0), 6],
  /* 8 VAR v */ [o('v'), info(Kind.VAR), 1, 1],
  /* 9 DATASEC .data */ [o('.data'), info(Kind.DATASEC, 1), 4, 8, 0, 4],
  /* 10 DECL_TAG */ [o('a'), info(Kind.DECL_TAG), 7, 0xffffffff],
  /* 11 ENUM64 */ [o('E'), info(Kind.ENUM64, 1, true), 8, o('X'), 1, 2],
];
const TYPE_LEN = RECORDS.flat().length * 4;

describe('2026 BTF format: header and kind layout section', () => {
  it('the layout libbpf master writes is the one modbtf knows', () => {
    expect(defaultKindLayout().map((e) => [e.infoSz, e.elemSz, e.flags])).toEqual(LIBBPF_LAYOUT);
  });

  it('round-trips byte for byte in either byte order, with the same types as without the layout', () => {
    for (const le of [true, false]) {
      const raw = rawBtf(RECORDS, S, { le, layout: LIBBPF_LAYOUT });
      const btf = Btf.parse(raw);
      expect(btf.header).toMatchObject({ hdrLen: 32, typeOff: 0, typeLen: TYPE_LEN, layoutOff: TYPE_LEN, layoutLen: 80, strOff: TYPE_LEN + 80 });
      expect(btf.layoutEntries()).toEqual(defaultKindLayout());
      expect(btf.firstUnknownKind).toBe(0);
      expect(Buffer.from(btf.toBytes()).equals(Buffer.from(raw))).toBe(true);
      const plain = Btf.parse(rawBtf(RECORDS, S, { le }));
      expect(plain.layout).toBeNull();
      expect(Buffer.from(btf.types).equals(Buffer.from(plain.types))).toBe(true);
      expect(dumpLines(btf)).toEqual(dumpLines(plain));
      expect(dumpJson(btf)).toEqual(dumpJson(plain));
      validateBtf(btf);
      // The same bytes again from the parts.
      const again = Btf.fromSections(btf.types, btf.strings, le, null, {}, 32, btf.layout);
      expect(Buffer.from(again.toBytes()).equals(Buffer.from(raw))).toBe(true);
      expect(Buffer.from(serializeSections(btf.types, btf.strings, le, 24, btf.layout)).equals(Buffer.from(raw))).toBe(true);
    }
  });

  it('reads layout flags in the byte order of the file', () => {
    const entries = LIBBPF_LAYOUT.map((e, k) => (k === 3 ? [12, 0, 0x0102] : e));
    for (const le of [true, false]) {
      expect(Btf.parse(rawBtf(RECORDS, S, { le, layout: entries })).layoutEntries()[3]).toEqual({ infoSz: 12, elemSz: 0, flags: 0x0102 });
    }
  });

  it('takes the header fields hdr_len covers: 28 bytes has layout_off only, 32 with layout_len 0 has no layout', () => {
    const r28 = rawBtf(RECORDS, S, { hdrLen: 28 });
    new DataView(r28.buffer).setUint32(24, 4, true);
    const b28 = Btf.parse(r28);
    expect(b28.header).toMatchObject({ layoutOff: 4, layoutLen: 0 });
    expect(b28.layout).toBeNull();
    const r32 = rawBtf(RECORDS, S, { hdrLen: 32 });
    new DataView(r32.buffer).setUint32(24, 6, true); // layout_off is ignored when layout_len is 0 (libbpf, kernel)
    expect(Btf.parse(r32).layout).toBeNull();
    // What modbtf writes for it: the same length, no layout.
    const out = Btf.parse(r32).toBytes();
    expect(new DataView(out.buffer).getUint32(4, true)).toBe(32);
    expect(new DataView(out.buffer).getUint32(28, true)).toBe(0);
  });

  const good = (): Uint8Array => rawBtf(RECORDS, S, { layout: LIBBPF_LAYOUT });
  const set = (r: Uint8Array, at: number, v: number): Uint8Array => {
    new DataView(r.buffer).setUint32(at, v, true);
    return r;
  };
  const dataLen = 32 + TYPE_LEN + 80 + Buffer.from(`${S.join('\0')}\0`).length - 32;
  const errors: [string, () => Uint8Array, string, string][] = [
    ['layout_off not aligned', () => set(good(), 24, TYPE_LEN + 2), 'E_BTF_HEADER', `x.btf: kind layout section offset ${TYPE_LEN + 2} is not 4-byte aligned`],
    ['layout_len not whole entries', () => set(good(), 28, 78), 'E_BTF_HEADER', 'x.btf: kind layout section length 78 is not a whole number of 4-byte entries'],
    ['layout past the end', () => set(good(), 28, 4000), 'E_BTF_TRUNCATED', `x.btf: kind layout section [${TYPE_LEN}, ${TYPE_LEN + 4000}) runs past the end of the data (${dataLen} bytes)`],
    ['layout over the types', () => set(good(), 24, TYPE_LEN - 4), 'E_BTF_HEADER', `x.btf: kind layout section [${TYPE_LEN - 4}, ${TYPE_LEN + 76}) is not between the type section [0, ${TYPE_LEN}) and the string section at ${TYPE_LEN + 80}`],
    ['layout over the strings', () => set(good(), 28, 84), 'E_BTF_HEADER', `x.btf: kind layout section [${TYPE_LEN}, ${TYPE_LEN + 84}) is not between the type section [0, ${TYPE_LEN}) and the string section at ${TYPE_LEN + 80}`],
    ['non-zero header byte past layout_len', () => { const r = rawBtf(RECORDS, S, { hdrLen: 36, layout: LIBBPF_LAYOUT }); r[33] = 7; return r; }, 'E_BTF_HEADER', 'x.btf: unsupported BTF header: non-zero byte at offset 33 past the known fields'],
  ];
  for (const [name, make, code, msg] of errors) {
    it(`refuses: ${name}`, () => {
      const e = thrown(() => Btf.parse(make(), { file: 'x.btf' }));
      expect(e.code).toBe(code);
      expect(e.describe()).toBe(msg);
    });
  }
});

describe('2026 BTF format: vlen in 24 bits, kind in 7 bits', () => {
  it('encodes and decodes the info word', () => {
    const w = makeInfo(Kind.STRUCT, 0x123456, true);
    expect(w).toBe(0x84123456);
    expect([infoKind(w), infoVlen(w), infoKflag(w)]).toEqual([Kind.STRUCT, 0x123456, true]);
    const k = makeInfo(100, 0xffffff, false);
    expect([infoKind(k), infoVlen(k), infoKflag(k)]).toEqual([100, 0xffffff, false]);
  });

  it('a struct with more than 65535 members parses, dumps, distills and relocates back byte for byte', () => {
    const N = 70000;
    const base = Btf.parse(rawBtf([[1, info(Kind.INT), 4, 0x01000020]], ['', 'int']));
    const members: number[] = [];
    for (let i = 0; i < N; i++) members.push(0, 1, i * 32);
    const splitRaw = rawBtf([[base.strEnd, info(Kind.STRUCT, N), N * 4, ...members], [0, info(Kind.PTR), 2]], ['big']);
    const split = Btf.parse(splitRaw, { base, file: 'big.btf' });
    expect(split.vlen(2)).toBe(N);
    expect(split.kind(3)).toBe(Kind.PTR);
    expect(split.idFieldPositions().length).toBe(N + 1);
    validateBtf(split);
    const lines = dumpLines(split);
    expect(lines[0]).toBe(`[2] STRUCT 'big' size=${N * 4} vlen=${N}`);
    expect(lines[N]).toBe(`\t'(anon)' type_id=1 bits_offset=${(N - 1) * 32}`);
    expect(lines[N + 1]).toBe('[3] PTR \'(anon)\' type_id=2');
    const d = distill(split);
    expect(d.split.vlen(d.split.startId)).toBe(N);
    const back = relocate(Btf.parse(d.split.toBytes(), { base: Btf.parse(d.base.toBytes()) }), base);
    expect(Buffer.from(back.btf.toBytes()).equals(Buffer.from(splitRaw))).toBe(true);
  });
});

describe('2026 BTF format: kinds modbtf does not know', () => {
  // libbpf's selftest btf_kind_decoding: a TYPEDEF rewritten to kind 20, then sized three ways.
  const U = ['', 'test_char', 'unrec_kind', 'test_lookup', 'test_lookup2'];
  const u = (s: string): number => strOff(U, s);
  const records = (kindInfo: number): number[][] => [
    [u('test_char'), info(Kind.INT), 1, 0x02000008],
    [u('unrec_kind'), kindInfo, 1],
    [u('test_lookup'), info(Kind.TYPEDEF), 1],
    [u('test_lookup2'), info(Kind.TYPEDEF), 1],
  ];
  const withKind20 = (entry: number[]): number[][] => [...LIBBPF_LAYOUT, entry];

  it('sizes an unknown kind from the layout and reads past it', () => {
    const raw = rawBtf(records(info(20)), U, { layout: withKind20([0, 0, 0]) });
    const btf = Btf.parse(raw, { file: 'k.btf' });
    expect(btf.nrTypes).toBe(4);
    expect([btf.kind(2), btf.name(2), btf.name(3), btf.name(4)]).toEqual([20, 'unrec_kind', 'test_lookup', 'test_lookup2']);
    expect(btf.firstUnknownKind).toBe(2);
    btf.checkReferences();
    expect(Buffer.from(btf.toBytes()).equals(Buffer.from(raw))).toBe(true);
    // As bpftool master prints it: kind UNKNOWN, name, nothing else.
    expect(dumpLines(btf)).toEqual([
      "[1] INT 'test_char' size=1 bits_offset=0 nr_bits=8 encoding=CHAR",
      "[2] UNKNOWN 'unrec_kind'",
      "[3] TYPEDEF 'test_lookup' type_id=1",
      "[4] TYPEDEF 'test_lookup2' type_id=1",
    ]);
    expect(dumpJson(btf).types[1]).toEqual({ id: 2, kind: 'UNKNOWN', name: 'unrec_kind' });
  });

  it('info_sz 12 makes the next record part of the unknown one', () => {
    const btf = Btf.parse(rawBtf(records(info(20)), U, { layout: withKind20([12, 0, 0]) }));
    expect(btf.nrTypes).toBe(3);
    expect(btf.name(3)).toBe('test_lookup2');
    expect(btf.recordSize(2)).toBe(24);
  });

  it('elem_sz 12 with vlen 1 does the same', () => {
    const btf = Btf.parse(rawBtf(records(info(20, 1)), U, { layout: withKind20([0, 12, 0]) }));
    expect(btf.nrTypes).toBe(3);
    expect(btf.name(3)).toBe('test_lookup2');
  });

  it('kind 0 and kind 127 are sized from the layout too', () => {
    const layout = [...LIBBPF_LAYOUT];
    while (layout.length < 128) layout.push([0, 0, 0]);
    layout[127] = [8, 4, 0];
    const btf = Btf.parse(rawBtf([[0, info(0), 0], [0, info(127, 2), 0, 1, 2, 3, 4], [u('test_char'), info(Kind.INT), 1, 8]], U, { layout }));
    expect([btf.kind(1), btf.kind(2), btf.kind(3)]).toEqual([0, 127, Kind.INT]);
    expect(btf.recordSize(2)).toBe(12 + 8 + 2 * 4);
    expect(dumpLines(btf).slice(0, 2)).toEqual(["[1] UNKNOWN '(anon)'", "[2] UNKNOWN '(anon)'"]);
  });

  it('in big-endian BTF too (libbpf on a little-endian host refuses to byte-swap a kind it does not know; modbtf reads either order as it is)', () => {
    const raw = rawBtf([[0, info(20, 2), 0, 0xaaaa, 1, 2, 3, 4], [u('test_char'), info(Kind.INT), 1, 8]], U, { le: false, layout: withKind20([4, 8, 0]) });
    const btf = Btf.parse(raw);
    expect([btf.littleEndian, btf.kind(1), btf.recordSize(1), btf.kind(2), btf.name(2)]).toEqual([false, 20, 32, Kind.INT, 'test_char']);
    expect(Buffer.from(btf.toBytes()).equals(Buffer.from(raw))).toBe(true);
  });

  const refusals: [string, () => Uint8Array, string][] = [
    ['no layout', () => rawBtf(records(info(20)), U), 'k.btf: type [2]: unknown BTF kind 20 (no kind layout section to size it)'],
    ['layout too short', () => rawBtf(records(info(20)), U, { layout: LIBBPF_LAYOUT }), 'k.btf: type [2]: unknown BTF kind 20 (the kind layout section describes kinds 0-19 only)'],
    ['sizes not in 4-byte units', () => rawBtf(records(info(20)), U, { layout: withKind20([2, 0, 0]) }), 'k.btf: type [2]: unknown BTF kind 20: its kind layout entry (info_sz 2, elem_sz 0) is not in 4-byte units'],
  ];
  for (const [name, make, msg] of refusals) {
    it(`cannot size it: ${name}`, () => {
      const e = thrown(() => Btf.parse(make(), { file: 'k.btf' }));
      expect(e.code).toBe('E_BTF_KIND');
      expect(e.describe()).toBe(msg);
    });
  }

  // Base BTF in the 2026 format: kind 20 has 4 bytes after the record and 8 per vlen entry.
  const B = ['', 'int', 'future'];
  const baseRaw = (): Uint8Array => rawBtf([
    [1, info(Kind.INT), 4, 0x01000020],
    [strOff(B, 'future'), info(20, 2), 0, 0xaaaa, 1, 2, 3, 4],
  ], B, { layout: withKind20([4, 8, 0]) });

  it('split BTF without a layout of its own sizes unknown kinds with its base\'s (as libbpf does)', () => {
    const base = Btf.parse(baseRaw());
    expect(base.recordSize(2)).toBe(12 + 4 + 16);
    const raw = rawBtf([[0, info(20, 1), 0, 0xbbbb, 5, 6], [0, info(Kind.PTR), 1]], []);
    const split = Btf.parse(raw, { base, file: 'm.btf', section: '.BTF' });
    expect([split.kind(3), split.kind(4), split.recordSize(3)]).toEqual([20, Kind.PTR, 24]);
    expect(split.firstUnknownKind).toBe(3);
    expect(Buffer.from(split.toBytes()).equals(Buffer.from(raw))).toBe(true);
    const detached = thrown(() => Btf.parse(raw, { detached: true, file: 'm.btf', section: '.BTF' }));
    expect(detached.describe()).toBe("m.btf: .BTF: type [1]: unknown BTF kind 20 (no kind layout section to size it; split BTF uses its base's, not at hand here)");
    // Where their meaning matters, they are refused, naming the type.
    const why = '(the kind layout section gives its size, not which of its fields are type ids or strings)';
    expect(thrown(() => distill(split)).describe()).toBe(`m.btf: .BTF: type [3]: BTF kind 20 is unknown to modbtf: cannot distill it ${why}`);
    expect(thrown(() => validateBtf(split)).describe()).toBe(`m.btf: .BTF: type [3]: BTF kind 20 is unknown to modbtf: cannot check it as the kernel would ${why}`);
    expect(thrown(() => split.idFieldPositions()).describe()).toBe(`m.btf: .BTF: type [3]: BTF kind 20 is unknown to modbtf: cannot renumber its type references ${why}`);
    const dist = Btf.parse(rawBtf([[1, info(Kind.INT), 4, 0x01000020]], ['', 'int']));
    // On a distilled base (which never has a layout) only a layout of the split's own sizes it.
    expect(thrown(() => Btf.parse(raw, { base: dist })).code).toBe('E_BTF_KIND');
    const own = rawBtf([[0, info(20, 1), 0, 0xbbbb, 5, 6], [0, info(Kind.PTR), 1]], [], { layout: withKind20([4, 8, 0]) });
    const onDist = Btf.parse(own, { base: dist, file: 'm.btf', section: '.BTF' });
    expect(thrown(() => relocate(onDist, base)).describe()).toBe(`m.btf: .BTF: type [2]: BTF kind 20 is unknown to modbtf: cannot relocate it ${why}`);
    const standalone = Btf.parse(rawBtf([[0, info(20), 0], [0, info(Kind.PTR), 1]], [''], { layout: withKind20([0, 0, 0]) }), { file: 's.btf' });
    expect(thrown(() => mapOntoBase(standalone, base)).describe()).toBe(`s.btf: type [1]: BTF kind 20 is unknown to modbtf: cannot map it ${why}`);
  });

  it('distill refuses a split type referring to a base type of unknown kind, as libbpf does', () => {
    const base = Btf.parse(baseRaw());
    const split = Btf.parse(rawBtf([[0, info(Kind.PTR), 2]], []), { base, file: 'm.btf', section: '.BTF' });
    expect(thrown(() => distill(split)).describe()).toBe("m.btf: .BTF: type [3]: PTR [3] refers to base type [2] UNKNOWN(20) 'future', which split BTF must not refer to");
  });

  it('unknown kinds in the base pass through: distill and relocate as without them', () => {
    const base = Btf.parse(baseRaw());
    const split = Btf.parse(rawBtf([[0, info(Kind.PTR), 1]], []), { base });
    const d = distill(split);
    expect(d.base.layout).toBeNull();
    expect(d.base.header.hdrLen).toBe(24);
    expect(d.split.layout).toBeNull();
    const r = relocate(d.split, base);
    expect(Buffer.from(r.btf.toBytes()).equals(Buffer.from(split.toBytes()))).toBe(true);
  });
});

// ---- the committed 6.12 fixtures, and the corpus, with their base rewritten to the 2026 format

/**
 * `raw` (a base BTF) in the 2026 format: 32-byte header, libbpf's kind layout
 * plus kinds 20-22, and every FUNC, DECL_TAG and DATASEC turned into kinds
 * 20, 21 and 22 of the same size (so type ids do not move). Split BTF never
 * refers to those kinds in its base, so distill and relocate must not care.
 */
function to2026(raw: Uint8Array): { raw: Uint8Array; unknown: number } {
  const btf = Btf.parse(raw);
  const types = new Uint8Array(btf.types); // a copy, whatever kind of view btf.types is
  const dv = new DataView(types.buffer);
  const le = btf.littleEndian;
  const to: Record<number, number> = { [Kind.FUNC]: 20, [Kind.DECL_TAG]: 21, [Kind.DATASEC]: 22 };
  let unknown = 0;
  for (let id = 1; id < btf.typeCount; id++) {
    const k = to[btf.kind(id)];
    if (k === undefined) continue;
    const p = btf.off(id) + 4;
    const w = dv.getUint32(p, le);
    dv.setUint32(p, ((w & 0x80ffffff) | (k << 24)) >>> 0, le);
    unknown++;
  }
  const layout = layoutBytes([...LIBBPF_LAYOUT, [0, 0, 0], [4, 0, 0], [0, 12, 0]], le);
  return { raw: serializeSections(types, btf.strings, le, 32, layout), unknown };
}

const MODS = ['af_key', 'crc7', 'tcp_bbr'];
const gold = (m: string, what: string): Buffer => readFileSync(fixture('k612/golden', `${m}.${what}`));
const sec = (elf: ElfFile, name: string): Buffer => Buffer.from(elf.data(elf.section(name)!));

describe('2026 BTF format: distill and reconcile against a base with a kind layout give the same bytes', () => {
  let plain: Btf;
  let modern: Btf;
  let modernRaw: Uint8Array;
  beforeAll(async () => {
    const raw = (await openInput(fixture('k612/vmlinux.btf.xz'))).btf!;
    plain = Btf.parse(raw);
    const m = to2026(raw);
    modernRaw = m.raw;
    modern = Btf.parse(m.raw, { file: 'vmlinux-2026.btf' });
    expect(m.unknown).toBeGreaterThan(40000);
    expect(modern.header).toMatchObject({ hdrLen: 32, layoutLen: 92 });
    expect(modern.typeCount).toBe(plain.typeCount);
    expect(Buffer.from(modern.toBytes()).equals(Buffer.from(modernRaw))).toBe(true);
  });

  it('k612 fixtures: equal to libbpf v1.7.0 goldens and to the run against the plain base', async () => {
    for (const m of MODS) {
      const elf = (await openInput(fixture('k612/modules', `${m}.ko.xz`))).elf!;
      const a = ElfFile.parse(distillModule(elf, plain, { section: '.BTF.base', file: m }).elf, m);
      const b = ElfFile.parse(distillModule(elf, modern, { section: '.BTF.base', file: m }).elf, m);
      expect(sec(b, '.BTF.base').equals(gold(m, 'base.raw')), `${m} base`).toBe(true);
      expect(sec(b, '.BTF').equals(gold(m, 'split.raw')), `${m} split`).toBe(true);
      expect(sec(b, '.BTF').equals(sec(a, '.BTF'))).toBe(true);
      for (const target of [plain, modern]) {
        const r = reconcileModule(b, target, { file: m });
        if (r.status !== 'reconciled') throw new Error(m);
        expect(sec(ElfFile.parse(r.elf, m), '.BTF').equals(gold(m, 'reloc-k612.raw')), `${m} reloc`).toBe(true);
        expect(checkModule(b, target, { file: m }).status).toBe('ok');
        const dd = reconcileModule(b, target, { file: m, dedup: true });
        const de = reconcileModule(b, plain, { file: m, dedup: true });
        if (dd.status !== 'reconciled' || de.status !== 'reconciled') throw new Error(m);
        expect(sec(ElfFile.parse(dd.elf, m), '.BTF').equals(sec(ElfFile.parse(de.elf, m), '.BTF')), `${m} dedup`).toBe(true);
      }
    }
  });

  it('dump --format c leaves the unknown kinds out: the same header as from the plain base', () => {
    expect(dumpC(modern)).toBe(dumpC(plain));
  });

  it('map: standalone module BTF maps onto the 2026-format base exactly as onto the plain one', async () => {
    for (const m of MODS) {
      const elf = (await openInput(fixture('k612/modules', `${m}.ko.xz`))).elf!;
      const standalone = toStandalone(Btf.parse(elf.data(elf.section('.BTF')!), { base: plain }));
      const a = mapOntoBase(standalone, plain);
      const b = mapOntoBase(standalone, modern);
      expect(a.mapped, m).toBeGreaterThan(0);
      expect(b.mapped, m).toBe(a.mapped);
      expect(Buffer.from(b.split.toBytes()).equals(Buffer.from(a.split.toBytes())), m).toBe(true);
    }
  });

  it('through the CLI: distill -B and reconcile -k a 2026-format vmlinux BTF, dump prints its unknown kinds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'modbtf-2026-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const vm = join(dir, 'vmlinux-2026.btf');
    writeFileSync(vm, modernRaw);
    const out = join(dir, 'crc7.ko.xz');
    const err: string[] = [];
    const io = { out: (): void => undefined, err: (l: string): void => void err.push(l) };
    expect(await run(['distill', '-B', vm, '--section', '.BTF.base', '-o', out, fixture('k612/modules/crc7.ko.xz')], io), err.join('\n')).toBe(0);
    const d = (await openInput(out)).elf!;
    expect(sec(d, '.BTF').equals(gold('crc7', 'split.raw'))).toBe(true);
    expect(await run(['reconcile', '-k', vm, out], io), err.join('\n')).toBe(0);
    expect(sec((await openInput(out)).elf!, '.BTF').equals(gold('crc7', 'reloc-k612.raw'))).toBe(true);
    const lines: string[] = [];
    expect(await run(['dump', vm], { out: (l: string) => void lines.push(l), err: (l: string) => void err.push(l) })).toBe(0);
    const text = lines.join('\n').split('\n');
    const fn = plain.offsets.findIndex((_, i) => plain.kind(i + 1) === Kind.FUNC) + 1;
    expect(text).toContain(`[${fn}] UNKNOWN '${plain.name(fn)}'`);
    expect(text.length).toBeGreaterThan(plain.nrTypes);
    const js: string[] = [];
    expect(await run(['inspect', '--json', vm], { out: (l: string) => void js.push(l), err: (l: string) => void err.push(l) })).toBe(0);
    const sec0 = JSON.parse(js[0]!).sections[0];
    expect(sec0.layout).toEqual({ hdr_len: 32, kinds: [...LIBBPF_LAYOUT, [0, 0, 0], [4, 0, 0], [0, 12, 0]].map(([i, e, f]) => ({ info_sz: i, elem_sz: e, flags: f })) });
    expect(sec0.kinds['UNKNOWN(20)']).toBe(plain.offsets.filter((_, i) => plain.kind(i + 1) === Kind.FUNC).length);
    const txt: string[] = [];
    expect(await run(['inspect', vm], { out: (l: string) => void txt.push(l), err: (l: string) => void err.push(l) })).toBe(0);
    expect(txt[2]).toContain('; kind layout for 23 kinds (2026 format, 32-byte header)');
  });
});

describe('2026 BTF format: what libbpf master writes (goldens made with it, test/fixtures/btf2026)', () => {
  let plain: Btf;
  let modern: Btf;
  const g = (f: string): Buffer => readFileSync(fixture('btf2026', f));
  beforeAll(async () => {
    const raw = (await openInput(fixture('k612/vmlinux.btf.xz'))).btf!;
    plain = Btf.parse(raw);
    modern = Btf.parse(to2026(raw).raw);
  });

  it('a module whose .BTF has the 32-byte header distills and relocates to libbpf master\'s bytes, on either base', async () => {
    for (const m of ['crc7', 'tcp_bbr']) {
      const elf = (await openInput(fixture('k612/modules', `${m}.ko.xz`))).elf!;
      for (const base of [plain, modern]) {
        const orig = Btf.parse(elf.data(elf.section('.BTF')!), { base });
        const h32 = Btf.parse(serializeSections(orig.types, orig.strings, orig.littleEndian, 32), { base });
        const d = distill(h32);
        expect(Buffer.from(d.base.toBytes()).equals(g(`${m}.h32.base.raw`)), `${m} base`).toBe(true);
        expect(Buffer.from(d.split.toBytes()).equals(g(`${m}.h32.split.raw`)), `${m} split`).toBe(true);
        const r = relocate(d.split, base);
        expect(Buffer.from(r.btf.toBytes()).equals(g(`${m}.h32.reloc-k612.raw`)), `${m} reloc`).toBe(true);
        // The 24-byte header gives libbpf v1.7.0's bytes: the same but for the header.
        const d24 = distill(orig);
        expect(Buffer.from(d24.split.toBytes()).subarray(24).equals(g(`${m}.h32.split.raw`).subarray(32))).toBe(true);
        expect(Buffer.from(d24.split.toBytes()).equals(gold(m, 'split.raw'))).toBe(true);
      }
    }
  });

  it('relocation keeps the kind layout section a split carries, as libbpf master does', () => {
    const dist = Btf.parse(g('crc7.h32.base.raw'));
    const split = Btf.parse(g('crc7.lay.split.raw'), { base: dist });
    expect(split.layoutEntries().length).toBe(20);
    for (const target of [plain, modern]) {
      expect(Buffer.from(relocate(split, target).btf.toBytes()).equals(g('crc7.lay.reloc-k612.raw'))).toBe(true);
    }
  });
});

describe.skipIf(!haveCorpus)('corpus: distill and reconcile against the 6.12 kernel BTF in the 2026 format equal libbpf', () => {
  it('every module', async () => {
    const { readdirSync } = await import('node:fs');
    const mods = readdirSync(corpus('k612cloud/modules')).filter((f) => f.endsWith('.ko.xz')).map((f) => f.slice(0, -6)).sort();
    const modern = Btf.parse(to2026(readFileSync(corpus('k612cloud/vmlinux.btf'))).raw);
    const golden = (m: string, what: string): Buffer => readFileSync(corpus('k612cloud/golden', `${m}.${what}`));
    for (const m of mods) {
      const elf = (await openInput(corpus('k612cloud/modules', `${m}.ko.xz`))).elf!;
      const d = ElfFile.parse(distillModule(elf, modern, { section: '.BTF.base', file: m }).elf, m);
      expect(sec(d, '.BTF.base').equals(golden(m, 'base.raw')), `${m} base`).toBe(true);
      expect(sec(d, '.BTF').equals(golden(m, 'split.raw')), `${m} split`).toBe(true);
      const r = reconcileModule(d, modern, { file: m });
      if (r.status !== 'reconciled') throw new Error(m);
      expect(sec(ElfFile.parse(r.elf, m), '.BTF').equals(golden(m, 'reloc-k612.raw')), `${m} reloc`).toBe(true);
    }
    expect(mods.length).toBe(53);
  });
});
