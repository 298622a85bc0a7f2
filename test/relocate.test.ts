/** Relocation rules on hand-made BTF: every reason a distilled type can fail to map. */
import { describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { Kind } from '../src/btf/kinds.js';
import { formatProblem, planRelocation, relocate } from '../src/reconcile/relocate.js';
import { ModbtfError } from '../src/errors.js';
import { info, rawBtf, strOff } from './helpers.js';

const S = ['', 'int', 'foo', 'bar', 'baz', 'e', 'f', 'u', 'm', 'dup', 'ptr'];
const o = (s: string): number => strOff(S, s);

/** Distilled base: int, struct foo(8), struct bar(16), enum e(4), fwd union u, struct dup(4), struct baz(4). */
const DIST = rawBtf([
  [o('int'), info(Kind.INT), 4, 0x01000020], // 1
  [o('foo'), info(Kind.STRUCT), 8], // 2
  [o('bar'), info(Kind.STRUCT), 16], // 3
  [o('e'), info(Kind.ENUM), 4], // 4
  [o('u'), info(Kind.FWD, 0, true), 0], // 5
  [o('dup'), info(Kind.STRUCT), 4], // 6
  [o('baz'), info(Kind.STRUCT), 4], // 7
], S);

function split(dist: Btf): Btf {
  // struct m { struct foo a; struct bar *p; } embeds foo by value, points to bar.
  const start = dist.typeCount;
  const raw = rawBtf([
    [0, info(Kind.PTR), 3], // start: *bar
    [0, info(Kind.STRUCT, 2), 16, 0, 2, 0, 0, start, 64], // start+1 (names would need a string section of its own)
    [0, info(Kind.PTR), 1], [0, info(Kind.PTR), 4], [0, info(Kind.PTR), 5], [0, info(Kind.PTR), 6], [0, info(Kind.PTR), 7],
  ], []);
  // rawBtf writes a base-style string table; split BTF here has none of its own.
  const dv = new DataView(raw.buffer);
  dv.setUint32(20, 0, true);
  return Btf.parse(raw.subarray(0, raw.length), { base: dist });
}

describe('relocation rules', () => {
  const dist = Btf.parse(DIST);

  it('maps onto a kernel that has everything', () => {
    const target = Btf.parse(rawBtf([
      [o('bar'), info(Kind.UNION), 99], // 1: a union named bar: libbpf matches any composite of that name
      [o('foo'), info(Kind.STRUCT), 8], // 2
      [o('int'), info(Kind.INT), 4, 0x01000020], // 3
      [o('e'), info(Kind.ENUM64), 4], // 4: ENUM may match ENUM64 of the same size
      [o('u'), info(Kind.UNION), 4], // 5: fwd union -> union
      [o('dup'), info(Kind.STRUCT), 4], // 6
      [o('baz'), info(Kind.STRUCT), 4], // 7
    ], S));
    const r = relocate(split(dist), target);
    expect(r.idMap.slice(1, 8)).toEqual(Uint32Array.of(3, 2, 1, 4, 5, 6, 7));
  });

  it('names every failure with its reason', () => {
    const target = Btf.parse(rawBtf([
      [o('foo'), info(Kind.STRUCT), 12], // 1: embedded foo changed size
      [o('int'), info(Kind.INT), 4, 0], // 2: int without the signed encoding
      [o('e'), info(Kind.ENUM), 8], // 3: enum of another size
      [o('u'), info(Kind.STRUCT), 4], // 4: fwd union, but only a struct
      [o('dup'), info(Kind.STRUCT), 4], // 5
      [o('dup'), info(Kind.STRUCT), 4], // 6: two of the same name and size
      [o('baz'), info(Kind.STRUCT), 4], // 7
      [o('baz'), info(Kind.STRUCT), 8], // 8: several of that name: by size, 4 -> [7]
    ], S));
    const plan = planRelocation(split(dist), target);
    expect(plan.problems.map(formatProblem)).toEqual([
      "'int' [1] INT size 4: encoding differs: signed here, unsigned in the target [2]",
      "'foo' [2] STRUCT size 8: size differs (embedded by value): 8 here, STRUCT [1] size 12 in the target",
      "'bar' [3] STRUCT size 16: missing in the target",
      "'e' [4] ENUM size 4: size differs: 4 here, ENUM [3] size 8 in the target",
      "'u' [5] FWD: kind differs (fwd union): the target has STRUCT [4] size 4",
      "'dup' [6] STRUCT size 4: ambiguous: 2 candidates of size 4 in the target (ids [5], [6])",
    ]);
    expect(plan.idMap[7]).toBe(7);
    let err: unknown;
    try {
      relocate(split(dist), target);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModbtfError);
    expect((err as ModbtfError).message).toContain('cannot map 6 distilled base types onto the target');
  });
});
