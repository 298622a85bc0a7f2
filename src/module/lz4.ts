/**
 * LZ4 "legacy" frames, as x86 kernels built with CONFIG_KERNEL_LZ4 (Debian's
 * 6.1 cloud kernel) compress their payload: a magic number, then blocks each
 * preceded by its compressed size. Decoding only; modules are never LZ4.
 */
import { ModbtfError } from '../errors.js';
import { OutputBuffer, limitOf, type LimitOptions } from './limits.js';

const LEGACY_MAGIC = 0x184c2102;

export function isLz4Legacy(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x02 && b[1] === 0x21 && b[2] === 0x4c && b[3] === 0x18;
}

/** Decode one LZ4 block into `out` at `o`; returns the new end. */
function decodeBlock(src: Uint8Array, s: number, end: number, out: Uint8Array, o: number, file: string | undefined, overLimit: (() => void) | null): number {
  const bad = (): never => {
    throw new ModbtfError('E_DECOMPRESS', 'corrupt lz4 data', { file });
  };
  // Output past `out`: past the limit when `out` stops there (overLimit throws), else a corrupt block.
  const full = (): never => {
    overLimit?.();
    return bad();
  };
  // A length of 15 continues in the following bytes, each added, until one is not 255.
  const extend = (n: number, at: number): [number, number] => {
    let b: number;
    do {
      if (at >= end) bad();
      b = src[at++]!;
      n += b;
    } while (b === 255);
    return [n, at];
  };
  while (s < end) {
    const token = src[s++]!;
    let lit = token >>> 4;
    if (lit === 15) [lit, s] = extend(lit, s);
    if (s + lit > end) bad();
    if (o + lit > out.length) full();
    out.set(src.subarray(s, s + lit), o);
    s += lit;
    o += lit;
    if (s >= end) break; // the last sequence has literals only
    if (s + 2 > end) bad();
    const off = src[s]! | (src[s + 1]! << 8);
    s += 2;
    if (off === 0 || off > o) bad();
    let len = (token & 15) + 4;
    if ((token & 15) === 15) [len, s] = extend(len, s);
    if (o + len > out.length) full();
    let from = o - off;
    if (off >= len) {
      out.copyWithin(o, from, from + len);
      o += len;
    } else {
      for (let i = 0; i < len; i++) out[o++] = out[from++]!;
    }
  }
  return o;
}

/** Largest block a legacy frame holds, decoded. */
const BLOCK_MAX = 8 << 20;

/** Decode legacy frames into at most the limit's bytes; `sizeHint` is the expected output size when known. */
export function lz4LegacyDecompress(src: Uint8Array, sizeHint: number, file?: string, opts: LimitOptions = {}): Uint8Array {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const limit = limitOf(opts);
  // LZ4 cannot expand more than ~255x: a size hint beyond that is not to be trusted.
  const hint = sizeHint <= src.length * 255 ? sizeHint : 0;
  const out = new OutputBuffer(limit, file, null, Math.max(hint, src.length * 3));
  let s = 0;
  while (s + 4 <= src.length) {
    const n = dv.getUint32(s, true);
    if (n === LEGACY_MAGIC) {
      s += 4;
      continue;
    }
    if (s + 4 + n > src.length) break; // trailing size word
    // Room for a whole block, or up to the limit: a block running past that is too large.
    const room = Math.min(BLOCK_MAX, limit - out.length);
    const view = out.reserve(room).subarray(0, out.length + room);
    const o = decodeBlock(src, s + 4, s + 4 + n, view, out.length, file, room < BLOCK_MAX ? () => out.reserve(room + 1) : null);
    out.advance(o - out.length);
    s += 4 + n;
  }
  return out.finish();
}
