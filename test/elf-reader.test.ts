/**
 * The ELF reader against elfy 1.0.0, which it replaced: the same files are
 * refused as unreadable, and the sections get the same names, for real
 * modules and BPF objects (both byte orders) and for their headers mutated
 * at the fields elfy read (program and section header counts, offsets and
 * sizes, the name-table index, the names' bytes).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import elfy from 'elfy';
import { describe, expect, it } from 'vitest';
import { ElfFile, SHN_LORESERVE } from '../src/elf/elf.js';
import { fixture } from './helpers.js';

const xz = (p: string): Uint8Array => new Uint8Array(spawnSync('xz', ['-dc', p], { maxBuffer: 1 << 28 }).stdout);
const inputs: [string, Uint8Array][] = [
  ['crc7.ko', xz(fixture('k612/modules/crc7.ko.xz'))],
  ['tcp_bbr.ko', xz(fixture('k612/modules/tcp_bbr.ko.xz'))],
  ['core_kinds.bpfel.o', new Uint8Array(readFileSync(fixture('bpfobj/core_kinds.bpfel.o')))],
  ['core_kinds.bpfeb.o', new Uint8Array(readFileSync(fixture('bpfobj/core_kinds.bpfeb.o')))],
];

type Outcome = { names: string[] } | { error: string };

function ours(bytes: Uint8Array): Outcome {
  try {
    return { names: ElfFile.parse(bytes).sections.map((s) => s.name) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** elfy's names, or null when elfy threw. */
function elfys(bytes: Uint8Array): string[] | null {
  try {
    return elfy.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).body.sections.map((s) => s.name);
  } catch {
    return null;
  }
}

/** The reader's outcome agrees with elfy's: names equal whenever elfy read them; "malformed" exactly when elfy threw. */
function agree(label: string, bytes: Uint8Array): Outcome {
  const o = ours(bytes);
  const e = elfys(bytes);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = bytes[5] === 1;
  let shnum = dv.getUint16(0x3c, le);
  if (shnum === 0 && bytes.length >= 0x40 + 0) {
    const shoff = Number(dv.getBigUint64(0x28, le));
    if (shoff + 64 <= bytes.length) shnum = Number(dv.getBigUint64(shoff + 32, le));
  }
  if ('names' in o) {
    if (e) expect(o.names, label).toEqual(e);
    else expect(shnum >= SHN_LORESERVE, `${label}: read although elfy could not`).toBe(true);
  } else if (o.error.startsWith('malformed ELF')) {
    expect(e, `${label}: refused as malformed although elfy read it`).toBeNull();
  }
  return o;
}

describe('ELF reader', () => {
  it('names every section of real files as elfy does', () => {
    for (const [name, bytes] of inputs) {
      const o = agree(name, bytes);
      expect('names' in o && o.names.includes('.BTF'), name).toBe(true);
    }
  });

  it('symbolsIn(section) is symbols() of that section, read with or without the whole table', () => {
    const bytes = inputs[1]![1]; // tcp_bbr.ko: it has .BTF_ids
    const ids = ElfFile.parse(bytes).section('.BTF_ids')!;
    const first = ElfFile.parse(bytes).symbolsIn(ids.index);
    const elf = ElfFile.parse(bytes);
    const all = elf.symbols();
    const expected = all.filter((s) => s.shndx === ids.index);
    expect(expected.length).toBeGreaterThan(2);
    expect(expected.some((s) => s.name.startsWith('__BTF_ID__'))).toBe(true);
    expect(first).toEqual(expected);
    expect(elf.symbolsIn(ids.index)).toEqual(expected);
    expect(all.length).toBeGreaterThan(expected.length);
  });

  it('refuses what elfy could not read and names the rest as elfy does, for mutated headers', () => {
    let seed = 0x9e3779b9;
    const rnd = (n: number): number => {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const outcomes = { names: 0, malformed: 0, other: 0 };
    for (const [name, orig] of inputs) {
      const le = orig[5] === 1;
      const odv = new DataView(orig.buffer, orig.byteOffset, orig.byteLength);
      const shoff = Number(odv.getBigUint64(0x28, le));
      const shnum = odv.getUint16(0x3c, le);
      const shstrndx = odv.getUint16(0x3e, le);
      const strOff = Number(odv.getBigUint64(shoff + shstrndx * 64 + 24, le));
      for (let k = 0; k < 400; k++) {
        const b = orig.slice();
        const dv = new DataView(b.buffer);
        for (let m = 1 + rnd(2); m > 0; m--) {
          switch (rnd(10)) {
            case 0: // program headers: e_phoff, e_phentsize, e_phnum
              dv.setBigUint64(0x20, BigInt(rnd(3) ? rnd(b.length + 200) : 0), le);
              dv.setUint16(0x36, [0, 8, 55, 56, 64, 200][rnd(6)]!, le);
              dv.setUint16(0x38, [0, 1, 3, 1000][rnd(4)]!, le);
              break;
            case 1: dv.setUint16(0x38, [0, 1, 3][rnd(3)]!, le); break; // e_phnum alone
            case 2: dv.setUint16(0x3c, [0, shnum - 1, shnum + 1, 0xff00][rnd(4)]!, le); break; // e_shnum
            case 3: dv.setUint16(0x3e, [0xffff, 0, shnum, shstrndx + 1][rnd(4)]!, le); break; // e_shstrndx
            case 4: dv.setUint32(shoff + rnd(shnum) * 64, rnd(4) ? rnd(64) : 0xfffffff0, le); break; // sh_name
            case 5: b[strOff + 1 + rnd(40)] = [0xc3, 0xa9, 0xff, 0x80, 0][rnd(5)]!; break; // name bytes
            case 6: dv.setBigUint64(shoff + shstrndx * 64 + 32, BigInt(rnd(b.length)), le); break; // name table size
            case 7: dv.setUint16(0x3e, 0xffff, le); dv.setUint32(shoff + 40, shstrndx, le); break; // name-table index in section 0
            case 8: dv.setUint16(0x3c, 0, le); dv.setBigUint64(shoff + 32, BigInt(shnum), le); break; // section count in section 0
            default: dv.setBigUint64(shoff + 32, BigInt(rnd(0x10000)), le); dv.setUint32(shoff + 40, rnd(shnum + 2), le); break; // section 0: other counts
          }
        }
        const o = agree(`${name} mutation ${k}`, b);
        if ('names' in o) outcomes.names++;
        else if (o.error.startsWith('malformed ELF')) outcomes.malformed++;
        else outcomes.other++;
      }
    }
    // The mutations reach both verdicts.
    expect(outcomes.names).toBeGreaterThan(100);
    expect(outcomes.malformed).toBeGreaterThan(50);
  });
});
