/**
 * modbtf's library API. The CLI (`bin/modbtf`) is a thin layer over it.
 */
export { ModbtfError, type ModbtfErrorCode, type ErrorLocation } from './errors.js';

export { Btf, serializeSections, type BtfHeader, type BtfParseOptions, type KindLayoutEntry } from './btf/btf.js';
export { BtfBuilder } from './btf/builder.js';
export { Kind, KIND_NAMES, LAYOUT, kindName, type KindLayout } from './btf/kinds.js';
export {
  BTF_HEADER_LEN, BTF_HEADER_LEN_LAYOUT, BTF_MAX_KIND, BTF_MAX_VLEN, KIND_MAX, isKnownKind, defaultKindLayout,
  infoKind, infoVlen, infoKflag, makeInfo,
} from './btf/kinds.js';
export { validateBtf, typeSize, validIdentifier, validSectionName } from './btf/validate.js';
export { isStandalone } from './btf/standalone.js';
export { btfIdsLayout, remapBtfIds, type BtfIdsLayout, type BtfIdsRemap } from './btf/btfids.js';
export { dumpRaw, dumpJson } from './btf/dump.js';
export { dumpC, dumpCTo, type DumpCOptions } from './btf/dumpc.js';
export { loadBaseBtf, rawBtfOf } from './btf/load.js';
export * from './btf/sections.js';

export { ElfFile, editElf, type ElfSection, type ElfSymbol, type ElfEdits } from './elf/index.js';
export * from './module/index.js';

export { distill, type DistillResult } from './distill/distill.js';
export { distillModule, type DistillModuleOptions, type DistillReport, type DistillModuleResult } from './distill/module.js';

export {
  planRelocation, relocate, applyPlan, formatProblem,
  type RelocationPlan, type RelocationProblem, type RelocateResult, type ProblemReason, type RelocationRules,
} from './reconcile/relocate.js';
export {
  reconcileModule, checkModule, relocateSplit, distilledParts,
  type ReconcileOptions, type ReconcileReport, type ReconcileModuleResult, type CheckResult, type RelocationVerdict,
} from './reconcile/module.js';

export { mapOntoBase, dedupAgainstBase, toStandalone, baseShapeIndex, type MapResult, type MapOptions, type DedupResult } from './map/map.js';
export { mapModuleOnto } from './distill/module.js';

export {
  readBpfObject, readBpfObjects, findEmbeddedBpfObjects, parseBtfExt, coreReloKindName, CoreReloKind, EM_BPF,
  type BpfObject, type BtfExt, type CoreRelo, type FuncInfo, type LineInfo, type ExtSection, type EmbeddedObject,
} from './bpfobj/object.js';
export {
  resolveCoreRelocations, CandidateIndex, CoreError,
  type CoreRelocationResult, type CoreSpecInfo, type CoreSpec, type CoreStatus, type ResolveOptions,
} from './core/relo.js';
export { minCoreBtf, type MinCoreResult, type MinCoreOptions, type MinCoreObjectReport } from './core/mincore.js';

export { run } from './cli/main.js';
