/** Telling standalone BTF from split BTF without knowing its base. */
import { Btf } from './btf.js';

/**
 * Whether raw BTF stands on its own: it parses without a base and every type
 * id and string offset it holds is within itself. Split BTF refers to ids
 * and string offsets past its own (they start after its base's).
 */
export function isStandalone(raw: Uint8Array): boolean {
  let btf: Btf;
  try {
    btf = Btf.parse(raw);
    btf.checkReferences();
  } catch {
    return false;
  }
  return btf.nrTypes > 0 || btf.strings.length <= 1;
}
