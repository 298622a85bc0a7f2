/** Loading BTF from whatever file holds it: raw BTF, a vmlinux or module ELF, compressed or not. */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { ModbtfError } from '../errors.js';
import { openInput, type InputFile, type LimitOptions } from '../module/index.js';
import { Btf } from './btf.js';
import { SEC_BTF } from './sections.js';

/** The raw `.BTF` bytes of an opened input (the whole file for raw BTF). */
export function rawBtfOf(input: InputFile): Uint8Array {
  if (input.kind === 'btf') return input.btf!;
  const elf = input.elf!;
  const sec = elf.section(SEC_BTF);
  if (!sec) {
    throw new ModbtfError('E_NO_BTF', 'no .BTF section (built without BTF: CONFIG_DEBUG_INFO_BTF / CONFIG_DEBUG_INFO_BTF_MODULES)', { file: input.path });
  }
  return elf.data(sec);
}

const baseCache = new Map<string, Promise<Btf>>();

/**
 * Load base BTF (vmlinux): raw BTF such as /sys/kernel/btf/vmlinux, or a
 * vmlinux ELF's `.BTF`. Parsed once per path per process.
 */
export function loadBaseBtf(path: string, opts: LimitOptions = {}): Promise<Btf> {
  // The absolute path as given, then as resolved (another spelling of the same file): a batch
  // asks for its kernel once per module, with the same string.
  const abs = resolve(path);
  const given = baseCache.get(abs);
  if (given) return given;
  let key = path;
  try {
    key = realpathSync(path);
  } catch {
    // openInput reports the missing file
  }
  let p = baseCache.get(key);
  if (!p) {
    p = (async () => {
      const input = await openInput(path, opts);
      if (input.elf?.section('.modinfo')) {
        throw new ModbtfError('E_NO_BASE', 'is a kernel module, not vmlinux or kernel BTF', { file: path });
      }
      const section = input.kind === 'btf' ? undefined : SEC_BTF;
      const btf = Btf.parse(rawBtfOf(input), { file: path, section });
      return btf;
    })();
    baseCache.set(key, p);
    p.catch(() => baseCache.delete(key));
  }
  if (key !== abs) {
    baseCache.set(abs, p);
    p.catch(() => baseCache.delete(abs));
  }
  return p;
}
