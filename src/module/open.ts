/** Opening any input modbtf takes: module, vmlinux, raw BTF; compressed or not; detected by content. */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { ElfFile, isElf } from '../elf/index.js';
import { ModbtfError, ioReason } from '../errors.js';
import { SPAWN_THRESHOLD, decompress, streamsFromFile, decompressFd, detectCompression, type Compression } from './compress.js';
import { OutputBuffer, limitOf, tooLarge, type LimitOptions } from './limits.js';
import { bootImageFormat, bootImageKernel } from './bootimage.js';
import { splitSignature } from './signature.js';
import { sameFile, takeReadAhead } from './readahead.js';
import { isRawBtf } from '../btf/kinds.js';

export interface InputFile {
  path: string;
  compression: Compression;
  /** The appended module signature (whole trailer), if any. */
  signature: Uint8Array | null;
  kind: 'elf' | 'btf';
  elf: ElfFile | null;
  /** Raw BTF, when the input is raw BTF. */
  btf: Uint8Array | null;
  /** File mode bits of the input. */
  mode: number;
}

export type OpenOptions = LimitOptions;

/** Marks an input whose bytes openInput allocated itself (releaseInput frees only those). */
const OWN_BYTES = Symbol('modbtf.ownBytes');
type Owned = InputFile & { [OWN_BYTES]?: true };

/**
 * Free the bytes of an input opened by openInput now, not when V8 next
 * collects the objects holding them. A batch reads module after module; V8
 * counts their buffers as external memory and collects it only once tens of
 * MB of it have built up, so a batch's peak memory is otherwise set by
 * modules long finished. Every view of these bytes (the ElfFile, its
 * sections, BTF parsed from them) is empty afterwards: call this only when
 * nothing will read them again. Inputs not made by openInput are left alone.
 */
export function releaseInput(input: InputFile): void {
  const owned = input as Owned;
  if (!owned[OWN_BYTES]) return;
  delete owned[OWN_BYTES];
  const b = (input.elf?.bytes ?? input.btf)?.buffer;
  // openInput's buffers are its own allocations; the size check keeps a view of a slab of
  // Node's Buffer pool (shared with unrelated Buffers) from ever being released.
  if (!b || b.byteLength <= Buffer.poolSize || b instanceof SharedArrayBuffer) return;
  try {
    structuredClone(b, { transfer: [b as ArrayBuffer] }); // moved to a copy nobody holds: freed at the next scavenge
  } catch {
    // a buffer that cannot be transferred is left to the collector
  }
}

/** Classify already-read bytes. */
export async function classifyInput(path: string, bytes: Uint8Array, mode = 0o644, opts: OpenOptions = {}): Promise<InputFile> {
  return classify(path, bytes, mode, opts, null);
}

async function classify(path: string, bytes: Uint8Array, mode: number, opts: OpenOptions, decoded: Uint8Array | null): Promise<InputFile> {
  const boot = decoded ? null : bootImageFormat(bytes);
  if (boot) {
    const k = await bootImageKernel(bytes, boot, path, opts);
    if (k.btf) return { path, compression: 'none', signature: null, kind: 'btf', elf: null, btf: k.btf, mode };
    if (!isElf(k.elf)) throw new ModbtfError('E_NOT_BTF', `${boot}: the payload is not an ELF kernel`, { file: path });
    return { path, compression: 'none', signature: null, kind: 'elf', elf: ElfFile.parse(k.elf, path), btf: null, mode };
  }
  const compression = detectCompression(bytes);
  const data = compression === 'none' ? bytes : decoded ?? await decompress(bytes, compression, path, { ...opts, moduleOnly: true });
  if (isElf(data)) {
    const { elf, signature } = splitSignature(data, path);
    return { path, compression, signature, kind: 'elf', elf: ElfFile.parse(elf, path), btf: null, mode };
  }
  if (isRawBtf(data)) {
    return { path, compression, signature: null, kind: 'btf', elf: null, btf: data, mode };
  }
  throw new ModbtfError('E_NOT_BTF', compression === 'none'
    ? 'not an ELF file, raw BTF, or compressed module'
    : `${compression} data holds neither an ELF file nor raw BTF`, { file: path });
}

const KIND_OF_MODE: [number, string][] = [[0o020000, 'a character device'], [0o060000, 'a block device'], [0o140000, 'a socket']];

function ioError(path: string, e: unknown): ModbtfError {
  if (e instanceof ModbtfError) return e;
  return new ModbtfError('E_IO', `cannot read: ${ioReason(e, { ENOENT: 'no such file' })}`, { file: path });
}

/** Read all of a FIFO (or pipe) up to the limit; a FIFO without a writer reads as empty. */
function readStream(fd: number, limit: number, path: string): Uint8Array {
  const out = new OutputBuffer(limit, path, null, 0, 'input size');
  const chunk = new Uint8Array(1 << 16);
  const wait = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(wait, 0, 0, 5);
        continue;
      }
      throw e;
    }
    if (n === 0) break;
    out.push(chunk.subarray(0, n));
  }
  return out.finish();
}

/**
 * The bytes of a file, bounded as openInput bounds them (a file past the
 * limit refused unread, devices refused, a FIFO read up to the limit), not
 * decompressed; errors are E_IO / E_TOO_LARGE naming the file.
 */
export function readInputFile(path: string, opts: LimitOptions = {}): Uint8Array {
  const limit = limitOf(opts);
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (st.isFIFO()) return readStream(fd, limit, path);
    if (!st.isFile()) {
      const what = KIND_OF_MODE.find(([m]) => (st.mode & 0o170000) === m)?.[1] ?? 'not a regular file';
      throw new ModbtfError('E_IO', `cannot read: ${what}, not a regular file`, { file: path });
    }
    if (st.size > limit) throw tooLarge(path, limit, `file size (${st.size} bytes)`);
    const bytes = new Uint8Array(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, bytes, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return off < st.size ? bytes.subarray(0, off) : bytes;
  } catch (e) {
    throw ioError(path, e);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * Open any input by path, holding at most `maxInputSize` bytes (default
 * 1 GiB) of it: a larger file is refused before it is read, a compressed one
 * is refused as soon as its output passes the limit (or clearly is not a
 * module). Devices and sockets are refused; a FIFO is read up to the limit.
 */
export async function openInput(path: string, opts: OpenOptions = {}): Promise<InputFile> {
  const limit = limitOf(opts);
  let bytes: Uint8Array | undefined;
  let mode: number | undefined;
  let fd = -1;
  let decoded: Uint8Array | null = null;
  try {
    // Synchronous on purpose: one module at a time per thread, and each libuv round trip
    // costs more than the read itself for the small files modules are.
    // Non-blocking: opening a FIFO nobody writes to must not hang.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    mode = st.mode & 0o7777;
    if (st.isFIFO()) {
      bytes = readStream(fd, limit, path);
    } else if (!st.isFile()) {
      const what = KIND_OF_MODE.find(([m]) => (st.mode & 0o170000) === m)?.[1] ?? 'not a regular file';
      throw new ModbtfError('E_IO', `cannot read: ${what}, not a regular file`, { file: path });
    } else {
      if (st.size > limit) throw tooLarge(path, limit, `file size (${st.size} bytes)`);
      // A large compressed file goes straight from the file to the system tool.
      if (st.size > SPAWN_THRESHOLD) {
        const head = new Uint8Array(16);
        const k = readSync(fd, head, 0, head.length, 0);
        const kind = detectCompression(head.subarray(0, k));
        if (streamsFromFile(kind, st.size)) {
          decoded = await decompressFd(fd, kind, path, { ...opts, moduleOnly: true });
          bytes = head.subarray(0, k);
        }
      }
    }
    // Read ahead (readahead.ts) while something else was computed: taken if it is still this file.
    const pre = takeReadAhead(path);
    const ahead = pre && !decoded && st.isFile() ? await pre : null;
    if (ahead && sameFile(ahead.stat, st)) {
      bytes = ahead.bytes;
    } else if (!decoded && st.isFile()) {
      bytes = new Uint8Array(st.size);
      let off = 0;
      while (off < st.size) {
        const n = readSync(fd, bytes, off, st.size - off, off);
        if (n === 0) break;
        off += n;
      }
      if (off < st.size) bytes = bytes.subarray(0, off);
    }
  } catch (e) {
    throw ioError(path, e);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  const input: Owned = await classify(path, bytes!, mode!, opts, decoded);
  input[OWN_BYTES] = true;
  return input;
}
