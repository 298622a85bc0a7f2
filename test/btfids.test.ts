/** .BTF_ids: slots found through __BTF_ID__* symbols, remapped, sets kept sorted. */
import { describe, expect, it } from 'vitest';
import { btfIdsLayout, remapBtfIds } from '../src/btf/btfids.js';
import { ModbtfError } from '../src/errors.js';

function section(words: number[]): Uint8Array {
  const b = new Uint8Array(words.length * 4);
  const dv = new DataView(b.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w, true));
  return b;
}
const words = (b: Uint8Array): number[] => Array.from({ length: b.length / 4 }, (_, i) => new DataView(b.buffer, b.byteOffset).getUint32(i * 4, true));

// 0: BTF_ID_LIST entry (10), 4: BTF_ID_UNUSED (0), 8: set { cnt 3: 20 30 40 }, 24: set8 { cnt 2, flags 1: (50, 7) (60, 9) }
const SEC = section([10, 0, 3, 20, 30, 40, 2, 1, 50, 7, 60, 9]);
const SYMS = [
  { name: '__BTF_ID__struct__foo__1', value: 0n, shndx: 5 },
  { name: '__BTF_ID__set__myset', value: 8n, shndx: 5 },
  { name: '__BTF_ID__func__a__2', value: 12n, shndx: 5 },
  { name: '__BTF_ID__set8__kfuncs', value: 24n, shndx: 5 },
  { name: '__BTF_ID__func__k1__3', value: 32n, shndx: 5 },
  { name: '__BTF_ID__func__other__9', value: 0n, shndx: 6 }, // another section: ignored
  { name: 'plain_symbol', value: 4n, shndx: 5 },
];

describe('.BTF_ids', () => {
  it('finds list, set and set8 slots', () => {
    const l = btfIdsLayout(SEC, 5, SYMS, true);
    expect(l.slots).toEqual([0, 12, 16, 20, 32, 40]);
    expect(l.sets).toEqual([8]);
    expect(l.sets8).toEqual([24]);
  });

  it('remaps every non-zero slot and re-sorts sets, flags following their ids', () => {
    const map = new Uint32Array(100);
    map[10] = 11; map[20] = 90; map[30] = 31; map[40] = 41; map[50] = 95; map[60] = 61;
    const r = remapBtfIds(SEC, btfIdsLayout(SEC, 5, SYMS, true), map, true);
    expect(words(r.bytes)).toEqual([11, 0, 3, 31, 41, 90, 2, 1, 61, 9, 95, 7]);
    expect(r.slots).toBe(6);
    expect(r.changed).toBe(6);
    expect(words(SEC)[0]).toBe(10); // input untouched
  });

  it('refuses an id the new BTF does not have, naming the slot', () => {
    const map = new Uint32Array(100);
    let err: unknown;
    try {
      remapBtfIds(SEC, btfIdsLayout(SEC, 5, SYMS, true), map, true, { file: 'm.ko' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModbtfError);
    expect((err as ModbtfError).describe()).toBe('m.ko: .BTF_ids: type [10]: slot at offset 0 (__BTF_ID__struct__foo__1) holds type id 10, which has no counterpart in the new BTF');
  });

  it('refuses symbols pointing outside the section', () => {
    const bad = [{ name: '__BTF_ID__set8__x', value: 40n, shndx: 5 }];
    expect(() => btfIdsLayout(SEC, 5, bad, true, { file: 'm.ko' })).toThrow('symbol __BTF_ID__set8__x points at bytes [48, 528) outside the section (48 bytes)');
  });
});
