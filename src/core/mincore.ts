/**
 * CO-RE-driven minimal BTF, as `bpftool gen min_core_btf` builds it: resolve
 * every relocation of the objects against the kernel BTF, mark what each
 * chosen target spec touches, then emit the marked types in source id order.
 *
 * Marking (per relocation kind, on the target spec):
 * - field relocations: the root type, and along the access path each
 *   accessed member and its type; pointers are not followed;
 * - TYPE_ID_TARGET / TYPE_EXISTS / TYPE_SIZE: the type, following pointers,
 *   structs and unions without members;
 * - TYPE_MATCHES: the type and, recursively, all members of structs and
 *   unions not reached through a pointer;
 * - ENUMVAL_*: the enum (whole);
 * - TYPE_ID_LOCAL: nothing.
 * Output: a new standalone BTF; structs/unions keep only marked members (the
 * kflag set when a kept member is a bitfield), other types are copied whole;
 * strings are added in first-use order; a reference to an unmarked type
 * becomes void (0).
 */
import { Btf } from '../btf/btf.js';
import { BtfBuilder } from '../btf/builder.js';
import { Kind, kindName, makeInfo } from '../btf/kinds.js';
import { CoreReloKind, type BpfObject } from '../bpfobj/object.js';
import { ModbtfError } from '../errors.js';
import { CandidateIndex, resolveCoreRelocations, type CoreRelocationResult, type CoreSpec } from './relo.js';
import { mergeKernel, splitMinimized, type KernelModuleBtf, type MergedKernel, type SplitMinimized } from './modules.js';
import { array, isMod, member, param } from './types.js';

export interface MinCoreObjectReport {
  name: string;
  relocations: CoreRelocationResult[];
}

export interface MinCoreResult {
  /** The minimized BTF (little endian, 24-byte header), as bpftool writes it. */
  bytes: Uint8Array;
  btf: Btf;
  /** Per object, every relocation's result. */
  objects: MinCoreObjectReport[];
  /** Number of types kept. */
  types: number;
  /** The kernel BTF searched: vmlinux, or vmlinux and the modules merged. */
  kernel: MergedKernel;
  /** Source id (in `kernel.btf`) -> id in the output; 0 for a type not kept. */
  idMap: Uint32Array;
}

class Marks {
  readonly types: Uint8Array;
  readonly members = new Map<number, Uint8Array>();
  constructor(readonly src: Btf) {
    this.types = new Uint8Array(src.typeCount);
  }
  member(id: number, idx: number): void {
    let m = this.members.get(id);
    if (!m) this.members.set(id, (m = new Uint8Array(this.src.vlen(id))));
    m[idx] = 1;
  }
}

function unsupported(src: Btf, id: number): ModbtfError {
  return new ModbtfError('E_CORE', `unsupported kind: ${kindName(src.kind(id)).toLowerCase()} ([${id}] ${src.name(id) || '(anon)'}) in what a relocation touches`, { ...src.where, typeId: id });
}

function loop(src: Btf, id: number): ModbtfError {
  return new ModbtfError('E_BTF_INVALID', `type [${id}] is part of a reference loop`, { ...src.where, typeId: id });
}

/** btfgen_mark_type */
function markType(marks: Marks, id: number, followPointers: boolean, depth = 0): void {
  const src = marks.src;
  for (let steps = 0; ; steps++) {
    if (id === 0) return;
    if (steps + depth > src.typeCount) throw loop(src, id);
    marks.types[id] = 1;
    const k = src.kind(id);
    switch (k) {
      case Kind.INT: case Kind.FLOAT: case Kind.ENUM: case Kind.ENUM64: case Kind.STRUCT: case Kind.UNION:
        return;
      case Kind.PTR:
        if (!followPointers) return;
        id = src.sizeOrType(id);
        continue;
      case Kind.CONST: case Kind.RESTRICT: case Kind.VOLATILE: case Kind.TYPEDEF:
        id = src.sizeOrType(id);
        continue;
      case Kind.ARRAY: {
        const a = array(src, id);
        markType(marks, a.type, followPointers, depth + steps + 1);
        id = a.indexType;
        continue;
      }
      case Kind.FUNC_PROTO: {
        markType(marks, src.sizeOrType(id), followPointers, depth + steps + 1);
        const n = src.vlen(id);
        for (let i = 0; i < n; i++) markType(marks, param(src, id, i).type, followPointers, depth + steps + 1);
        return;
      }
      default:
        throw unsupported(src, id);
    }
  }
}

/** btfgen_record_field_relo */
function markField(marks: Marks, spec: CoreSpec): void {
  const src = marks.src;
  let id = spec.rootTypeId;
  markType(marks, id, false);
  for (let i = 1; i < spec.raw.length; i++) {
    for (let steps = 0; isMod(src.kind(id)) || src.kind(id) === Kind.TYPEDEF; steps++) {
      if (steps > src.typeCount) throw loop(src, id);
      id = src.sizeOrType(id);
    }
    const k = src.kind(id);
    if (k === Kind.STRUCT || k === Kind.UNION) {
      const idx = spec.raw[i]!;
      marks.member(id, idx);
      id = member(src, id, idx).type;
      markType(marks, id, false);
    } else if (k === Kind.ARRAY) {
      id = array(src, id).type;
    } else {
      throw unsupported(src, id);
    }
  }
}

/** btfgen_mark_type_match */
function markTypeMatch(marks: Marks, id: number, behindPtr: boolean, depth = 0): void {
  const src = marks.src;
  if (id === 0) return;
  if (depth > 4096) throw loop(src, id);
  marks.types[id] = 1;
  const k = src.kind(id);
  switch (k) {
    case Kind.INT: case Kind.FLOAT: case Kind.ENUM: case Kind.ENUM64:
      return;
    case Kind.STRUCT: case Kind.UNION: {
      if (behindPtr) return;
      const n = src.vlen(id);
      for (let i = 0; i < n; i++) {
        marks.member(id, i);
        markTypeMatch(marks, member(src, id, i).type, false, depth + 1);
      }
      return;
    }
    case Kind.CONST: case Kind.FWD: case Kind.RESTRICT: case Kind.TYPEDEF: case Kind.VOLATILE:
      markTypeMatch(marks, src.sizeOrType(id), behindPtr, depth + 1);
      return;
    case Kind.PTR:
      markTypeMatch(marks, src.sizeOrType(id), true, depth + 1);
      return;
    case Kind.ARRAY: {
      const a = array(src, id);
      markTypeMatch(marks, a.type, false, depth + 1);
      markTypeMatch(marks, a.indexType, false, depth + 1);
      return;
    }
    case Kind.FUNC_PROTO: {
      markTypeMatch(marks, src.sizeOrType(id), false, depth + 1);
      const n = src.vlen(id);
      for (let i = 0; i < n; i++) markTypeMatch(marks, param(src, id, i).type, false, depth + 1);
      return;
    }
    default:
      throw unsupported(src, id);
  }
}

function record(marks: Marks, spec: CoreSpec): void {
  switch (spec.kind) {
    case CoreReloKind.FIELD_BYTE_OFFSET: case CoreReloKind.FIELD_BYTE_SIZE: case CoreReloKind.FIELD_EXISTS:
    case CoreReloKind.FIELD_SIGNED: case CoreReloKind.FIELD_LSHIFT_U64: case CoreReloKind.FIELD_RSHIFT_U64:
      markField(marks, spec);
      return;
    case CoreReloKind.TYPE_ID_LOCAL:
      return;
    case CoreReloKind.TYPE_ID_TARGET: case CoreReloKind.TYPE_EXISTS: case CoreReloKind.TYPE_SIZE:
      markType(marks, spec.rootTypeId, true);
      return;
    case CoreReloKind.TYPE_MATCHES:
      markTypeMatch(marks, spec.rootTypeId, false);
      return;
    case CoreReloKind.ENUMVAL_EXISTS: case CoreReloKind.ENUMVAL_VALUE:
      markType(marks, spec.rootTypeId, false);
      return;
    default:
      throw new ModbtfError('E_CORE', `unknown relocation kind ${spec.kind}`);
  }
}

/** btfgen_get_btf: emit the marked types (source id order), then renumber references. */
function emit(marks: Marks): { btf: Btf; ids: Uint32Array } {
  const src = marks.src;
  const b = new BtfBuilder(null, true, 1 << 14);
  const ids = new Uint32Array(src.typeCount);
  const strCache = new Map<number, number>();
  for (let id = 1; id < src.typeCount; id++) {
    if (!marks.types[id]) continue;
    const k = src.kind(id);
    if (k === Kind.STRUCT || k === Kind.UNION) {
      const nid = b.addSimple(k, src.name(id), false, src.sizeOrType(id));
      const at = b.recordOffset(nid);
      const mm = marks.members.get(id);
      const kflag = src.kflag(id);
      let anyBitfield = false;
      const kept: { name: string; type: number; offset: number }[] = [];
      const n = src.vlen(id);
      for (let i = 0; i < n; i++) {
        if (!mm || !mm[i]) continue;
        const m = member(src, id, i);
        const bitOff = kflag ? m.offset & 0xffffff : m.offset;
        const bitSize = kflag ? m.offset >>> 24 : 0;
        const isBitfield = bitSize !== 0 || bitOff % 8 !== 0;
        if (isBitfield && (bitSize === 0 || bitOff > 0xffffff)) {
          throw new ModbtfError('E_CORE', `[${id}] ${kindName(k)} ${src.name(id)}: member ${src.str(m.nameOff) || '(anon)'} at bit offset ${bitOff} cannot be written (bitfield without a size)`, { ...src.where, typeId: id });
        }
        anyBitfield ||= isBitfield;
        kept.push({ name: src.str(m.nameOff), type: m.type, offset: (bitOff | (bitSize << 24)) >>> 0 });
      }
      // members are appended after the header (builder records grow in place)
      for (const m of kept) appendMember(b, m.name, m.type, m.offset);
      b.setU32(at + 4, makeInfo(k, kept.length, anyBitfield));
      ids[id] = nid;
    } else {
      ids[id] = b.copyType(src, id, strCache);
    }
  }
  // second pass: references through the id map (unmarked -> void)
  const types = b.typesView();
  const out = Btf.fromSections(types.slice(), b.stringsView().slice(), true, null);
  const dv = new DataView(out.types.buffer, out.types.byteOffset, out.types.byteLength);
  for (let id = 1; id < out.typeCount; id++) {
    out.forEachIdField(id, (pos) => dv.setUint32(pos, ids[dv.getUint32(pos, true)] ?? 0, true));
  }
  return { btf: out, ids };
}

/** Append one STRUCT/UNION member record to the builder's last type (name, type, offset word). */
function appendMember(b: BtfBuilder, name: string, type: number, offset: number): void {
  const nameOff = b.addString(name);
  b.appendRaw([nameOff, type, offset]);
}

export interface MinCoreOptions {
  /** Reuse a candidate index built for this kernel BTF (ignored when modules are given). */
  candidates?: CandidateIndex;
  /** Module BTFs (split on `kernel`): searched and marked together with vmlinux. */
  modules?: readonly KernelModuleBtf[];
}

/**
 * The minimal BTF for `objects` out of `kernel` (a standalone BTF: vmlinux,
 * or vmlinux and modules merged into one id space). Throws ModbtfError
 * (E_CORE) where bpftool fails: a relocation libbpf rejects, or a kind the
 * marking does not handle.
 */
export function minCoreBtf(vmlinux: Btf, objects: readonly BpfObject[], opts: MinCoreOptions = {}): MinCoreResult {
  const merged = mergeKernel(vmlinux, opts.modules ?? []);
  const kernel = merged.btf;
  const marks = new Marks(kernel);
  const index = opts.candidates && opts.candidates.target === kernel ? opts.candidates : new CandidateIndex(kernel);
  const reports: MinCoreObjectReport[] = [];
  for (const obj of objects) {
    if (!obj.ext) {
      throw new ModbtfError('E_CORE', 'failed to parse BPF object: section .BTF.ext not found', { file: obj.name });
    }
    const rel = resolveCoreRelocations(obj, kernel, { candidates: index, littleEndian: true });
    reports.push({ name: obj.name, relocations: rel });
    for (const r of rel) {
      if (r.error) {
        throw new ModbtfError('E_CORE', `relocation #${r.index} (${r.kindName} ${r.local.type} ${r.local.access}): ${r.error.message}`, { file: obj.name, section: r.section });
      }
      if (r.targetSpec) {
        try {
          record(marks, r.targetSpec);
        } catch (e) {
          if (e instanceof ModbtfError) {
            e.message = `relocation #${r.index} (${r.kindName} ${r.local.type} ${r.local.access}): ${e.message}`;
            e.file = obj.name;
            e.section = r.section;
            e.typeId = undefined;
          }
          throw e;
        }
      }
    }
  }
  const { btf, ids } = emit(marks);
  return { bytes: btf.toBytes(), btf, objects: reports, types: btf.nrTypes, kernel: merged, idMap: ids };
}

/** A minimized vmlinux and one split BTF per module on it, from a min-core result with modules. */
export function splitMinCore(r: MinCoreResult): SplitMinimized {
  return splitMinimized(r.btf, r.idMap, r.kernel);
}
