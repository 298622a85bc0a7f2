import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { BtfBuilder } from '../src/btf/builder.js';
import { Kind } from '../src/btf/kinds.js';
import { validateBtf } from '../src/btf/validate.js';
import { ModbtfError } from '../src/errors.js';
import { corpus, haveCorpus, info, rawBtf, strOff } from './helpers.js';

const S = ['', 'int', 'foo', 'a', 'b', 'E', 'X', 'f', '.data', 'v'];
const o = (s: string): number => strOff(S, s);

/** One of every kind. */
const RECORDS = [
  /* 1 INT int */ [o('int'), info(Kind.INT), 4, 0x01000020],
  /* 2 PTR -> 1 */ [0, info(Kind.PTR), 1],
  /* 3 ARRAY int[4] */ [0, info(Kind.ARRAY), 0, 1, 1, 4],
  /* 4 STRUCT foo */ [o('foo'), info(Kind.STRUCT, 2), 8, o('a'), 1, 0, o('b'), 1, 32],
  /* 5 UNION */ [0, info(Kind.UNION, 1), 4, o('a'), 1, 0],
  /* 6 ENUM E */ [o('E'), info(Kind.ENUM, 1), 4, o('X'), 1],
  /* 7 FWD union foo */ [o('foo'), info(Kind.FWD, 0, true), 0],
  /* 8 TYPEDEF */ [o('b'), info(Kind.TYPEDEF), 4],
  /* 9 VOLATILE */ [0, info(Kind.VOLATILE), 1],
  /* 10 CONST */ [0, info(Kind.CONST), 9],
  /* 11 RESTRICT */ [0, info(Kind.RESTRICT), 2],
  /* 12 FUNC_PROTO int (int a) */ [0, info(Kind.FUNC_PROTO, 1), 1, o('a'), 1],
  /* 13 FUNC f */ [o('f'), info(Kind.FUNC, 0), 12],
  /* 14 VAR v */ [o('v'), info(Kind.VAR), 1, 1],
  /* 15 DATASEC .data */ [o('.data'), info(Kind.DATASEC, 1), 4, 14, 0, 4],
  /* 16 FLOAT */ [o('X'), info(Kind.FLOAT), 8],
  /* 17 DECL_TAG */ [o('a'), info(Kind.DECL_TAG), 13, 0xffffffff],
  /* 18 TYPE_TAG */ [o('b'), info(Kind.TYPE_TAG), 2],
  /* 19 ENUM64 */ [o('E'), info(Kind.ENUM64, 1, true), 8, o('X'), 1, 2],
];

describe('BTF codec', () => {
  it('parses every kind and reads fields through the layout table', () => {
    const btf = Btf.parse(rawBtf(RECORDS, S));
    expect(btf.nrTypes).toBe(19);
    expect(btf.typeCount).toBe(20);
    expect([...Array(19)].map((_, i) => btf.kind(i + 1))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 12, 14, 15, 16, 17, 18, 19]);
    expect(btf.name(4)).toBe('foo');
    expect(btf.kflag(7)).toBe(true);
    expect(btf.vlen(4)).toBe(2);
    const ids = (id: number): number[] => {
      const out: number[] = [];
      btf.forEachIdField(id, (p) => out.push(btf.u32(p)));
      return out;
    };
    expect(ids(3)).toEqual([1, 1]); // elem, index
    expect(ids(4)).toEqual([1, 1]); // members
    expect(ids(12)).toEqual([1, 1]); // return, param
    expect(ids(15)).toEqual([14]); // datasec var
    expect(ids(17)).toEqual([13]);
    expect(ids(1)).toEqual([]);
    const strs: number[] = [];
    btf.forEachStrField(19, (p) => strs.push(btf.u32(p)));
    expect(strs).toEqual([o('E'), o('X')]);
    expect(btf.idFieldPositions().length).toBe(1 + 2 + 2 + 1 + 0 + 0 + 1 + 1 + 1 + 1 + 2 + 1 + 1 + 1 + 0 + 1 + 1);
    validateBtf(btf);
  });

  it('serializes byte for byte, in either byte order', () => {
    for (const le of [true, false]) {
      const raw = rawBtf(RECORDS, S, { le });
      const btf = Btf.parse(raw);
      expect(btf.littleEndian).toBe(le);
      expect(Buffer.from(btf.toBytes())).toEqual(Buffer.from(raw));
      expect(btf.name(13)).toBe('f');
    }
  });

  it('indexes more records than its reused offset array holds (262,144), in either byte order', () => {
    // 300,000 records: PTR to the one before, every 7th a CONST with the kind_flag bit set in a
    // raw u32 (which the walk must read as a 32-bit value, not a double)
    const n = 300_000;
    for (const le of [true, false]) {
      const records: number[][] = [];
      for (let id = 1; id <= n; id++) records.push([0, id % 7 ? info(Kind.PTR) : info(Kind.CONST, 0, true), id - 1]);
      const btf = Btf.parse(rawBtf(records, [''], { le }));
      expect(btf.littleEndian).toBe(le);
      expect(btf.typeCount).toBe(n + 1);
      expect(btf.offsets.length).toBe(n);
      expect(btf.offsets[n - 1]).toBe((n - 1) * 12);
      expect(btf.kind(n)).toBe(n % 7 ? Kind.PTR : Kind.CONST);
      expect(btf.kind(7)).toBe(Kind.CONST);
      expect(btf.sizeOrType(n)).toBe(n - 1);
    }
  });

  it('accepts a longer header whose extra bytes are zero and keeps it', () => {
    const raw = rawBtf(RECORDS, S, { hdrLen: 32 });
    const btf = Btf.parse(raw);
    expect(Buffer.from(btf.toBytes())).toEqual(Buffer.from(raw));
  });

  it('builds split BTF whose strings reuse the base', () => {
    const base = Btf.parse(rawBtf(RECORDS, S));
    const b = new BtfBuilder(base, true);
    expect(b.addString('foo')).toBe(o('foo'));
    const fresh = b.addString('zz');
    expect(fresh).toBe(base.strEnd);
    expect(b.addString('zz')).toBe(fresh);
    const id = b.addCompositeShell(Kind.STRUCT, 'zz', 16);
    expect(id).toBe(20);
    const split = b.build();
    expect(split.startId).toBe(20);
    expect(split.name(20)).toBe('zz');
    expect(split.sizeOrType(20)).toBe(16);
    expect(split.name(4)).toBe('foo');
  });
});

function thrown(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ModbtfError) return e.describe();
    throw e;
  }
  throw new Error('no error');
}

function parseError(raw: Uint8Array, base?: Btf): ModbtfError {
  try {
    const b = Btf.parse(raw, { base, file: 'x.btf' });
    b.checkReferences();
  } catch (e) {
    if (e instanceof ModbtfError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('BTF errors', () => {
  const good = rawBtf(RECORDS, S);
  const cases: [string, () => Uint8Array, string, string][] = [
    ['truncated header', () => good.subarray(0, 10), 'E_BTF_TRUNCATED', 'x.btf: truncated BTF header (hdr_len 24, 10 bytes)'],
    ['bad magic', () => { const r = good.slice(); r[0] = 0x12; return r; }, 'E_BTF_MAGIC', 'x.btf: bad BTF magic 0xeb12 (expected 0xeb9f)'],
    ['hdr_len < 24', () => { const r = good.slice(); r[4] = 16; return r; }, 'E_BTF_HEADER', 'x.btf: BTF hdr_len 16 is less than 24'],
    ['non-zero extra header', () => { const r = rawBtf(RECORDS, S, { hdrLen: 40 }); r[36] = 1; return r; }, 'E_BTF_HEADER', 'x.btf: unsupported BTF header: non-zero byte at offset 36 past the known fields'],
    ['sections past the end', () => good.subarray(0, good.length - 5), 'E_BTF_TRUNCATED', `x.btf: string section [${RECORDS.flat().length * 4}, ${RECORDS.flat().length * 4 + Buffer.from(S.join('\0') + '\0').length}) runs past the end of the data (${good.length - 5 - 24} bytes)`],
    ['unknown kind', () => rawBtf([[0, info(25), 0]], S), 'E_BTF_KIND', 'x.btf: type [1]: unknown BTF kind 25 (no kind layout section to size it)'],
    ['vlen past the end', () => rawBtf([[o('foo'), info(Kind.STRUCT, 100), 8]], S), 'E_BTF_VLEN', 'x.btf: type [1]: STRUCT with vlen 100 runs past the end of the type section'],
    ['type id out of range', () => rawBtf([[0, info(Kind.PTR), 7]], S), 'E_BTF_TYPE_ID', 'x.btf: type [1]: PTR refers to type id 7, out of range (last id 1)'],
    ['string offset out of range', () => rawBtf([[999, info(Kind.INT), 4, 32]], S), 'E_BTF_STRING', `x.btf: type [1]: INT has string offset 999, out of range (string section ends at ${Buffer.from(S.join('\0') + '\0').length})`],
    ['unterminated string section', () => { const r = good.slice(); r[r.length - 1] = 0x41; return r; }, 'E_BTF_STRING', 'x.btf: string section does not end with a NUL byte'],
  ];
  for (const [name, make, code, msg] of cases) {
    it(name, () => {
      const e = parseError(make());
      expect(e.code).toBe(code);
      expect(e.describe()).toBe(msg);
    });
  }

  it('rejects names the kernel rejects, accepts the ones it accepts (dots since Linux 6.5)', () => {
    const names = ['', '.data', 'a b'];
    validateBtf(Btf.parse(rawBtf([[strOff(names, '.data'), info(Kind.TYPEDEF), 0]], names), { file: 'x.btf' }));
    const bad = Btf.parse(rawBtf([[strOff(names, 'a b'), info(Kind.TYPEDEF), 0]], names), { file: 'x.btf' });
    expect(thrown(() => validateBtf(bad))).toBe("x.btf: type [1]: TYPEDEF 'a b': invalid name 'a b'");
  });

  it('accepts FLOAT names with spaces, as the kernel does (arm64 modules have FLOAT \'long double\')', () => {
    const names = ['', 'long double'];
    validateBtf(Btf.parse(rawBtf([[strOff(names, 'long double'), info(Kind.FLOAT), 16]], names), { file: 'x.btf' }));
  });

  it('rejects loops of modifiers (btf_check_type_tags), accepts loops through structs (module BTF is not resolved)', () => {
    const loop = rawBtf([[o('a'), info(Kind.TYPEDEF), 2], [0, info(Kind.CONST), 1]], S);
    expect(() => validateBtf(Btf.parse(loop, { file: 'x.btf' }))).toThrow('more than 32 modifiers in a chain, or a loop of modifiers');
    const viaStruct = rawBtf([[o('foo'), info(Kind.STRUCT, 1), 8, o('a'), 2, 0], [o('a'), info(Kind.TYPEDEF), 1]], S);
    validateBtf(Btf.parse(viaStruct));
  });

  it('accepts a member past the struct size, as the kernel does for a module (it checks member offsets only)', () => {
    const big = rawBtf([[o('int'), info(Kind.INT), 4, 32], [o('foo'), info(Kind.STRUCT, 1), 2, o('a'), 1, 0]], S);
    validateBtf(Btf.parse(big, { file: 'x.btf' }));
    const past = rawBtf([[o('int'), info(Kind.INT), 4, 32], [o('foo'), info(Kind.STRUCT, 1), 2, o('a'), 1, 24]], S);
    expect(thrown(() => validateBtf(Btf.parse(past, { file: 'x.btf' })))).toBe("x.btf: type [2]: STRUCT 'foo': member #0 at bit offset 24 is past the 2-byte size");
  });
});

describe.skipIf(!haveCorpus)('BTF codec on the corpus', () => {
  it('round-trips the three vmlinux BTFs byte for byte', () => {
    for (const k of ['k612cloud', 'k612cloud-perm', 'host618']) {
      const raw = readFileSync(corpus(k, 'vmlinux.btf'));
      const btf = Btf.parse(raw);
      btf.checkReferences();
      expect(Buffer.compare(Buffer.from(btf.toBytes()), raw)).toBe(0);
    }
  });
});

describe('hostile shapes', () => {
  it('a 200,000-deep array chain is sized without recursion', () => {
    const strs = ['', 'i', 's', 'm'];
    const recs: number[][] = [[strOff(strs, 'i'), info(Kind.INT), 4, 32]];
    for (let i = 0; i < 200_000; i++) recs.push([0, info(Kind.ARRAY), 0, recs.length, 1, 1]);
    recs.push([strOff(strs, 's'), info(Kind.STRUCT, 1), 4, strOff(strs, 'm'), recs.length, 0]);
    const btf = Btf.parse(rawBtf(recs, strs));
    validateBtf(btf);
    expect(btf.typeCount).toBe(200_003);
  });
});

describe('split BTF with no strings of its own', () => {
  it('parses (as libbpf and the kernel do) and distills to empty split BTF', async () => {
    const { distill } = await import('../src/distill/distill.js');
    const base = Btf.parse(rawBtf(RECORDS, S));
    const empty = rawBtf([], []);
    const split = Btf.parse(empty, { base });
    expect(split.nrTypes).toBe(0);
    expect(split.strings.length).toBe(0);
    const r = distill(split);
    expect(r.split.nrTypes).toBe(0);
    expect(r.base.nrTypes).toBe(0);
    expect(() => Btf.parse(empty)).toThrow('empty string section');
  });
});
