/**
 * Decompression bombs, made quickly and in little memory: a 64-byte ELF
 * header followed by gigabytes of zeros, as xz, zstd and gzip files whose
 * decoded size is real (every decoder sees all of it). zstd frames are
 * written by hand (RLE blocks); gzip is one compressed member of zeros
 * repeated (members concatenate); xz is one LZMA2 chunk of 1 MiB of zeros, encoded
 * once by `xz --format=raw` and repeated with a state reset, in one stream.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/** An ELF64 little-endian header; section headers at `shoff` (0: none, as in a zeroed header). */
export function elfHeader(shoff: number, shnum = 2): Uint8Array {
  const h = new Uint8Array(64);
  const dv = new DataView(h.buffer);
  h.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 1, true); // ET_REL
  dv.setUint16(18, 62, true); // x86-64
  dv.setUint32(20, 1, true);
  dv.setBigUint64(0x28, BigInt(shoff), true);
  dv.setUint16(0x34, 64, true);
  if (shoff) {
    dv.setUint16(0x3a, 64, true);
    dv.setUint16(0x3c, shnum, true);
    dv.setUint16(0x3e, 1, true);
  }
  return h;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const le32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};

function writeAll(path: string, parts: Iterable<Uint8Array>): void {
  const fd = openSync(path, 'w');
  const buf = new Uint8Array(1 << 20);
  let n = 0;
  try {
    for (const p of parts) {
      if (n + p.length > buf.length) {
        writeSync(fd, buf, 0, n);
        n = 0;
      }
      if (p.length > buf.length) writeSync(fd, p);
      else {
        buf.set(p, n);
        n += p.length;
      }
    }
    writeSync(fd, buf, 0, n);
  } finally {
    closeSync(fd);
  }
}

const BLOCK = 1 << 17; // zstd's largest block

/** `head` then zeros up to `total` bytes, as one zstd frame of a raw block then RLE blocks. */
export function zstdBomb(head: Uint8Array, total: number, opts: { contentSize?: boolean; windowLog?: number } = {}): Uint8Array[] {
  const parts: Uint8Array[] = [];
  // Frame header: magic, descriptor (content size: 8 bytes when given), window (128 KiB unless told).
  const fcs = opts.contentSize;
  parts.push(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, fcs ? 0xc0 : 0x00, ((opts.windowLog ?? 17) - 10) << 3));
  if (fcs) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(total), true);
    parts.push(b);
  }
  const blockHeader = (last: boolean, type: number, size: number): Uint8Array => {
    const v = (last ? 1 : 0) | (type << 1) | (size << 3);
    return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff);
  };
  let left = total - head.length;
  parts.push(blockHeader(left === 0, 0, head.length), head);
  while (left > 0) {
    const n = Math.min(BLOCK, left);
    left -= n;
    parts.push(blockHeader(left === 0, 1, n), Uint8Array.of(0));
  }
  return parts;
}

export function writeZstdBomb(path: string, head: Uint8Array, total: number, opts: { contentSize?: boolean; windowLog?: number } = {}): void {
  writeAll(path, zstdBomb(head, total, opts));
}

/** `head` then zeros up to `total` bytes, as gzip members of 16 MiB each. */
export function gzipBomb(head: Uint8Array, total: number): Uint8Array[] {
  const M = 16 << 20;
  const zeros = new Uint8Array(M);
  const first = zeros.slice();
  first.set(head);
  const parts: Uint8Array[] = [gzipSync(first.subarray(0, Math.min(M, total)), { level: 9 })];
  const whole = gzipSync(zeros, { level: 9 });
  let left = total - Math.min(M, total);
  while (left >= M) {
    parts.push(whole);
    left -= M;
  }
  if (left) parts.push(gzipSync(zeros.subarray(0, left), { level: 9 }));
  return parts;
}

export function writeGzipBomb(path: string, head: Uint8Array, total: number): void {
  writeAll(path, gzipBomb(head, total));
}

export const haveXz = spawnSync('xz', ['--version']).status === 0;

/** One raw LZMA2 chunk of `data` (at most 2 MiB), as xz encodes it alone: [control, ...]. */
function lzma2Chunk(data: Uint8Array): Uint8Array {
  const r = spawnSync('xz', ['--format=raw', '--lzma2=preset=0,dict=4MiB', '-c'], { input: data });
  if (r.status !== 0) throw new Error('xz --format=raw failed');
  const raw = new Uint8Array(r.stdout);
  // One LZMA chunk: control, 2 bytes size-1 high bits in control, 2 bytes compressed size - 1, props; then the 0x00 end.
  const packed = ((raw[3]! << 8) | raw[4]!) + 1;
  if ((raw[0]! & 0xe0) !== 0xe0 || raw[6 + packed] !== 0) throw new Error('xz did not write one LZMA2 chunk');
  return raw.subarray(0, 6 + packed);
}

const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
};

/** `head` then zeros up to `total` bytes (a multiple of 1 MiB), as one xz stream, one block, no check. */
export function writeXzBomb(path: string, head: Uint8Array, total: number): void {
  const C = 1 << 20;
  if (total % C !== 0) throw new Error('total must be a multiple of 1 MiB');
  const firstData = new Uint8Array(C);
  firstData.set(head);
  const first = lzma2Chunk(firstData);
  const rest = lzma2Chunk(new Uint8Array(C)).slice();
  rest[0] = (rest[0]! & 0x1f) | 0xc0; // state reset and props, the dictionary kept
  const n = total / C;
  const streamFlags = Uint8Array.of(0, 0); // check: none
  const streamHeader = [Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0), streamFlags, le32(crc32(streamFlags))];
  // Block header: size (3 * 4 bytes), flags (one filter), LZMA2 with its dictionary byte, padding, CRC32.
  const bh = Uint8Array.of(2, 0, 0x21, 1, 20, 0, 0, 0); // dictionary 4 MiB
  const blockHeader = [bh, le32(crc32(bh))];
  const compressed = first.length + (n - 1) * rest.length + 1;
  const pad = (4 - (compressed % 4)) % 4;
  const unpadded = 12 + compressed;
  const idx = Uint8Array.from([0, ...varint(1), ...varint(unpadded), ...varint(total)]);
  const idxPad = (4 - (idx.length % 4)) % 4;
  const index = new Uint8Array(idx.length + idxPad);
  index.set(idx);
  const backward = Uint8Array.from([...le32((index.length + 4) / 4 - 1), ...streamFlags]);
  function* parts(): Generator<Uint8Array> {
    yield* streamHeader;
    yield* blockHeader;
    yield first;
    for (let i = 1; i < n; i++) yield rest;
    yield Uint8Array.of(0);
    yield new Uint8Array(pad);
    yield index;
    yield le32(crc32(index));
    yield le32(crc32(backward));
    yield backward;
    yield Uint8Array.of(0x59, 0x5a);
  }
  writeAll(path, parts());
}
