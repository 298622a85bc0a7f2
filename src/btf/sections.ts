/** ELF section names modbtf reads and writes, and what a module's BTF state is. */

/** The module's BTF, as the kernel loads it. */
export const SEC_BTF = '.BTF';
/** Distilled base under the name kernels >= 6.11 relocate natively at load. */
export const SEC_BASE_NATIVE = '.BTF.base';
/** Distilled base under a name the kernel ignores (modbtf's default). */
export const SEC_BASE_MINIMAL = '.BTF.base_minimal';
/** After reconcile: the distilled split BTF, kept so the module can be reconciled again. */
export const SEC_SPLIT_MINIMAL = '.BTF.split_minimal';
/** kfunc sets and BTF id lists. */
export const SEC_BTF_IDS = '.BTF_ids';
/** After reconcile: `.BTF_ids` in the distilled numbering, kept for the next reconcile. */
export const SEC_BTF_IDS_MINIMAL = '.BTF_ids.minimal';

export const BASE_SECTIONS = [SEC_BASE_MINIMAL, SEC_BASE_NATIVE] as const;

/**
 * - none: no `.BTF`
 * - standalone: `.BTF` has no base (e.g. `pahole -J` without `--btf_base`)
 * - split: `.BTF` is split BTF on the vmlinux it was built against
 * - distilled: `.BTF` is split on a distilled base carried in the module
 * - reconciled: `.BTF` is split on a target kernel; the distilled pair is kept
 */
export type BtfState = 'none' | 'standalone' | 'split' | 'distilled' | 'reconciled';

export interface SectionLookup {
  has(name: string): boolean;
}

/** Which base section a module carries, if any (the native name wins). */
export function baseSectionOf(m: SectionLookup): string | null {
  if (m.has(SEC_BASE_NATIVE)) return SEC_BASE_NATIVE;
  if (m.has(SEC_BASE_MINIMAL)) return SEC_BASE_MINIMAL;
  return null;
}
