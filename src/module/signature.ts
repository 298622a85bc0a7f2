/** The signature kbuild appends to modules: data, `struct module_signature`, marker. */
import { ModbtfError } from '../errors.js';

export const SIG_MARKER = '~Module signature appended~\n';
const MARKER = Buffer.from(SIG_MARKER, 'latin1');
/** struct module_signature: algo, hash, id_type, signer_len, key_id_len, pad[3], __be32 sig_len. */
const SIG_INFO = 12;

export interface SplitSignature {
  /** The module without its signature. */
  elf: Uint8Array;
  /** The whole trailer (signature data, struct module_signature, marker), or null. */
  signature: Uint8Array | null;
}

export function splitSignature(bytes: Uint8Array, file?: string): SplitSignature {
  const n = bytes.length;
  if (n < MARKER.length || Buffer.compare(Buffer.from(bytes.buffer, bytes.byteOffset + n - MARKER.length, MARKER.length), MARKER) !== 0) {
    return { elf: bytes, signature: null };
  }
  const infoAt = n - MARKER.length - SIG_INFO;
  if (infoAt < 0) throw new ModbtfError('E_SIGNATURE', 'module signature marker without signature information', { file });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const signerLen = bytes[infoAt + 3]!;
  const keyIdLen = bytes[infoAt + 4]!;
  const sigLen = dv.getUint32(infoAt + 8, false);
  const total = sigLen + signerLen + keyIdLen;
  if (total > infoAt) {
    throw new ModbtfError('E_SIGNATURE', `module signature claims ${total} bytes, more than the ${infoAt} bytes before it`, { file });
  }
  const start = infoAt - total;
  return { elf: bytes.subarray(0, start), signature: bytes.subarray(start) };
}
