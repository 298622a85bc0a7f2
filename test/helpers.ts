/** Shared test helpers: where the corpus and fixtures are, and small BTF makers. */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const corpusDir = process.env.MODBTF_CORPUS ?? resolve(repoRoot, '../shared/corpus');
export const haveCorpus = existsSync(resolve(corpusDir, 'k612cloud/vmlinux.btf'));
export const fixturesDir = resolve(repoRoot, 'test/fixtures');

if (!haveCorpus) {
  console.log(`note: ${corpusDir} not found: corpus-wide tests are skipped (the project's own fixtures still run)`);
}

export const corpus = (...p: string[]): string => resolve(corpusDir, ...p);
export const fixture = (...p: string[]): string => resolve(fixturesDir, ...p);

/**
 * Raw BTF (little-endian unless `le: false`) from hand-written u32 records and
 * a string table. With `layout` ([info_sz, elem_sz, flags] per kind), the
 * 2026 format: a header of at least 32 bytes and a kind layout section
 * between the types and the strings.
 */
export function rawBtf(records: number[][], strings: string[], opts: { le?: boolean; hdrLen?: number; layout?: number[][] } = {}): Uint8Array {
  const le = opts.le ?? true;
  const hdrLen = opts.hdrLen ?? (opts.layout ? 32 : 24);
  const words = records.flat();
  const typeLen = words.length * 4;
  const layLen = (opts.layout?.length ?? 0) * 4;
  const str = Buffer.from(strings.map((s) => `${s}\0`).join(''), 'latin1');
  const out = new Uint8Array(hdrLen + typeLen + layLen + str.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0xeb9f, le);
  out[2] = 1;
  dv.setUint32(4, hdrLen, le);
  dv.setUint32(8, 0, le);
  dv.setUint32(12, typeLen, le);
  dv.setUint32(16, typeLen + layLen, le);
  dv.setUint32(20, str.length, le);
  if (opts.layout) {
    dv.setUint32(24, typeLen, le);
    dv.setUint32(28, layLen, le);
    opts.layout.forEach(([infoSz, elemSz, flags], k) => {
      out[hdrLen + typeLen + k * 4] = infoSz!;
      out[hdrLen + typeLen + k * 4 + 1] = elemSz!;
      dv.setUint16(hdrLen + typeLen + k * 4 + 2, flags ?? 0, le);
    });
  }
  words.forEach((w, i) => dv.setUint32(hdrLen + i * 4, w >>> 0, le));
  out.set(str, hdrLen + typeLen + layLen);
  return out;
}

/** The kind layout libbpf master writes (kinds 0-19), as rawBtf's `layout`. */
export const LIBBPF_LAYOUT: number[][] = [
  [0, 0, 0], [4, 0, 0], [0, 0, 0], [12, 0, 0], [0, 12, 0], [0, 12, 0], [0, 8, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0],
  [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 8, 0], [4, 0, 0], [0, 12, 0], [0, 0, 0], [4, 0, 0], [0, 0, 0], [0, 12, 0],
];

/** btf_type info word. */
export const info = (kind: number, vlen = 0, kflag = false): number => ((kflag ? 0x80000000 : 0) | (kind << 24) | vlen) >>> 0;

/** Byte offset of string `s` in a table made by rawBtf's `strings`. */
export function strOff(strings: string[], s: string): number {
  let off = 0;
  for (const x of strings) {
    if (x === s) return off;
    off += Buffer.byteLength(x, 'latin1') + 1;
  }
  throw new Error(`no string ${s}`);
}
