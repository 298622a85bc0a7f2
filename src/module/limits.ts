/**
 * The bound on what modbtf holds in memory for one input: the size of a file
 * read, and the size a compressed input expands to. Decoded output goes into
 * one buffer that grows in place (a resizable ArrayBuffer: no chunk list, no
 * concatenated copy), so memory stays within the limit plus the decoder's
 * own state. The first bytes are checked as soon as they arrive, so an input
 * that is clearly not a module stops there.
 */
import { ModbtfError, type ModbtfErrorCode } from '../errors.js';
import { isRawBtf } from '../btf/kinds.js';
import { isElf } from '../elf/elf.js';

const KiB = 1024;
const MiB = KiB * 1024;
const GiB = MiB * 1024;

/** Well above the largest module Debian ships (amdgpu.ko: 46 MiB uncompressed) and a vmlinux. */
export const DEFAULT_MAX_INPUT_SIZE = GiB;
/** The largest buffer Node can hold. */
export const MAX_MAX_INPUT_SIZE = 4 * GiB;

/** ES2024's resizable ArrayBuffer (Node >= 20), not yet in the TypeScript lib this project targets. */
interface ResizableArrayBuffer extends ArrayBuffer {
  readonly maxByteLength: number;
  resize(n: number): void;
}
type ResizableCtor = new (n: number, o: { maxByteLength: number }) => ResizableArrayBuffer;

let processDefault = DEFAULT_MAX_INPUT_SIZE;

/** The limit used when an API call gives none (the CLI sets it from --max-input-size). */
export function defaultMaxInputSize(): number {
  return processDefault;
}

export function setDefaultMaxInputSize(n: number): void {
  processDefault = n;
}

export interface LimitOptions {
  /** Largest input file, and largest decompressed size, in bytes (default: 1 GiB). */
  maxInputSize?: number;
}

export const limitOf = (o: LimitOptions | undefined): number => o?.maxInputSize ?? processDefault;

const UNITS: Record<string, number> = { '': 1, b: 1, k: KiB, kb: KiB, kib: KiB, m: MiB, mb: MiB, mib: MiB, g: GiB, gb: GiB, gib: GiB };

/** `64M`, `2G`, `512KiB`, `1048576` (binary units); null when not a size. */
export function parseSize(s: string): number | null {
  const m = /^\s*([0-9]+)\s*([a-z]*)\s*$/i.exec(s);
  if (!m) return null;
  const unit = UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return null;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : null;
}

/** What is wrong with a --max-input-size value, or null. */
export function checkSize(s: string): string | null {
  const n = parseSize(s);
  if (n === null) return `'${s}' is not a size (bytes, or with K, M, G: 64M, 2G)`;
  if (n < 1) return `'${s}' is not a size above zero`;
  if (n > MAX_MAX_INPUT_SIZE) return `'${s}' is more than 4G, the largest buffer Node holds`;
  return null;
}

/** 1 GiB, 64 MiB, 1.5 GiB, 100 bytes. */
export function formatSize(n: number): string {
  for (const [u, v] of [['GiB', GiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (n >= v) {
      const x = n / v;
      return `${Number.isInteger(x) ? x : x.toFixed(1)} ${u}`;
    }
  }
  return `${n} bytes`;
}

export function tooLarge(file: string | undefined, limit: number, what = 'decompressed size'): ModbtfError {
  return new ModbtfError('E_TOO_LARGE', `${what} exceeds the ${formatSize(limit)} limit (--max-input-size)`, { file });
}

/** The header of what a module input decompresses to: an ELF file or raw BTF, and where it says it ends. */
export function checkModuleHead(head: Uint8Array, limit: number, kind: string, file?: string): void {
  const fail = (code: ModbtfErrorCode, msg: string): never => {
    throw new ModbtfError(code, msg, { file });
  };
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (isElf(head)) {
    const cls = head[4];
    const data = head[5];
    if (cls !== 1 && cls !== 2) fail('E_ELF', `invalid ELF class ${cls}`);
    if (data !== 1 && data !== 2) fail('E_ELF', `invalid ELF data encoding ${data}`);
    if (cls === 1) fail('E_ELF_CLASS', '32-bit ELF is not supported: modbtf reads 64-bit kernels\' modules and vmlinux');
    if (head.length < 64) return;
    const le = data === 1;
    const shoff = Number(dv.getBigUint64(0x28, le));
    const shentsize = dv.getUint16(0x3a, le);
    const shnum = dv.getUint16(0x3c, le);
    if (shoff === 0) fail('E_ELF', 'no section header table');
    if (shentsize !== 64) fail('E_ELF', `section header size ${shentsize}, expected 64`);
    const end = shoff + Math.max(shnum, 1) * 64;
    if (end > limit) {
      throw tooLarge(file, limit, `decompressed size (at least ${end} bytes: the ELF header puts the section headers there)`);
    }
    return;
  }
  if (isRawBtf(head)) {
    if (head.length < 24) return;
    const le = head[0] === 0x9f;
    const hdrLen = dv.getUint32(4, le);
    const end = hdrLen + Math.max(dv.getUint32(8, le) + dv.getUint32(12, le), dv.getUint32(16, le) + dv.getUint32(20, le));
    if (end > limit) throw tooLarge(file, limit, `decompressed size (at least ${end} bytes: the BTF header says so)`);
    return;
  }
  fail('E_NOT_BTF', `${kind} data holds neither an ELF file nor raw BTF`);
}

/** Bytes needed before `checkModuleHead` can judge. */
export const HEAD_BYTES = 64;

/**
 * Decoded output: one buffer growing in place up to `limit`, the whole
 * never held twice. Throws E_TOO_LARGE as soon as more than `limit` bytes
 * are pushed; calls `onHead` once with the first HEAD_BYTES bytes.
 */
export class OutputBuffer {
  private readonly ab: ResizableArrayBuffer;
  private view: Uint8Array;
  private n = 0;
  private headChecked = false;

  constructor(
    private readonly limit: number,
    private readonly file: string | undefined,
    private readonly onHead: ((head: Uint8Array) => void) | null = null,
    sizeHint = 0,
    /** What passing the limit is called in the error. */
    private what = 'decompressed size',
    /** Memory the decoder holds besides the output (its window), counted against the limit. */
    private readonly charge = 0,
    /** The window fills as output is written (xz's dictionary): counted up to the output's size only. */
    private readonly chargeGrows = false,
  ) {
    if (charge) this.what = `${what} (with the decoder's ${formatSize(charge)} window)`;
    const max = Math.max(0, Math.min(chargeGrows ? limit : limit - charge, MAX_MAX_INPUT_SIZE));
    const initial = Math.min(max, Math.max(sizeHint > 0 && sizeHint <= max ? sizeHint : 0, 64 * KiB));
    this.ab = new (ArrayBuffer as unknown as ResizableCtor)(initial, { maxByteLength: Math.max(max, initial) });
    this.view = new Uint8Array(this.ab);
  }

  get length(): number {
    return this.n;
  }

  /** Room for `more` bytes after the current end; the writable view (valid until the next call). */
  reserve(more: number): Uint8Array {
    const need = this.n + more;
    if (need + (this.chargeGrows ? Math.min(this.charge, need) : this.charge) > this.limit) throw tooLarge(this.file, this.limit, this.what);
    if (need > this.ab.byteLength) {
      // Grows in place: pages are committed as they are written.
      this.ab.resize(Math.min(this.ab.maxByteLength, Math.max(need, this.ab.byteLength * 2)));
      this.view = new Uint8Array(this.ab);
    }
    return this.view;
  }

  /** Mark `k` more bytes (written through `reserve`'s view) as output. */
  advance(k: number): void {
    this.n += k;
    this.checkHead(false);
  }

  push(chunk: Uint8Array): void {
    const v = this.reserve(chunk.length);
    v.set(chunk, this.n);
    this.advance(chunk.length);
  }

  private checkHead(final: boolean): void {
    if (this.headChecked || !this.onHead || (this.n < HEAD_BYTES && !final)) return;
    this.headChecked = true;
    this.onHead(this.view.subarray(0, Math.min(this.n, HEAD_BYTES)));
  }

  /** The output, exactly its length; the buffer shrinks to it. */
  finish(): Uint8Array {
    this.checkHead(true);
    this.ab.resize(this.n);
    return new Uint8Array(this.ab, 0, this.n);
  }
}
