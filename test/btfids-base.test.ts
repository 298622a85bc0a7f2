/**
 * Distilling a module whose .BTF_ids names a base type no split type refers
 * to: the type joins the distilled base, so the kernel can map the slot.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { distillModule } from '../src/distill/module.js';
import { ElfFile } from '../src/elf/index.js';
import { ModbtfError } from '../src/errors.js';
import { reconcileModule } from '../src/reconcile/module.js';
import { fixture, info, rawBtf, strOff } from './helpers.js';

const INT = 1, PTR = 2, STRUCT = 4;
const MOD = fixture('btfids-base/btfids-base.ko');
const base = Btf.parse(readFileSync(fixture('btfids-base/base.btf')), { file: 'base.btf' });
const sec = (e: ElfFile, n: string): Uint8Array => Uint8Array.from(e.data(e.section(n)!));
const u32s = (b: Uint8Array): number[] => Array.from({ length: b.length / 4 }, (_, i) => new DataView(b.buffer, b.byteOffset).getUint32(i * 4, true));

describe('.BTF_ids naming an unreferenced base type', () => {
  const elf = ElfFile.parse(readFileSync(MOD), MOD);
  const r = distillModule(elf, base, { file: 'm.ko' });
  const out = ElfFile.parse(r.elf, 'm.ko');

  it('puts the named struct in the distilled base as a shell and remaps the slot to it', () => {
    const bs = ['', 'int', 'foo', 'bar'];
    const b = (s: string): number => strOff(bs, s);
    expect(sec(out, '.BTF.base_minimal')).toEqual(rawBtf([
      [b('int'), info(INT), 4, (1 << 24) | 32],
      [b('foo'), info(STRUCT), 4],
      [b('bar'), info(STRUCT), 8],
    ], bs));
    const baseLen = bs.join('\0').length + 1;
    const ss = ['mod_s', 'a', 'b']; // split strings follow the base's, with no leading empty string
    const s = (x: string): number => baseLen + strOff(ss, x);
    expect(sec(out, '.BTF')).toEqual(rawBtf([
      [s('mod_s'), info(STRUCT, 2), 8, s('a'), 2, 0, s('b'), 1, 32],
      [0, info(PTR), 4],
    ], ss));
    // struct bar 5 -> 3 (distilled base), struct mod_s 6 -> 4.
    expect(u32s(sec(out, '.BTF_ids'))).toEqual([3, 4]);
    expect(r.report.baseTypes).toBe(3);
    expect(r.report.btfIdsChanged).toBe(2);
  });

  it('reconciles the slot to the target kernel\'s id of that struct', () => {
    const ts = ['', 'int', 'long int', 'bar', 'y', 'foo', 'x'];
    const t = (x: string): number => strOff(ts, x);
    const target = Btf.parse(rawBtf([
      [t('int'), info(INT), 4, (1 << 24) | 32],
      [t('long int'), info(INT), 8, (1 << 24) | 64],
      [t('bar'), info(STRUCT, 1), 8, t('y'), 2, 0],
      [t('foo'), info(STRUCT, 1), 4, t('x'), 1, 0],
    ], ts), { file: 'target.btf' });
    const rec = ElfFile.parse(reconcileModule(out, target, { file: 'm.ko' }).elf, 'm.ko');
    expect(u32s(sec(rec, '.BTF_ids'))).toEqual([3, 5]);
    // Onto the kernel it was built against: the original slots come back.
    const back = ElfFile.parse(reconcileModule(out, base, { file: 'm.ko' }).elf, 'm.ko');
    expect(u32s(sec(back, '.BTF_ids'))).toEqual([5, 6]);
  });

  it('refuses a slot naming a base type the kernel cannot map, naming slot and type', () => {
    const bytes = new Uint8Array(readFileSync(MOD));
    const ids = elf.section('.BTF_ids')!;
    new DataView(bytes.buffer).setUint32(Number(ids.offset), 3, true); // struct bar -> typedef baz
    let err: unknown;
    try {
      distillModule(ElfFile.parse(bytes, 'm.ko'), base, { file: 'm.ko' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModbtfError);
    expect((err as ModbtfError).describe()).toBe(
      "m.ko: .BTF_ids: type [3]: slot at offset 0 (__BTF_ID__struct__bar__1) names base type [3] TYPEDEF 'baz', not a type a distilled base can hold: the kernel cannot map it from a distilled base");
  });
});
