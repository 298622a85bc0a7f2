/** Reconciling a module: its distilled BTF relocated onto a target kernel's BTF, written as plain split BTF. */
import { Btf } from '../btf/btf.js';
import { btfIdsLayout, remapBtfIds } from '../btf/btfids.js';
import {
  SEC_BASE_MINIMAL, SEC_BASE_NATIVE, SEC_BTF, SEC_BTF_IDS, SEC_BTF_IDS_MINIMAL, SEC_SPLIT_MINIMAL,
  baseSectionOf,
} from '../btf/sections.js';
import { validateBtf } from '../btf/validate.js';
import { ElfFile, withElf, editElfPieces, type ElfEdits, type ElfPieces } from '../elf/index.js';
import { ModbtfError } from '../errors.js';
import { Kind } from '../btf/kinds.js';
import { applyPlan, formatProblem, planRelocation, type RelocationProblem } from './relocate.js';
import { dedupAgainstBase } from '../map/map.js';

export interface DistilledParts {
  /** Section the distilled base came from. */
  baseSection: string;
  /** Whether the module was reconciled before (the pair came from the kept sections). */
  reconciled: boolean;
  dist: Btf;
  split: Btf;
  /** `.BTF_ids` bytes in the distilled numbering, if the module has `.BTF_ids`. */
  ids: Uint8Array | null;
}

/** The distilled base and split a module carries; null when it is not distilled. */
export function distilledParts(elf: ElfFile, file?: string): DistilledParts | null {
  const baseSection = baseSectionOf({ has: (n) => elf.section(n) !== undefined });
  if (!baseSection) return null;
  const splitSec = elf.section(SEC_SPLIT_MINIMAL);
  const reconciled = splitSec !== undefined;
  const splitName = reconciled ? SEC_SPLIT_MINIMAL : SEC_BTF;
  const splitData = reconciled ? elf.data(splitSec) : elf.section(SEC_BTF) && elf.data(elf.section(SEC_BTF)!);
  if (!splitData) {
    throw new ModbtfError('E_NO_BTF', `${baseSection} present but no .BTF section`, { file, section: SEC_BTF });
  }
  const dist = Btf.parse(elf.data(elf.section(baseSection)!), { file, section: baseSection });
  dist.checkReferences();
  const split = Btf.parse(splitData, { base: dist, file, section: splitName });
  validateBtf(split);
  const idsSec = elf.section(reconciled ? SEC_BTF_IDS_MINIMAL : SEC_BTF_IDS);
  let ids: Uint8Array | null = idsSec ? elf.data(idsSec) : null;
  if (reconciled && !idsSec && elf.section(SEC_BTF_IDS)) {
    throw new ModbtfError('E_BTF_IDS', `reconciled module has .BTF_ids but no ${SEC_BTF_IDS_MINIMAL} to reconcile it again from`, { file, section: SEC_BTF_IDS_MINIMAL });
  }
  if (ids && ids.length !== elf.section(SEC_BTF_IDS)?.size) {
    throw new ModbtfError('E_BTF_IDS', `${SEC_BTF_IDS_MINIMAL} and ${SEC_BTF_IDS} differ in size`, { file, section: SEC_BTF_IDS_MINIMAL });
  }
  if (!elf.section(SEC_BTF_IDS)) ids = null;
  return { baseSection, reconciled, dist, split, ids };
}

/** Remap `.BTF_ids` bytes (in the numbering `map` starts from) into the numbering it leads to. */
function remapIds(elf: ElfFile, ids: Uint8Array | null, map: Uint32Array, file?: string): { bytes: Uint8Array | null; slots: number } {
  const sec = elf.section(SEC_BTF_IDS);
  if (!sec || !ids) return { bytes: null, slots: 0 };
  const layout = btfIdsLayout(ids, sec.index, elf.symbolsIn(sec.index), elf.littleEndian, { file });
  const r = remapBtfIds(ids, layout, map, elf.littleEndian, { file });
  return { bytes: r.bytes, slots: r.slots };
}

function relocationError(problems: RelocationProblem[], file: string | undefined, section: string): ModbtfError {
  const n = problems.length;
  return new ModbtfError('E_RELOCATE',
    `cannot map ${n} distilled base type${n > 1 ? 's' : ''} onto the target kernel BTF:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`,
    { file, section });
}

export interface RelocatedSplit {
  parts: DistilledParts;
  btf: Btf;
  idMap: Uint32Array;
  ids: Uint8Array | null;
  btfIdsSlots: number;
}

/** Relocate a distilled (or reconciled) module's distilled pair onto `target`. */
export function relocateSplit(elf: ElfFile, target: Btf, opts: { file?: string } = {}): RelocatedSplit {
  const parts = distilledParts(elf, opts.file);
  if (!parts) throw new ModbtfError('E_NOT_DISTILLED', 'not distilled (no .BTF.base_minimal or .BTF.base section)', { file: opts.file });
  const plan = planRelocation(parts.split, target);
  if (plan.problems.length) throw relocationError(plan.problems, opts.file, parts.baseSection);
  const { btf, idMap } = applyPlan(parts.split, target, plan);
  const ids = remapIds(elf, parts.ids, idMap, opts.file);
  return { parts, btf, idMap, ids: ids.bytes, btfIdsSlots: ids.slots };
}

export interface ReconcileOptions {
  /** Drop the distilled pair (the module can then not be reconciled again). */
  strip?: boolean;
  /** Fold split types equal to kernel types back into references to the kernel. */
  dedup?: boolean;
  file?: string;
}

export interface ReconcileReport {
  file?: string;
  /** Whether the module had been reconciled before. */
  again: boolean;
  btfBefore: number;
  btfAfter: number;
  targetTypes: number;
  splitTypes: number;
  distilledBaseTypes: number;
  btfIdsSlots: number;
  stripped: boolean;
  /** With dedup: split types folded into kernel types, and bytes saved. */
  dedup?: { folded: number; bytesSaved: number };
}

export type ReconcileModuleResult =
  | { status: 'not-distilled'; file?: string }
  | { status: 'reconciled'; readonly elf: Uint8Array; pieces: ElfPieces; report: ReconcileReport };

export function reconcileModule(elf: ElfFile, target: Btf, opts: ReconcileOptions = {}): ReconcileModuleResult {
  const file = opts.file;
  if (!baseSectionOf({ has: (n) => elf.section(n) !== undefined })) return { status: 'not-distilled', file };
  const btfBefore = elf.section(SEC_BTF)?.size ?? 0;
  const r = relocateSplit(elf, target, { file });
  const { parts } = r;
  let btf = r.btf;
  let ids = r.ids;
  let dedup: ReconcileReport['dedup'];
  if (opts.dedup) {
    const d = dedupAgainstBase(btf);
    btf = d.btf;
    dedup = { folded: d.folded, bytesSaved: d.bytesSaved };
    if (ids) ids = remapIds(elf, ids, d.idMap, file).bytes;
  }
  const out = btf.bytesView();
  const replace = new Map<string, Uint8Array>([[SEC_BTF, out]]);
  if (ids) replace.set(SEC_BTF_IDS, ids);
  const add: NonNullable<ElfEdits['add']> = [];
  const remove: string[] = [];
  const present = (n: string): boolean => elf.section(n) !== undefined;
  const keep = (name: string, data: Uint8Array): void => {
    if (present(name)) replace.set(name, data);
    else add.push({ name, data, like: SEC_BTF });
  };
  // Never leave `.BTF.base` next to a reconciled `.BTF`: the kernel would relocate it again.
  if (present(SEC_BASE_NATIVE)) remove.push(SEC_BASE_NATIVE);
  if (opts.strip) {
    for (const n of [SEC_BASE_MINIMAL, SEC_SPLIT_MINIMAL, SEC_BTF_IDS_MINIMAL]) if (present(n)) remove.push(n);
  } else {
    keep(SEC_BASE_MINIMAL, parts.dist.bytesView());
    keep(SEC_SPLIT_MINIMAL, parts.split.bytesView());
    if (parts.ids) keep(SEC_BTF_IDS_MINIMAL, parts.ids);
  }
  return withElf(editElfPieces(elf, { replace, add, remove }), {
    status: 'reconciled' as const,
    report: {
      file, again: parts.reconciled, btfBefore, btfAfter: out.length, targetTypes: target.typeCount - 1,
      splitTypes: btf.nrTypes, distilledBaseTypes: parts.dist.nrTypes, btfIdsSlots: r.btfIdsSlots,
      stripped: !!opts.strip, dedup,
    },
  });
}

export interface RelocationVerdict {
  status: 'ok' | 'fail';
  problems: RelocationProblem[];
  lines: string[];
}

export interface CheckResult {
  file?: string;
  /** modbtf reconcile's verdict (it writes plain split BTF on the target). */
  status: 'ok' | 'fail' | 'not-distilled';
  problems: RelocationProblem[];
  lines: string[];
  /** Section the distilled base is in (`.BTF.base` is relocated by the kernel itself at load). */
  baseSection?: string;
  /**
   * The verdict of the kernel's own relocation of the distilled base at load
   * (libbpf's and kernel/bpf/btf_relocate.c's rules); it differs from
   * reconcile's only for FWD types (see RelocationRules).
   */
  kernelRelocation?: RelocationVerdict;
}

function verdict(problems: RelocationProblem[]): RelocationVerdict {
  return { status: problems.length ? 'fail' : 'ok', problems, lines: problems.map(formatProblem) };
}

/** Would the module reconcile onto `target`, and would the kernel relocate its distilled base there? Nothing is written. */
export function checkModule(elf: ElfFile, target: Btf, opts: { file?: string } = {}): CheckResult {
  const parts = distilledParts(elf, opts.file);
  if (!parts) return { file: opts.file, status: 'not-distilled', problems: [], lines: [] };
  const plan = planRelocation(parts.split, target);
  const mine = verdict(plan.problems);
  // The two rule sets only differ on FWD types: without one, the kernel's verdict is reconcile's.
  let hasFwd = false;
  for (let id = 1; id < parts.dist.typeCount && !hasFwd; id++) hasFwd = parts.dist.kind(id) === Kind.FWD;
  const kernel = hasFwd ? verdict(planRelocation(parts.split, target, { rules: 'kernel' }).problems) : mine;
  return {
    file: opts.file, status: mine.status, problems: mine.problems, lines: mine.lines,
    baseSection: parts.baseSection, kernelRelocation: kernel,
  };
}

/** Whether two verdicts say different things (status or reasons). */
export function verdictsDiffer(a: { status: string; lines: string[] }, b: { status: string; lines: string[] }): boolean {
  return a.status !== b.status || a.lines.length !== b.lines.length || a.lines.some((l, i) => l !== b.lines[i]);
}
