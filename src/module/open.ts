/** Opening any input modbtf takes: module, vmlinux, raw BTF; compressed or not; detected by content. */
import { readFileSync, statSync } from 'node:fs';
import { ElfFile, isElf } from '../elf/index.js';
import { ModbtfError } from '../errors.js';
import { decompress, detectCompression, type Compression } from './compress.js';
import { bootImageFormat, bootImageKernel } from './bootimage.js';
import { splitSignature } from './signature.js';

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

function isRawBtf(b: Uint8Array): boolean {
  return b.length >= 2 && ((b[0] === 0x9f && b[1] === 0xeb) || (b[0] === 0xeb && b[1] === 0x9f));
}

/** Classify already-read bytes. */
export async function classifyInput(path: string, bytes: Uint8Array, mode = 0o644): Promise<InputFile> {
  const boot = bootImageFormat(bytes);
  if (boot) {
    const k = await bootImageKernel(bytes, boot, path);
    if (k.btf) return { path, compression: 'none', signature: null, kind: 'btf', elf: null, btf: k.btf, mode };
    if (!isElf(k.elf)) throw new ModbtfError('E_NOT_BTF', `${boot}: the payload is not an ELF kernel`, { file: path });
    return { path, compression: 'none', signature: null, kind: 'elf', elf: ElfFile.parse(k.elf, path), btf: null, mode };
  }
  const compression = detectCompression(bytes);
  const data = compression === 'none' ? bytes : await decompress(bytes, compression, path);
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

export async function openInput(path: string): Promise<InputFile> {
  let bytes: Uint8Array;
  let mode: number;
  try {
    // Synchronous on purpose: one module at a time per thread, and each libuv round trip
    // costs more than the read itself for the small files modules are.
    const st = statSync(path);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    mode = st.mode & 0o7777;
    const buf = readFileSync(path);
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new ModbtfError('E_IO', `cannot read: ${why}`, { file: path });
  }
  return classifyInput(path, bytes, mode);
}
