/**
 * validateBtf kind by kind against the verdicts of the kernel's BTF verifier
 * on module BTF (kernel/bpf/btf.c: btf_parse_module() runs btf_check_meta()
 * and each kind's *_check_meta(), then btf_check_type_tags(); not the resolve
 * pass): every case is accepted or refused as the kernel does it, with the
 * reason modbtf gives. test/kernel/validate.test.ts checks a sample of these
 * verdicts on a booted 6.12 kernel.
 */
import { describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { Kind } from '../src/btf/kinds.js';
import { validIdentifier, validSectionName, validateBtf } from '../src/btf/validate.js';
import { ModbtfError } from '../src/errors.js';
import { info, rawBtf, strOff } from './helpers.js';

const LONG511 = 'a'.repeat(511);
const LONG512 = 'a'.repeat(512);
const S = [
  '', 'int', 'foo', 'a', 'b', 'long double', 'x y', '.data', 'my.func', '.rodata.str1.1', 'sec$1 (x)', 'bad-name',
  '1abc', '\xe9t\xe9', '\xd7', 'tag value', 'x\x01', 'char', LONG511, LONG512, '\xa0', '_ok',
];
const o = (s: string): number => strOff(S, s);

/** Types every case can refer to: [1] int, [2] int *, [3] char (8-bit), [4] FWD struct foo. */
const PRELUDE = [
  [o('int'), info(Kind.INT), 4, 0x01000020],
  [0, info(Kind.PTR), 1],
  [o('char'), info(Kind.INT), 1, 0x00000008],
  [o('foo'), info(Kind.FWD), 0],
];
const FIRST = PRELUDE.length + 1;

/** The verdict on PRELUDE + `records`: 'ok', or the error line. */
function verdict(records: number[][]): string {
  const btf = Btf.parse(rawBtf([...PRELUDE, ...records], S), { file: 'x.btf' });
  try {
    validateBtf(btf);
    return 'ok';
  } catch (e) {
    if (e instanceof ModbtfError) return e.describe();
    throw e;
  }
}

const t = (id: number, what: string): string => `x.btf: type [${id}]: ${what}`;
const T = FIRST;

/** [kind, case, records (the first at id 5), kernel verdict]. */
const CASES: [string, string, number[][], string][] = [
  // INT: btf_int_check_meta checks no name; kind_flag, vlen, int data, bits, encoding.
  ['INT', 'a name with a space (INT names are not checked)', [[o('x y'), info(Kind.INT), 4, 32]], 'ok'],
  ['INT', 'anonymous', [[0, info(Kind.INT), 4, 32]], 'ok'],
  ['INT', 'size 3 (no size rule beyond the bits)', [[o('a'), info(Kind.INT), 3, 24]], 'ok'],
  ['INT', 'kind_flag', [[o('a'), info(Kind.INT, 0, true), 4, 32]], t(T, "INT 'a': kind_flag must be 0")],
  ['INT', 'vlen', [[o('a'), info(Kind.INT, 1), 4, 32]], t(T, "INT 'a': vlen 1 must be 0")],
  ['INT', 'bits past the size', [[o('a'), info(Kind.INT), 4, 33]], t(T, "INT 'a': nr_bits 33 at bits_offset 0 does not fit size 4")],
  ['INT', 'more than 128 bits', [[o('a'), info(Kind.INT), 32, 0x00010080]], t(T, "INT 'a': nr_bits 128 at bits_offset 1 exceeds 128 bits")],
  ['INT', 'two encodings', [[o('a'), info(Kind.INT), 4, 0x03000020]], t(T, "INT 'a': unsupported encoding 3 (one of signed, char, bool or none)")],
  ['INT', 'bits 28-31 set', [[o('a'), info(Kind.INT), 4, 0x10000020]], t(T, "INT 'a': invalid int data 0x10000020 (bits 28-31 must be 0)")],
  // PTR, CONST, VOLATILE, RESTRICT: btf_ref_type_check_meta: anonymous, no kind_flag.
  ['PTR', 'named', [[o('a'), info(Kind.PTR), 1]], t(T, "PTR 'a': name must be anonymous")],
  ['PTR', 'kind_flag', [[0, info(Kind.PTR, 0, true), 1]], t(T, "PTR '(anon)': kind_flag must be 0")],
  ['PTR', 'to void and to a FWD', [[0, info(Kind.PTR), 0], [0, info(Kind.PTR), 4]], 'ok'],
  ['PTR', 'to a VAR (a module\'s BTF is not resolved)', [[o('a'), info(Kind.VAR), 1, 0], [0, info(Kind.PTR), T]], 'ok'],
  ['PTR', 'a loop of pointers (a module\'s BTF is not resolved)', [[0, info(Kind.PTR), T + 1], [0, info(Kind.CONST), T]], 'ok'],
  ['PTR', 'to a struct that points back (legal)', [[o('foo'), info(Kind.STRUCT, 1), 8, o('a'), T + 1, 0], [0, info(Kind.PTR), T]], 'ok'],
  ['CONST', 'named', [[o('a'), info(Kind.CONST), 1]], t(T, "CONST 'a': name must be anonymous")],
  ['VOLATILE', 'vlen', [[0, info(Kind.VOLATILE, 2), 1]], t(T, "VOLATILE '(anon)': vlen 2 must be 0")],
  ['RESTRICT', 'kind_flag', [[0, info(Kind.RESTRICT, 0, true), 2]], t(T, "RESTRICT '(anon)': kind_flag must be 0")],
  // TYPEDEF: a required identifier (`.` allowed since Linux 6.5), no kind_flag.
  ['TYPEDEF', 'a name with dots', [[o('.data'), info(Kind.TYPEDEF), 1]], 'ok'],
  ['TYPEDEF', 'a name with a space', [[o('x y'), info(Kind.TYPEDEF), 1]], t(T, "TYPEDEF 'x y': invalid name 'x y'")],
  ['TYPEDEF', 'a name starting with a digit', [[o('1abc'), info(Kind.TYPEDEF), 1]], t(T, "TYPEDEF '1abc': invalid name '1abc'")],
  ['TYPEDEF', 'anonymous', [[0, info(Kind.TYPEDEF), 1]], t(T, "TYPEDEF '(anon)': name must have a name")],
  ['TYPEDEF', 'kind_flag', [[o('a'), info(Kind.TYPEDEF, 0, true), 1]], t(T, "TYPEDEF 'a': kind_flag must be 0")],
  ['TYPEDEF', 'of void, of a FWD', [[o('a'), info(Kind.TYPEDEF), 0], [o('b'), info(Kind.TYPEDEF), 4]], 'ok'],
  ['TYPEDEF', 'a loop', [[o('a'), info(Kind.TYPEDEF), T + 1], [0, info(Kind.CONST), T]], t(T, "TYPEDEF 'a': more than 32 modifiers in a chain, or a loop of modifiers")],
  // TYPE_TAG: any non-empty name; kind_flag allowed (Linux 6.15).
  ['TYPE_TAG', 'a name with a space', [[o('x y'), info(Kind.TYPE_TAG), 1]], 'ok'],
  ['TYPE_TAG', 'kind_flag (an attribute)', [[o('a'), info(Kind.TYPE_TAG, 0, true), 1]], 'ok'],
  ['TYPE_TAG', 'anonymous', [[0, info(Kind.TYPE_TAG), 1]], t(T, "TYPE_TAG '(anon)': name must have a name")],
  // btf_check_type_tags(): TYPE_TAGs before other modifiers, at most 32 modifiers walked.
  ['TYPE_TAG', 'before a CONST', [[o('a'), info(Kind.TYPE_TAG), T + 1], [0, info(Kind.CONST), 1]], 'ok'],
  ['TYPE_TAG', 'after a CONST', [[0, info(Kind.CONST), T + 1], [o('a'), info(Kind.TYPE_TAG), 1]], t(T, "CONST '(anon)': TYPE_TAG [6] comes after another modifier (type tags must precede modifiers)")],
  ['CONST', 'a chain of 32 modifiers', Array.from({ length: 32 }, (_, i) => [0, info(Kind.CONST), i < 31 ? T + i + 1 : 1]), 'ok'],
  ['CONST', 'a chain of 33 modifiers, each to the next', Array.from({ length: 33 }, (_, i) => [0, info(Kind.CONST), i < 32 ? T + i + 1 : 1]), t(T, "CONST '(anon)': more than 32 modifiers in a chain, or a loop of modifiers")],
  ['CONST', 'a chain of 33 modifiers, each to the previous (walks stop at checked types)', Array.from({ length: 33 }, (_, i) => [0, info(Kind.CONST), i === 0 ? 1 : T + i - 1]), 'ok'],
  // ARRAY: anonymous, no vlen, kind_flag or size; an element with a size, a regular int index.
  ['ARRAY', 'named', [[o('a'), info(Kind.ARRAY), 0, 1, 1, 4]], t(T, "ARRAY 'a': name must be anonymous")],
  ['ARRAY', 'size field set', [[0, info(Kind.ARRAY), 4, 1, 1, 4]], t(T, "ARRAY '(anon)': size 4 must be 0")],
  ['ARRAY', 'kind_flag', [[0, info(Kind.ARRAY, 0, true), 0, 1, 1, 4]], t(T, "ARRAY '(anon)': kind_flag must be 0")],
  ['ARRAY', 'void element', [[0, info(Kind.ARRAY), 0, 0, 1, 4]], t(T, "ARRAY '(anon)': element type must not be void")],
  ['ARRAY', 'FWD element (a module\'s BTF is not resolved)', [[0, info(Kind.ARRAY), 0, 4, 1, 4]], 'ok'],
  ['ARRAY', 'FLOAT index (a module\'s BTF is not resolved)', [[o('a'), info(Kind.FLOAT), 8], [0, info(Kind.ARRAY), 0, 1, T, 4]], 'ok'],
  ['ARRAY', 'int bitfield element (a module\'s BTF is not resolved)', [[o('a'), info(Kind.INT), 1, 3], [0, info(Kind.ARRAY), 0, T, 1, 4]], 'ok'],
  ['ARRAY', 'size overflowing 32 bits (a module\'s BTF is not resolved)', [[0, info(Kind.ARRAY), 0, 1, 1, 0x40000000]], 'ok'],
  // STRUCT, UNION: optional identifier, member names optional identifiers, offsets in order and inside.
  ['STRUCT', 'a name with dots', [[o('.data'), info(Kind.STRUCT, 1), 4, o('a'), 1, 0]], 'ok'],
  ['STRUCT', 'Latin-1 letters (the kernel\'s isalpha)', [[o('\xe9t\xe9'), info(Kind.STRUCT, 1), 4, o('a'), 1, 0]], 'ok'],
  ['STRUCT', 'the multiplication sign (not a letter)', [[o('\xd7'), info(Kind.STRUCT, 1), 4, o('a'), 1, 0]], t(T, "STRUCT '\xd7': invalid name '\xd7'")],
  ['STRUCT', 'a 511-byte name', [[o(LONG511), info(Kind.STRUCT, 0), 4]], 'ok'],
  ['STRUCT', 'a 512-byte name', [[o(LONG512), info(Kind.STRUCT, 0), 4]], t(T, `STRUCT '${LONG512}': name is 512 bytes long (at most 511)`)],
  ['STRUCT', 'a member name with a dash', [[o('foo'), info(Kind.STRUCT, 1), 4, o('bad-name'), 1, 0]], t(T, "STRUCT 'foo': invalid member #0 name 'bad-name'")],
  ['STRUCT', 'a void member', [[o('foo'), info(Kind.STRUCT, 1), 4, o('a'), 0, 0]], t(T, "STRUCT 'foo': member #0 has type void")],
  ['STRUCT', 'members out of order', [[o('foo'), info(Kind.STRUCT, 2), 8, o('a'), 1, 32, o('b'), 1, 0]], t(T, "STRUCT 'foo': member #1 at bit offset 0 comes before the previous member's 32")],
  ['STRUCT', 'a member offset past the size', [[o('foo'), info(Kind.STRUCT, 1), 4, o('a'), 1, 40]], t(T, "STRUCT 'foo': member #0 at bit offset 40 is past the 4-byte size")],
  ['STRUCT', 'a member running past the size (a module\'s BTF is not resolved)', [[o('foo'), info(Kind.STRUCT, 1), 2, o('a'), 1, 0]], 'ok'],
  ['STRUCT', 'a FWD member (a module\'s BTF is not resolved)', [[o('foo'), info(Kind.STRUCT, 1), 8, o('a'), 4, 0]], 'ok'],
  ['STRUCT', 'a pointer in 4 bytes (a module\'s BTF is not resolved)', [[o('foo'), info(Kind.STRUCT, 1), 4, o('a'), 2, 0]], 'ok'],
  ['STRUCT', 'a bitfield with kind_flag', [[o('foo'), info(Kind.STRUCT, 2, true), 4, o('a'), 1, (3 << 24) | 0, o('b'), 1, (5 << 24) | 3]], 'ok'],
  ['STRUCT', 'an old-style bitfield (int with bits_offset, no kind_flag)', [[o('a'), info(Kind.INT), 1, 4], [o('foo'), info(Kind.STRUCT, 1), 1, o('a'), T, 4]], 'ok'],
  ['STRUCT', 'a bitfield wider than its int (a module\'s BTF is not resolved)', [[o('foo'), info(Kind.STRUCT, 1, true), 8, o('a'), 3, (9 << 24) | 0]], 'ok'],
  ['STRUCT', 'a pointer bitfield (a module\'s BTF is not resolved)', [[o('foo'), info(Kind.STRUCT, 1, true), 8, o('a'), 2, (3 << 24) | 0]], 'ok'],
  ['STRUCT', 'a misaligned double (a module\'s BTF is not resolved)', [[o('a'), info(Kind.FLOAT), 8], [o('foo'), info(Kind.STRUCT, 1), 16, o('a'), T, 32]], 'ok'],
  ['STRUCT', 'a struct by value of itself (a module\'s BTF is not resolved)', [[o('foo'), info(Kind.STRUCT, 1), 4, o('a'), T, 0]], 'ok'],
  ['UNION', 'a member not at 0', [[o('foo'), info(Kind.UNION, 1), 8, o('a'), 1, 32]], t(T, "UNION 'foo': member #0 at bit offset 32: union members are at offset 0")],
  ['UNION', 'anonymous with anonymous members', [[0, info(Kind.UNION, 2), 4, 0, 1, 0, 0, 3, 0]], 'ok'],
  // ENUM, ENUM64: size 1, 2, 4 or 8; enumerators named; kind_flag is signedness.
  ['ENUM', 'signed (kind_flag)', [[o('foo'), info(Kind.ENUM, 1, true), 4, o('a'), -1 >>> 0]], 'ok'],
  ['ENUM', 'size 3', [[o('foo'), info(Kind.ENUM, 1), 3, o('a'), 0]], t(T, "ENUM 'foo': size 3 is not 1, 2, 4 or 8")],
  ['ENUM', 'size 0', [[o('foo'), info(Kind.ENUM, 0), 0]], t(T, "ENUM 'foo': size 0 is not 1, 2, 4 or 8")],
  ['ENUM', 'an anonymous enumerator', [[o('foo'), info(Kind.ENUM, 1), 4, 0, 0]], t(T, "ENUM 'foo': enumerator #0 name must have a name")],
  ['ENUM64', 'size 16', [[o('foo'), info(Kind.ENUM64, 1), 16, o('a'), 0, 0]], t(T, "ENUM64 'foo': size 16 is not 1, 2, 4 or 8")],
  ['ENUM64', 'anonymous, signed', [[0, info(Kind.ENUM64, 1, true), 8, o('a'), 0, 1]], 'ok'],
  // FWD: a required identifier, type 0; kind_flag is the union flavour.
  ['FWD', 'union flavour', [[o('b'), info(Kind.FWD, 0, true), 0]], 'ok'],
  ['FWD', 'anonymous', [[0, info(Kind.FWD), 0]], t(T, "FWD '(anon)': name must have a name")],
  ['FWD', 'type set', [[o('b'), info(Kind.FWD), 1]], t(T, "FWD 'b': type 1 must be 0")],
  // FUNC: a required identifier, linkage static or global, no kind_flag, of a FUNC_PROTO with named parameters.
  ['FUNC', 'a name with dots, global', [[0, info(Kind.FUNC_PROTO, 1), 1, o('a'), 1], [o('my.func'), info(Kind.FUNC, 1), T]], 'ok'],
  ['FUNC', 'extern linkage', [[0, info(Kind.FUNC_PROTO, 0), 1], [o('a'), info(Kind.FUNC, 2), T]], t(T + 1, "FUNC 'a': linkage 2 is neither static (0) nor global (1)")],
  ['FUNC', 'kind_flag', [[0, info(Kind.FUNC_PROTO, 0), 1], [o('a'), info(Kind.FUNC, 0, true), T]], t(T + 1, "FUNC 'a': kind_flag must be 0")],
  ['FUNC', 'of an INT (a module\'s BTF is not resolved)', [[o('a'), info(Kind.FUNC), 1]], 'ok'],
  ['FUNC', 'an unnamed parameter (a module\'s BTF is not resolved)', [[0, info(Kind.FUNC_PROTO, 1), 1, 0, 1], [o('a'), info(Kind.FUNC), T]], 'ok'],
  // FUNC_PROTO: anonymous, no kind_flag; parameters of a type with a size, a trailing anonymous vararg.
  ['FUNC_PROTO', 'unnamed parameters and a vararg', [[0, info(Kind.FUNC_PROTO, 2), 0, 0, 1, 0, 0]], 'ok'],
  ['FUNC_PROTO', 'named', [[o('a'), info(Kind.FUNC_PROTO, 0), 1]], t(T, "FUNC_PROTO 'a': name must be anonymous")],
  ['FUNC_PROTO', 'kind_flag', [[0, info(Kind.FUNC_PROTO, 0, true), 1]], t(T, "FUNC_PROTO '(anon)': kind_flag must be 0")],
  ['FUNC_PROTO', 'a named vararg (a module\'s BTF is not resolved)', [[0, info(Kind.FUNC_PROTO, 1), 1, o('a'), 0]], 'ok'],
  ['FUNC_PROTO', 'void before the last parameter (a module\'s BTF is not resolved)', [[0, info(Kind.FUNC_PROTO, 2), 1, 0, 0, 0, 1]], 'ok'],
  ['FUNC_PROTO', 'a parameter name with a space (a module\'s BTF is not resolved)', [[0, info(Kind.FUNC_PROTO, 1), 1, o('x y'), 1]], 'ok'],
  ['FUNC_PROTO', 'returning a FWD (a module\'s BTF is not resolved)', [[0, info(Kind.FUNC_PROTO, 0), 4]], 'ok'],
  // VAR: a required identifier, no vlen or kind_flag, static or global, of a type with a size.
  ['VAR', 'a name with dots', [[o('.data'), info(Kind.VAR), 1, 1]], 'ok'],
  ['VAR', 'a name with a space', [[o('x y'), info(Kind.VAR), 1, 0]], t(T, "VAR 'x y': invalid name 'x y'")],
  ['VAR', 'extern linkage', [[o('a'), info(Kind.VAR), 1, 2]], t(T, "VAR 'a': linkage 2 is neither static (0) nor global (1)")],
  ['VAR', 'of a FWD (a module\'s BTF is not resolved)', [[o('a'), info(Kind.VAR), 4, 0]], 'ok'],
  ['VAR', 'kind_flag', [[o('a'), info(Kind.VAR, 0, true), 1, 0]], t(T, "VAR 'a': kind_flag must be 0")],
  // DATASEC: any printable name, a size, entries of VARs in order and inside.
  ['DATASEC', 'printable names', [[o('a'), info(Kind.VAR), 1, 0], [o('.rodata.str1.1'), info(Kind.DATASEC, 1), 4, T, 0, 4], [o('sec$1 (x)'), info(Kind.DATASEC, 0), 4], [o('\xa0'), info(Kind.DATASEC, 0), 4]], 'ok'],
  ['DATASEC', 'a control character', [[o('x\x01'), info(Kind.DATASEC, 0), 4]], t(T, "DATASEC 'x\x01': invalid name 'x\x01'")],
  ['DATASEC', 'size 0', [[o('.data'), info(Kind.DATASEC, 0), 0]], t(T, "DATASEC '.data': size must not be 0")],
  ['DATASEC', 'kind_flag', [[o('.data'), info(Kind.DATASEC, 0, true), 4]], t(T, "DATASEC '.data': kind_flag must be 0")],
  ['DATASEC', 'an entry that is no VAR (a module\'s BTF is not resolved)', [[o('.data'), info(Kind.DATASEC, 1), 4, 1, 0, 4]], 'ok'],
  ['DATASEC', 'overlapping entries', [[o('a'), info(Kind.VAR), 1, 0], [o('.data'), info(Kind.DATASEC, 2), 8, T, 0, 4, T, 2, 4]], t(T + 1, "DATASEC '.data': entry #1 at offset 2 overlaps the previous one or is past the 8-byte size")],
  ['DATASEC', 'an entry smaller than its VAR (a module\'s BTF is not resolved)', [[o('a'), info(Kind.VAR), 1, 0], [o('.data'), info(Kind.DATASEC, 1), 4, T, 0, 2]], 'ok'],
  // FLOAT: btf_float_check_meta checks no name; sizes 2, 4, 8, 12, 16; no kind_flag.
  ['FLOAT', "'long double' (a name with a space)", [[o('long double'), info(Kind.FLOAT), 16]], 'ok'],
  ['FLOAT', 'anonymous', [[0, info(Kind.FLOAT), 4]], 'ok'],
  ['FLOAT', 'size 12', [[o('long double'), info(Kind.FLOAT), 12]], 'ok'],
  ['FLOAT', 'size 6', [[o('a'), info(Kind.FLOAT), 6]], t(T, "FLOAT 'a': size 6 is not 2, 4, 8, 12 or 16")],
  ['FLOAT', 'kind_flag', [[o('a'), info(Kind.FLOAT, 0, true), 8]], t(T, "FLOAT 'a': kind_flag must be 0")],
  ['FLOAT', 'vlen', [[o('a'), info(Kind.FLOAT, 1), 8]], t(T, "FLOAT 'a': vlen 1 must be 0")],
  // DECL_TAG: any non-empty value, component_idx >= -1 within the target, on FUNC, STRUCT, UNION, VAR or TYPEDEF.
  ['DECL_TAG', 'a value with a space, on a member, with kind_flag (an attribute)', [[o('foo'), info(Kind.STRUCT, 1), 4, o('a'), 1, 0], [o('tag value'), info(Kind.DECL_TAG, 0, true), T, 0]], 'ok'],
  ['DECL_TAG', 'empty value', [[o('foo'), info(Kind.STRUCT, 0), 4], [0, info(Kind.DECL_TAG), T, -1 >>> 0]], t(T + 1, "DECL_TAG '(anon)': name must have a name")],
  ['DECL_TAG', 'component_idx -2', [[o('foo'), info(Kind.STRUCT, 0), 4], [o('a'), info(Kind.DECL_TAG), T, -2 >>> 0]], t(T + 1, "DECL_TAG 'a': component_idx -2 is below -1")],
  ['DECL_TAG', 'on an INT (a module\'s BTF is not resolved)', [[o('a'), info(Kind.DECL_TAG), 1, -1 >>> 0]], 'ok'],
  ['DECL_TAG', 'component past the members (a module\'s BTF is not resolved)', [[o('foo'), info(Kind.STRUCT, 1), 4, o('a'), 1, 0], [o('a'), info(Kind.DECL_TAG), T, 1]], 'ok'],
  ['DECL_TAG', 'a component of a TYPEDEF (a module\'s BTF is not resolved)', [[o('a'), info(Kind.TYPEDEF), 1], [o('a'), info(Kind.DECL_TAG), T, 0]], 'ok'],
];

describe('validateBtf gives the kernel\'s verdict, kind by kind', () => {
  it('the prelude alone is valid', () => {
    expect(verdict([])).toBe('ok');
  });
  for (const [kind, what, records, expected] of CASES) {
    it(`${kind}: ${what}: ${expected === 'ok' ? 'accepted' : 'refused'}`, () => {
      expect(verdict(records)).toBe(expected);
    });
  }
  it('covers every kind', () => {
    const kinds = new Set(CASES.map((c) => c[0]));
    for (const k of ['INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64']) {
      expect(kinds.has(k), k).toBe(true);
    }
  });
});

describe('name rules as btf_name_valid_identifier() and btf_name_valid_section() have them', () => {
  const b = (s: string): Uint8Array => Buffer.from(s, 'latin1');
  it('identifiers: letters (Latin-1 too), digits after the first, `_` and `.`', () => {
    for (const ok of ['a', '_', '.', '.data', 'asan.module_ctor', 'a1', '\xc0\xff', LONG511]) expect(validIdentifier(b(ok)), ok).toBe(true);
    for (const bad of ['', '1a', 'a b', 'a-b', '\xd7', 'a\xf7', '\x80', '\xa0', LONG512]) expect(validIdentifier(b(bad)), bad).toBe(false);
  });
  it('section names: any printable byte (0x20-0x7e, 0xa0-0xff)', () => {
    for (const ok of ['.data', 'a b', '$?!', '\xa0\xff', LONG511]) expect(validSectionName(b(ok)), ok).toBe(true);
    for (const bad of ['', 'a\x01', '\x7f', '\x9f', LONG512]) expect(validSectionName(b(bad)), bad).toBe(false);
  });
});
