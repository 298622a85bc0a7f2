/**
 * x86 boot images (vmlinuz / bzImage): the kernel ELF is the compressed
 * payload the setup header points at, so modbtf can read a kernel's BTF
 * straight from /boot/vmlinuz-<release>.
 */
import { ModbtfError } from '../errors.js';
import { decompress, detectCompression, type DecompressOptions } from './compress.js';
import type { LimitOptions } from './limits.js';
import { isLz4Legacy, lz4LegacyDecompress } from './lz4.js';

export function isBzImage(b: Uint8Array): boolean {
  return b.length > 0x260 && b[0x1fe] === 0x55 && b[0x1ff] === 0xaa
    && b[0x202] === 0x48 && b[0x203] === 0x64 && b[0x204] === 0x72 && b[0x205] === 0x53; // "HdrS"
}

/** The decompressed kernel ELF inside a bzImage. */
export async function bzImagePayload(b: Uint8Array, file?: string, opts: LimitOptions = {}): Promise<Uint8Array> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const setupSects = b[0x1f1] || 4;
  const version = dv.getUint16(0x206, true);
  if (version < 0x208) throw new ModbtfError('E_NOT_BTF', `boot protocol ${version.toString(16)} has no payload pointer (needs 2.08)`, { file });
  const start = (setupSects + 1) * 512 + dv.getUint32(0x248, true);
  const len = dv.getUint32(0x24c, true);
  if (start + len > b.length || len < 8) throw new ModbtfError('E_NOT_BTF', 'boot image payload runs past the end of the file', { file });
  const payload = b.subarray(start, start + len);
  if (isLz4Legacy(payload)) return lz4LegacyDecompress(payload, dv.getUint32(start + len - 4, true), file, opts);
  const kind = detectCompression(payload);
  if (kind === 'none') throw new ModbtfError('E_NOT_BTF', 'boot image payload is compressed in a format modbtf does not read (xz, zstd, gzip, lz4)', { file });
  // Compressed payloads may carry the uncompressed size as a 4-byte trailer.
  const dopts: DecompressOptions = { ...opts, moduleOnly: true };
  try {
    return await decompress(payload.subarray(0, len - 4), kind, file, dopts);
  } catch (e) {
    if (e instanceof ModbtfError && e.code !== 'E_DECOMPRESS') throw e;
    return decompress(payload, kind, file, dopts);
  }
}
