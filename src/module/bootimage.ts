/**
 * Boot images of every Debian architecture (the `vmlinuz` a kernel package
 * ships), opened down to the kernel inside and its `.BTF`:
 *
 * | format        | arch            | kernel inside                                        |
 * |---------------|-----------------|------------------------------------------------------|
 * | bzImage       | amd64, i386     | compressed ELF vmlinux at the setup header's payload |
 * | arm64 Image   | arm64           | raw kernel image (PE/EFI stub header, `ARM\x64`)      |
 * | RISC-V Image  | riscv64         | raw kernel image (PE/EFI stub header, `RSC\x05`)      |
 * | EFI zboot     | arm64, riscv64… | compressed raw image at the `zimg` header's payload   |
 * | s390x         | s390x           | zstd/xz/gzip frame behind the decompressor            |
 * | ARM zImage    | armhf           | xz/gzip stream behind the decompressor                |
 *
 * ppc64el ships a plain ELF vmlinux, read as any ELF. A raw kernel image has
 * no section headers: its `.BTF` is found by structure (a BTF header whose
 * section lengths fit the image, whose string section is NUL-bounded, and
 * which parses whole as base BTF), never by taking the first magic number.
 * Compressed payloads are delimited by walking their container format and
 * decompressed through compress.ts.
 */
import { Btf } from '../btf/btf.js';
import { ModbtfError } from '../errors.js';
import { isElf } from '../elf/index.js';
import { bzImagePayload, isBzImage } from './bzimage.js';
import { decompress, type Compression } from './compress.js';
import { isLz4Legacy, lz4LegacyDecompress } from './lz4.js';
import type { LimitOptions } from './limits.js';

export type BootImageFormat = 'bzImage' | 'arm64 Image' | 'RISC-V Image' | 'EFI zboot' | 's390x image' | 'ARM zImage';

/** What a boot image holds: the kernel ELF (bzImage), or the raw `.BTF` found in a raw kernel image. */
export type BootImageKernel =
  | { format: BootImageFormat; elf: Uint8Array; btf?: undefined }
  | { format: BootImageFormat; btf: Uint8Array; elf?: undefined };

const u32le = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const u32be = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const ascii = (b: Uint8Array, o: number, s: string): boolean => {
  if (o + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[o + i] !== s.charCodeAt(i)) return false;
  return true;
};

/** Bytes of a file's start that bootImageFormat() needs to decide (s390x's marker sits at 64 KiB). */
export const BOOT_IMAGE_PROBE_LEN = 0x10010;

/** The boot image format of a file, from its header alone; null when it is none of them. */
export function bootImageFormat(b: Uint8Array): BootImageFormat | null {
  if (isBzImage(b)) return 'bzImage';
  if (b.length >= 0x40 && ascii(b, 0, 'MZ') && ascii(b, 4, 'zimg')) return 'EFI zboot';
  if (b.length >= 0x40 && ascii(b, 0x38, 'ARM\x64')) return 'arm64 Image';
  if (b.length >= 0x40 && ascii(b, 0x38, 'RSC\x05')) return 'RISC-V Image';
  if (b.length >= 0x30 && u32le(b, 0x24) === 0x016f2818) return 'ARM zImage';
  // s390x: IPL PSW and the IPL CCWs of arch/s390/boot/ipl_data, and the "S390EP" marker kexec checks.
  if (b.length >= 0x10010 && u32be(b, 0) === 0x00080000 && u32be(b, 8) === 0x02000018 && ascii(b, 0x10008, 'S390EP')) return 's390x image';
  return null;
}

/** The kernel inside a boot image: its ELF (bzImage) or its `.BTF` (raw kernel images). */
export async function bootImageKernel(b: Uint8Array, format: BootImageFormat, file?: string, opts: LimitOptions = {}): Promise<BootImageKernel> {
  switch (format) {
    case 'bzImage':
      return { format, elf: await bzImagePayload(b, file, opts) };
    case 'arm64 Image': {
      // flags bit 0: kernel endianness (1 = big endian); image_size bounds the kernel when set.
      const be = (b[0x18]! & 1) === 1;
      return { format, btf: findKernelBtf(b.subarray(0, imageSize(b)), !be, format, file) };
    }
    case 'RISC-V Image':
      return { format, btf: findKernelBtf(b.subarray(0, imageSize(b)), true, format, file) };
    case 'EFI zboot':
      return fromRaw(format, await zbootPayload(b, file, opts), file);
    case 's390x image':
      return fromRaw(format, await embeddedPayload(b, format, file, opts), file, false);
    case 'ARM zImage': {
      const start = u32le(b, 0x28);
      const end = u32le(b, 0x2c);
      const len = end > start && end - start <= b.length ? end - start : b.length;
      return fromRaw(format, await embeddedPayload(b.subarray(0, len), format, file, opts), file, true);
    }
  }
}

/** A decompressed kernel: an ELF as such, else a raw image searched for its BTF. */
function fromRaw(format: BootImageFormat, kernel: Uint8Array, file?: string, le?: boolean): BootImageKernel {
  if (isElf(kernel)) return { format, elf: kernel };
  if (le === undefined) {
    // A zboot payload is an arm64 or RISC-V Image: its own header tells the byte order.
    le = !(ascii(kernel, 0x38, 'ARM\x64') && (kernel[0x18]! & 1) === 1);
    if (ascii(kernel, 0x38, 'ARM\x64') || ascii(kernel, 0x38, 'RSC\x05')) kernel = kernel.subarray(0, imageSize(kernel));
  }
  return { format, btf: findKernelBtf(kernel, le, format, file) };
}

/** arm64/RISC-V Image header: image_size (le64 at 0x10), the loaded size; 0 on old kernels. */
function imageSize(b: Uint8Array): number {
  const lo = u32le(b, 0x10);
  const hi = u32le(b, 0x14);
  const size = hi * 2 ** 32 + lo;
  return size > 0 && size <= b.length ? size : b.length;
}

// ---------------------------------------------------------------- EFI zboot

/** drivers/firmware/efi/libstub/zboot-header.S: "MZ", "zimg", payload offset, payload size, 8 reserved, compression name. */
async function zbootPayload(b: Uint8Array, file?: string, opts: LimitOptions = {}): Promise<Uint8Array> {
  const off = u32le(b, 8);
  const size = u32le(b, 12);
  let n = 0x18;
  let comp = '';
  while (n < 0x38 && b[n] !== 0) comp += String.fromCharCode(b[n++]!);
  if (off < 0x40 || size < 8 || off + size > b.length) {
    throw new ModbtfError('E_NOT_BTF', `EFI zboot image: payload [${off}, ${off + size}) runs past the end of the file (${b.length} bytes)`, { file });
  }
  // The payload is followed by its uncompressed size (le32), outside `size`.
  const payload = b.subarray(off, off + size);
  const kinds: Record<string, Compression> = { gzip: 'gzip', zstd: 'zstd', zstd22: 'zstd', xzkern: 'xz' };
  const kind = kinds[comp];
  if (kind) return decompress(payload, kind, file, opts);
  if (comp === 'lz4' && isLz4Legacy(payload)) {
    const hint = off + size + 4 <= b.length ? u32le(b, off + size) : 0;
    return lz4LegacyDecompress(payload, hint, file, opts);
  }
  throw new ModbtfError('E_NOT_BTF', `EFI zboot image: payload compressed with ${comp || 'an unnamed method'}, which modbtf does not read (gzip, zstd, xz, lz4)`, { file });
}

// ------------------------------------------------- payloads behind a decompressor

/**
 * s390x and ARM zImage keep the compressed kernel inside the decompressor's
 * data with no pointer in any header. Every zstd/xz/gzip signature is a
 * candidate; zstd frames and xz streams are walked block by block (code and
 * tables that merely contain the magic fail the walk), and the longest
 * well-formed container is the kernel.
 */
async function embeddedPayload(b: Uint8Array, format: BootImageFormat, file?: string, opts: LimitOptions = {}): Promise<Uint8Array> {
  let best: { kind: Compression; start: number; end: number } | null = null;
  const consider = (kind: Compression, start: number, end: number): void => {
    if (end > start && (!best || end - start > best.end - best.start)) best = { kind, start, end };
  };
  for (const start of occurrences(b, ZSTD_MAGIC)) consider('zstd', start, zstdFrameEnd(b, start));
  for (const start of occurrences(b, XZ_MAGIC)) consider('xz', start, xzStreamEnd(b, start));
  const found = best as { kind: Compression; start: number; end: number } | null;
  if (found) return decompress(b.subarray(found.start, found.end), found.kind, file, opts);
  // gzip has no length anywhere: try each member header with a sane flag byte, longest input first.
  for (const start of occurrences(b, GZIP_MAGIC)) {
    if ((b[start + 3]! & 0xe0) !== 0) continue;
    try {
      const out = await decompress(b.subarray(start), 'gzip', file, opts);
      if (out.length > 1 << 20) return out;
    } catch (e) {
      if (e instanceof ModbtfError && e.code === 'E_TOO_LARGE') throw e;
      // not the kernel
    }
  }
  throw new ModbtfError('E_NOT_BTF', `${format}: no compressed kernel found (looked for zstd frames, xz streams and gzip members)`, { file });
}

/**
 * Candidates looked at per signature: real images hold a handful (Debian's s390x kernel 5 zstd
 * magics, its armhf zImage 2 xz ones); the bound keeps crafted input from going quadratic.
 */
const MAX_CANDIDATES = 64;

const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const GZIP_MAGIC = [0x1f, 0x8b, 0x08];

function occurrences(b: Uint8Array, magic: number[]): number[] {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const pat = Buffer.from(magic);
  const out: number[] = [];
  for (let i = buf.indexOf(pat); i >= 0 && out.length < MAX_CANDIDATES; i = buf.indexOf(pat, i + 1)) out.push(i);
  return out;
}

/** End of a zstd frame starting at `s` (RFC 8878 §3.1.1), or -1 when the bytes are not one. */
export function zstdFrameEnd(b: Uint8Array, s: number): number {
  let p = s + 4;
  if (p >= b.length) return -1;
  const fhd = b[p++]!;
  if (fhd & 0x08) return -1; // reserved bit
  const single = (fhd >> 5) & 1;
  const fcsSize = [single ? 1 : 0, 2, 4, 8][fhd >> 6]!;
  const didSize = [0, 1, 2, 4][fhd & 3]!;
  p += (single ? 0 : 1) + didSize + fcsSize;
  for (;;) {
    if (p + 3 > b.length) return -1;
    const h = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
    p += 3;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    if (type === 3 || size > 128 << 10) return -1;
    p += type === 1 ? 1 : size;
    if (h & 1) break;
  }
  if (fhd & 0x04) p += 4; // content checksum
  return p <= b.length ? p : -1;
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

function crc32(b: Uint8Array, s: number, e: number): number {
  let c = 0xffffffff;
  for (let i = s; i < e; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * End of an xz stream starting at `s` (the .xz format, §2.1), or -1: the header's
 * CRC32 over its flags must hold, and the stream ends at the first footer ("YZ")
 * with the same flags, a valid CRC32 and an index (indicator 0x00) where its
 * backward size says.
 */
export function xzStreamEnd(b: Uint8Array, s: number): number {
  if (s + 12 > b.length || b[s + 6] !== 0 || (b[s + 7]! & 0xf0) !== 0 || crc32(b, s + 6, s + 8) !== u32le(b, s + 8)) return -1;
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (let y = buf.indexOf('YZ', s + 24); y >= 0; y = buf.indexOf('YZ', y + 1)) {
    const f = y - 10; // footer start
    if ((f - s) % 4 !== 0 || b[f + 8] !== b[s + 6] || b[f + 9] !== b[s + 7]) continue;
    if (crc32(b, f + 4, f + 10) !== u32le(b, f)) continue;
    const indexSize = (u32le(b, f + 4) + 1) * 4;
    if (f - indexSize < s + 12 || b[f - indexSize] !== 0) continue;
    return y + 2;
  }
  return -1;
}

// ---------------------------------------------------------------- BTF in a raw image

/**
 * The kernel's `.BTF` in a raw kernel image (no section headers). Each BTF
 * header (magic, version 1, flags 0, in the kernel's byte order) is a
 * candidate; one is taken when its header length and section bounds fit the
 * image, its string section begins and ends with NUL, and the whole parses as
 * base BTF. Several such blobs that are not the same bytes are refused.
 */
export function findKernelBtf(image: Uint8Array, littleEndian: boolean, format: BootImageFormat, file?: string): Uint8Array {
  const magic = littleEndian ? [0x9f, 0xeb, 0x01, 0x00] : [0xeb, 0x9f, 0x01, 0x00];
  const u32 = littleEndian ? u32le : u32be;
  const found: Uint8Array[] = [];
  let firstError: string | null = null;
  for (const at of occurrences(image, magic)) {
    if (at + 24 > image.length) continue;
    const hdrLen = u32(image, at + 4);
    if (hdrLen < 24 || hdrLen > 256 || hdrLen % 4 !== 0 || at + hdrLen > image.length) continue;
    let end = 0;
    // type, string and (extended header) further sections: offset/length pairs after the magic word.
    for (let f = 8; f + 8 <= hdrLen; f += 8) end = Math.max(end, u32(image, at + f) + u32(image, at + f + 4));
    const strOff = u32(image, at + 16);
    const strLen = u32(image, at + 20);
    const total = hdrLen + end;
    if (strLen === 0 || at + total > image.length) continue;
    const strings = at + hdrLen + strOff;
    if (image[strings] !== 0 || image[strings + strLen - 1] !== 0) continue;
    const raw = image.subarray(at, at + total);
    try {
      const btf = Btf.parse(raw, { file, section: '.BTF' });
      if (btf.nrTypes === 0) continue;
    } catch (e) {
      firstError ??= e instanceof Error ? e.message : String(e);
      continue;
    }
    if (!found.some((f) => Buffer.compare(f, raw) === 0)) found.push(raw);
  }
  if (found.length === 1) return found[0]!;
  if (found.length > 1) {
    throw new ModbtfError('E_NOT_BTF', `${format}: ${found.length} different BTF blobs in the kernel image; cannot tell which is the kernel's .BTF`, { file });
  }
  throw new ModbtfError('E_NO_BTF', firstError
    ? `${format}: the kernel's BTF does not parse: ${firstError}`
    : `${format}: the kernel has no BTF (built without CONFIG_DEBUG_INFO_BTF)`, { file });
}
