/** Distilling a module: rewrite `.BTF`, add the distilled base, keep `.BTF_ids` in step. */
import { Btf } from '../btf/btf.js';
import { btfIdsLayout, remapBtfIds, type BtfIdsLayout } from '../btf/btfids.js';
import { Kind, kindName } from '../btf/kinds.js';
import {
  SEC_BASE_MINIMAL, SEC_BASE_NATIVE, SEC_BTF, SEC_BTF_IDS, SEC_BTF_IDS_MINIMAL, SEC_SPLIT_MINIMAL,
  baseSectionOf,
} from '../btf/sections.js';
import { isStandalone } from '../btf/standalone.js';
import { validateBtf } from '../btf/validate.js';
import { ElfFile, withElf, editElfPieces, type ElfEdits, type ElfPieces } from '../elf/index.js';
import { ModbtfError } from '../errors.js';
import { relocateSplit } from '../reconcile/module.js';
import { distill, goesToBase } from './distill.js';
import { mapOntoBase, type MapOptions } from '../map/map.js';

export interface DistillModuleOptions {
  /** Name of the section the distilled base goes in (default `.BTF.base_minimal`). */
  section?: string;
  /** Distill again a module that already carries a distilled base. */
  force?: boolean;
  /** File name for messages. */
  file?: string;
}

export interface DistillReport {
  file?: string;
  section: string;
  /** `.BTF` size before and after, and the distilled base's size. */
  btfBefore: number;
  btfAfter: number;
  baseSize: number;
  /** Module's own types; types in the new split (own + pulled-in copies); distilled base types. */
  moduleTypes: number;
  splitTypes: number;
  baseTypes: number;
  /** Distilled-base types by kind name. */
  baseKinds: Record<string, number>;
  /** The distilled base's FWD types (the kernel's own relocation of `.BTF.base` may refuse them). */
  baseFwds: { id: number; name: string; flavour: 'struct' | 'union' }[];
  /** `.BTF_ids` slots rewritten (non-zero ids), and how many changed value. */
  btfIdsSlots: number;
  btfIdsChanged: number;
  /** The module was distilled again from an earlier distilled/reconciled state. */
  redone: boolean;
  /** Standalone BTF was first mapped onto the base: types mapped there, and kept. */
  mappedStandalone?: { mapped: number; kept: number };
}

export interface DistillModuleResult {
  /** The rewritten module (joined from `pieces` on first use). */
  readonly elf: Uint8Array;
  /** The rewritten module as pieces over the input, for writing without a copy. */
  pieces: ElfPieces;
  report: DistillReport;
}

/** Split BTF on `base` for the module's `.BTF`, whatever state it is in, with `.BTF_ids` in that numbering. */
interface SplitOnBase {
  split: Btf;
  /** `.BTF_ids` bytes in `split`'s numbering. */
  ids: Uint8Array | null;
  redone: boolean;
  /** Set when the module had standalone BTF that was mapped onto the base first. */
  mappedStandalone?: { mapped: number; kept: number };
  /** Module functions the kernel has too, kept by `keepModuleFuncs`. */
  funcsKept?: number;
}

/** Split BTF on `base` for a module's standalone `.BTF`, mapped by type-graph equivalence. */
export function mapModuleOnto(elf: ElfFile, base: Btf, file?: string, opts: MapOptions = {}): SplitOnBase {
  const sec = elf.section(SEC_BTF)!;
  const standalone = Btf.parse(elf.data(sec), { file, section: SEC_BTF });
  validateBtf(standalone);
  const m = mapOntoBase(standalone, base, opts);
  const idsSec = elf.section(SEC_BTF_IDS);
  let ids: Uint8Array | null = null;
  if (idsSec) {
    const raw = elf.data(idsSec);
    const layout = btfIdsLayout(raw, idsSec.index, elf.symbolsIn(idsSec.index), elf.littleEndian, { file });
    ids = remapBtfIds(raw, layout, m.idMap, elf.littleEndian, { file }).bytes;
  }
  return { split: m.split, ids, redone: false, mappedStandalone: { mapped: m.mapped, kept: m.kept }, funcsKept: m.funcsKept };
}

function splitOnBase(elf: ElfFile, base: Btf, opts: DistillModuleOptions): SplitOnBase {
  const file = opts.file;
  const btfSec = elf.section(SEC_BTF);
  if (!btfSec) {
    throw new ModbtfError('E_NO_BTF',
      'no .BTF section: the module was built without BTF (kbuild skips it when vmlinux is missing); generate it with `pahole -J --btf_base vmlinux`, or with `pahole -J` and `modbtf distill --base VMLINUX`',
      { file, section: SEC_BTF });
  }
  const idsSec = elf.section(SEC_BTF_IDS);
  const baseName = baseSectionOf({ has: (n) => elf.section(n) !== undefined });
  if (baseName) {
    if (!opts.force) {
      throw new ModbtfError('E_ALREADY_DISTILLED',
        `already distilled (${baseName} present); use --force to distill it again`, { file, section: baseName });
    }
    // Relocate what the module carries back onto the full base, then distill afresh.
    const r = relocateSplit(elf, base, { file });
    return { split: r.btf, ids: r.ids, redone: true };
  }
  const raw = elf.data(btfSec);
  let split: Btf;
  try {
    split = Btf.parse(raw, { base, file, section: SEC_BTF });
    validateBtf(split);
  } catch (e) {
    if (e instanceof ModbtfError && e.code === 'E_BTF_KIND') throw e;
    if (e instanceof ModbtfError && isStandalone(raw)) return mapModuleOnto(elf, base, file);
    if (e instanceof ModbtfError) {
      throw new ModbtfError('E_NOT_SPLIT', `not split BTF on the given base: ${e.message}`, { file, section: SEC_BTF, typeId: e.typeId });
    }
    throw e;
  }
  return { split, ids: idsSec ? elf.data(idsSec) : null, redone: false };
}

/**
 * Base ids that `.BTF_ids` slots name. The kernel maps a slot below the
 * distilled base's count through the module's base id map, so a base type a
 * slot names must be in the distilled base even when no split type refers to
 * it (e.g. `struct nf_conn___init` in nf_conntrack). Only types the kernel
 * finds again by name can be there: a slot naming an anonymous or reference
 * base type is refused.
 */
function slotBaseIds(ids: Uint8Array, layout: BtfIdsLayout, split: Btf, le: boolean, file?: string): number[] {
  const base = split.base!;
  const dv = new DataView(ids.buffer, ids.byteOffset, ids.byteLength);
  const out: number[] = [];
  for (const off of layout.slots) {
    const v = dv.getUint32(off, le);
    if (v === 0 || v >= split.startId) continue;
    const kind = base.kind(v);
    const name = base.name(v);
    if (!goesToBase(kind, base.nameOff(v) !== 0)) {
      const what = kind === Kind.STRUCT || kind === Kind.UNION || kind === Kind.ENUM || kind === Kind.ENUM64
        ? 'an anonymous type' : 'not a type a distilled base can hold';
      throw new ModbtfError('E_BTF_IDS',
        `slot at offset ${off} (${layout.slotNames.get(off)}) names base type [${v}] ${kindName(kind)} '${name}', ${what}: the kernel cannot map it from a distilled base`,
        { file, section: SEC_BTF_IDS, typeId: v });
    }
    out.push(v);
  }
  return out;
}

export function distillModule(elf: ElfFile, base: Btf, opts: DistillModuleOptions = {}): DistillModuleResult {
  const file = opts.file;
  const section = opts.section ?? SEC_BASE_MINIMAL;
  const btfBefore = elf.section(SEC_BTF)?.size ?? 0;
  const { split, ids, redone, mappedStandalone } = splitOnBase(elf, base, opts);
  const moduleTypes = split.nrTypes;
  const idsSec = elf.section(SEC_BTF_IDS);
  const layout = idsSec && ids ? btfIdsLayout(ids, idsSec.index, elf.symbolsIn(idsSec.index), elf.littleEndian, { file }) : null;
  const extraBase = layout && ids ? slotBaseIds(ids, layout, split, elf.littleEndian, file) : [];
  const r = distill(split, { extraBase });
  const baseBytes = r.base.bytesView();
  const splitBytes = r.split.bytesView();

  const replace = new Map<string, Uint8Array>([[SEC_BTF, splitBytes]]);
  let btfIdsSlots = 0;
  let btfIdsChanged = 0;
  if (layout && ids) {
    const remapped = remapBtfIds(ids, layout, r.idMap, elf.littleEndian, { file });
    replace.set(SEC_BTF_IDS, remapped.bytes);
    btfIdsSlots = remapped.slots;
    btfIdsChanged = remapped.changed;
  }
  // The distilled base goes in `section`; no other base or reconcile leftovers stay.
  const present = (n: string): boolean => elf.section(n) !== undefined;
  const add: NonNullable<ElfEdits['add']> = [];
  if (present(section)) replace.set(section, baseBytes);
  else add.push({ name: section, data: baseBytes, like: SEC_BTF });
  const remove = [SEC_BASE_MINIMAL, SEC_BASE_NATIVE, SEC_SPLIT_MINIMAL, SEC_BTF_IDS_MINIMAL]
    .filter((n) => n !== section && present(n));
  const edits: ElfEdits = { replace, add, remove };

  const baseKinds: Record<string, number> = {};
  const baseFwds: DistillReport['baseFwds'] = [];
  for (let id = 1; id < r.base.typeCount; id++) {
    const kind = r.base.kind(id);
    const k = kindName(kind);
    baseKinds[k] = (baseKinds[k] ?? 0) + 1;
    if (kind === Kind.FWD) baseFwds.push({ id, name: r.base.name(id), flavour: r.base.kflag(id) ? 'union' : 'struct' });
  }
  return withElf(editElfPieces(elf, edits), {
    report: {
      file, section, btfBefore, btfAfter: splitBytes.length, baseSize: baseBytes.length,
      moduleTypes, splitTypes: r.split.nrTypes, baseTypes: r.base.nrTypes, baseKinds, baseFwds,
      btfIdsSlots, btfIdsChanged, redone, mappedStandalone,
    },
  });
}
