/**
 * Relocate split BTF from its distilled base onto a full target base BTF.
 * The mapping rules and the resulting bytes follow libbpf's btf__relocate()
 * and the kernel's kernel/bpf/btf_relocate.c; unlike them, every distilled
 * type that cannot be mapped is reported, each with its reason.
 */
import { Btf, rewriteRecordWords, serializeSections } from '../btf/btf.js';
import { hashBytes } from '../btf/strindex.js';
import {
  HOST_LE, BTF_HEADER_LEN_LAYOUT, INT_BOOL, INT_CHAR, INT_SIGNED, Kind, infoKind, infoVlen, kindName,
} from '../btf/kinds.js';
import { ModbtfError } from '../errors.js';

export type ProblemReason = 'missing' | 'kind' | 'size' | 'ambiguous' | 'fwd-kflag';

/**
 * Whose rules map the distilled base: modbtf's (reconcile), or libbpf's
 * btf__relocate() and the kernel's kernel/bpf/btf_relocate.c (which relocate a
 * `.BTF.base` module at load). They differ in one rule: for a FWD, libbpf and
 * the kernel test the *target's* kind_flag (a STRUCT matches when its
 * kind_flag is 0, a UNION when it is 1) where modbtf tests the FWD's own
 * struct/union flavour against the target's kind. A STRUCT with bitfields has
 * kind_flag 1 (bitfield encoding), so the kernel refuses a struct FWD onto it;
 * a UNION without bitfields has kind_flag 0, so it refuses a union FWD onto
 * that; and it maps a struct FWD onto a UNION with bitfields (or a union FWD
 * onto a STRUCT without) that modbtf refuses.
 */
export type RelocationRules = 'modbtf' | 'kernel';

export interface RelocationProblem {
  /** Id in the distilled base. */
  id: number;
  kind: number;
  name: string;
  size: number;
  /** The split embeds this struct/union by value, so its size must match. */
  embedded: boolean;
  reason: ProblemReason;
  /** Target ids involved (the candidates that matched, or the near misses). */
  candidates: number[];
  /** What is wrong, in words. */
  detail: string;
}

export interface RelocationPlan {
  /** Id in the split's id space (distilled base + split) -> id on the target. */
  idMap: Uint32Array;
  /** Distilled-base string offset -> target string offset (0: unmapped). */
  strMap: Map<number, number>;
  problems: RelocationProblem[];
}

/**
 * Name index of a target base BTF: named INT/FLOAT/ENUM/ENUM64/FWD/STRUCT/UNION
 * ids chained per hash bucket (ascending), in typed arrays, hashing the name
 * bytes straight from the string section.
 */
interface TargetIndex {
  mask: number;
  /** Bucket -> first id + 1 (0: empty). */
  head: Uint32Array;
  /** Id -> next id + 1 in the same bucket. */
  next: Uint32Array;
  /** Id -> full hash of its name. */
  hash: Uint32Array;
}

const indexCache = new WeakMap<Btf, TargetIndex>();

function isCandidateKind(kind: number): boolean {
  switch (kind) {
    case Kind.INT: case Kind.FLOAT: case Kind.ENUM: case Kind.ENUM64: case Kind.FWD:
    case Kind.STRUCT: case Kind.UNION:
      return true;
    default:
      return false;
  }
}

/** Built once per target Btf and reused across modules (batch runs). */
export function targetIndex(target: Btf): TargetIndex {
  let idx = indexCache.get(target);
  if (idx) return idx;
  let size = 1024;
  while (size < target.typeCount >>> 2) size <<= 1;
  const mask = size - 1;
  const head = new Uint32Array(size);
  const next = new Uint32Array(target.typeCount);
  const hash = new Uint32Array(target.typeCount);
  const strs = target.strings;
  const start = target.startStrOff;
  const dv = target.dv;
  const le = target.littleEndian;
  const offs = target.offsets;
  // Descending, prepending: each bucket's chain comes out in ascending id order.
  for (let i = offs.length - 1; i >= 0; i--) {
    const o = offs[i]!;
    const nameOff = dv.getUint32(o, le);
    if (nameOff === 0) continue;
    // Kinds modbtf does not know (2026 kernel BTF) are never candidates, as in libbpf.
    if (!isCandidateKind(infoKind(dv.getUint32(o + 4, le)))) continue;
    const b = nameOff - start;
    let e = strs.indexOf(0, b);
    if (e < 0) e = strs.length;
    let h = 0x811c9dc5;
    for (let j = b; j < e; j++) h = Math.imul(h ^ strs[j]!, 0x01000193);
    h >>>= 0;
    const id = target.startId + i;
    hash[id] = h;
    next[id] = head[h & mask]!;
    head[h & mask] = id + 1;
  }
  idx = { mask, head, next, hash };
  indexCache.set(target, idx);
  return idx;
}

/**
 * Target type ids (candidate kinds only, ascending) whose name is the string
 * at `off` of `from`, compared as bytes in place (no JS string is made).
 */
function candidatesNamed(target: Btf, idx: TargetIndex, from: Btf, off: number): number[] {
  if (off >= from.strEnd) from.str(off); // throws the out-of-range error
  const key = from.strBytes(off);
  const len = key.length;
  const h = hashBytes(key, 0, len);
  const out: number[] = [];
  const strs = target.strings;
  const tw = target.words();
  const toffs = target.offsets;
  for (let e = idx.head[h & idx.mask]!; e !== 0; e = idx.next[e - 1]!) {
    const id = e - 1;
    if (idx.hash[id] !== h) continue;
    // (the target is base BTF: its ids and string offsets start at 1 and 0)
    const s = tw[toffs[id - 1]! >>> 2]!;
    if (s >= strs.length) target.str(s); // throws the out-of-range error
    if (s + len >= strs.length || strs[s + len] !== 0) continue;
    let i = 0;
    while (i < len && strs[s + i] === key[i]) i++;
    if (i === len) out.push(id);
  }
  return out;
}

function intEncoding(btf: Btf, id: number): number {
  const o = btf.owner(id);
  return (o.u32(o.off(id) + 12) >>> 24) & 0x0f;
}

function encodingName(enc: number): string {
  if (enc & INT_SIGNED) return 'signed';
  if (enc & INT_CHAR) return 'char';
  if (enc & INT_BOOL) return 'bool';
  return 'unsigned';
}

/** Mark distilled struct/union ids embedded by value in a split struct/union. */
function markEmbedded(split: Btf, nrDist: number): Uint8Array {
  const embedded = new Uint8Array(nrDist);
  const maxSteps = split.typeCount;
  const dist = split.base!;
  const sw = split.words();
  const soffs = split.offsets;
  const dw = dist.words();
  const doffs = dist.offsets;
  const start = split.startId;
  // libbpf and the kernel scan ids [nrDist, nrSplitTypes) here, which misses
  // the last nrDist split types; every split type is checked here, so a
  // changed embedded struct is refused instead of silently mapped.
  for (let i = 0; i < soffs.length; i++) {
    const o = soffs[i]! >>> 2;
    const info = sw[o + 1]!;
    const kind = infoKind(info);
    if (kind !== Kind.STRUCT && kind !== Kind.UNION) continue;
    const vlen = infoVlen(info);
    for (let j = 0, p = o + 4; j < vlen; j++, p += 3) {
      let next = sw[p]!;
      for (let steps = 0; next !== 0 && steps < maxSteps; steps++) {
        // (ids were checked in range by validation; the distilled base holds ids 1..nrDist-1)
        let w: Uint32Array;
        let r: number;
        if (next < start) {
          w = dw;
          r = doffs[next - 1]! >>> 2;
        } else {
          w = sw;
          r = soffs[next - start]! >>> 2;
        }
        const k = infoKind(w[r + 1]!);
        if (k === Kind.CONST || k === Kind.RESTRICT || k === Kind.VOLATILE || k === Kind.TYPEDEF || k === Kind.TYPE_TAG) {
          next = w[r + 2]!;
        } else if (k === Kind.ARRAY) {
          next = w[r + 3]!;
        } else {
          if ((k === Kind.STRUCT || k === Kind.UNION) && next < nrDist) embedded[next] = 1;
          break;
        }
      }
    }
  }
  return embedded;
}

/** Check the distilled base holds only what distill makes: named INT/FLOAT/ENUM/STRUCT/UNION/FWD. */
function validateDistilledBase(dist: Btf): void {
  for (let id = 1; id < dist.typeCount; id++) {
    const kind = dist.kind(id);
    switch (kind) {
      case Kind.INT: case Kind.FLOAT: case Kind.ENUM: case Kind.STRUCT: case Kind.UNION: case Kind.FWD:
        if (dist.nameOff(id) !== 0) break;
        throw dist.error('E_RELOCATE', `${kindName(kind)} is anonymous, which a distilled base must not hold`, id);
      default:
        throw dist.error('E_RELOCATE', `${kindName(kind)} '${dist.name(id)}' is a kind a distilled base must not hold`, id);
    }
  }
}

/**
 * Work out where every distilled-base type goes on `target`, without
 * changing anything. `split` is split BTF whose base is a distilled base.
 */
export function planRelocation(split: Btf, target: Btf, opts: { rules?: RelocationRules } = {}): RelocationPlan {
  const kernelRules = opts.rules === 'kernel';
  const dist = split.base;
  if (!dist) throw split.error('E_NOT_DISTILLED', 'BTF has no distilled base to relocate from');
  if (target.base) throw target.error('E_RELOCATE', 'target BTF must be a base BTF (vmlinux), not split BTF');
  split.requireKnownKinds('relocate it');
  validateDistilledBase(dist);
  const nrDist = dist.typeCount;
  const nrBase = target.typeCount;
  const idMap = new Uint32Array(split.typeCount);
  for (let id = nrDist; id < split.typeCount; id++) idMap[id] = id + nrBase - nrDist;

  const embedded = markEmbedded(split, nrDist);
  const index = targetIndex(target);
  const problems: RelocationProblem[] = [];
  // name_off of the target type matched last, per distilled name_off (libbpf's str_map).
  const strBest = new Map<number, number>();

  for (let d = 1; d < nrDist; d++) {
    const dKind = dist.kind(d);
    const dNameOff = dist.nameOff(d);
    const dSize = dist.sizeOrType(d);
    const isEmb = embedded[d] === 1;
    const cands = candidatesNamed(target, index, dist, dNameOff);
    // Composites sharing a name_off in the target must also match on size.
    let compositeCount: Map<number, number> | null = null;
    const matches: number[] = [];
    const nearMisses: number[] = [];
    // Kernel rules: targets of the FWD's flavour refused for their kind_flag.
    const fwdRefused: number[] = [];
    let sizeMiss = false;
    for (const t of cands) {
      const tKind = target.kind(t);
      const tSize = target.sizeOrType(t);
      let needsSize: boolean;
      switch (tKind) {
        case Kind.INT: case Kind.FLOAT: case Kind.ENUM: case Kind.ENUM64:
          needsSize = true;
          break;
        case Kind.FWD:
          needsSize = false;
          break;
        default: {
          if (!compositeCount) {
            compositeCount = new Map();
            for (const c of cands) {
              const ck = target.kind(c);
              if (ck === Kind.STRUCT || ck === Kind.UNION) {
                const no = target.nameOff(c);
                compositeCount.set(no, (compositeCount.get(no) ?? 0) + 1);
              }
            }
          }
          needsSize = (compositeCount.get(target.nameOff(t)) ?? 0) > 1;
        }
      }
      let ok: boolean;
      switch (dKind) {
        case Kind.FWD: {
          const flavourOk = tKind === Kind.FWD ? target.kflag(t) === dist.kflag(d)
            : tKind === Kind.STRUCT ? !dist.kflag(d)
              : tKind === Kind.UNION ? dist.kflag(d) : false;
          if (!kernelRules || tKind === Kind.FWD) {
            ok = flavourOk;
          } else {
            ok = tKind === Kind.STRUCT ? !target.kflag(t) : tKind === Kind.UNION ? target.kflag(t) : false;
            if (flavourOk && !ok) fwdRefused.push(t);
          }
          break;
        }
        case Kind.INT:
          ok = tKind === Kind.INT && intEncoding(target, t) === intEncoding(dist, d);
          break;
        case Kind.FLOAT:
          ok = tKind === Kind.FLOAT;
          break;
        case Kind.ENUM:
          ok = tKind === Kind.ENUM || tKind === Kind.ENUM64;
          break;
        default: // STRUCT, UNION: any candidate of that name, by size when embedded
          ok = true;
          if (isEmb && tSize !== dSize) {
            ok = false;
            sizeMiss = true;
          }
      }
      if (ok && needsSize && tSize !== dSize) {
        ok = false;
        sizeMiss = true;
      }
      if (ok) matches.push(t);
      else nearMisses.push(t);
    }
    if (matches.length === 1) {
      idMap[d] = matches[0]!;
    } else if (matches.length > 1) {
      problems.push({
        id: d, kind: dKind, name: dist.str(dNameOff), size: dSize, embedded: isEmb, reason: 'ambiguous', candidates: matches,
        detail: `ambiguous: ${matches.length} candidates of size ${dSize} in the target (ids ${matches.map((m) => `[${m}]`).join(', ')})`,
      });
    } else if (fwdRefused.length) {
      const t = fwdRefused[0]!;
      const tKind = target.kind(t);
      problems.push({
        id: d, kind: dKind, name: dist.str(dNameOff), size: dSize, embedded: isEmb, reason: 'fwd-kflag', candidates: fwdRefused,
        detail: `FWD -> ${kindName(tKind)} [${t}] ${target.kflag(t) ? 'with' : 'without'} bitfield encoding: the kernel's relocation refuses this`
          + ` (it reads the target's kind_flag ${target.kflag(t) ? 1 : 0} as ${target.kflag(t) ? 'a union' : 'a struct'}; modbtf reconcile maps it)`,
      });
    } else {
      problems.push(describeMiss(dist, target, d, dist.str(dNameOff), dKind, dSize, isEmb, nearMisses, sizeMiss));
    }
    if (matches.length) {
      const last = matches[matches.length - 1]!;
      const prev = strBest.get(dNameOff);
      if (prev === undefined || last > prev) strBest.set(dNameOff, last);
    }
  }
  const strMap = new Map<number, number>();
  for (const [dOff, t] of strBest) strMap.set(dOff, target.nameOff(t));
  return { idMap, strMap, problems };
}

function describeMiss(
  dist: Btf, target: Btf, d: number, name: string, dKind: number, dSize: number, isEmb: boolean,
  near: number[], sizeMiss: boolean,
): RelocationProblem {
  const base = { id: d, kind: dKind, name, size: dSize, embedded: isEmb, candidates: near };
  if (near.length === 0) {
    return { ...base, reason: 'missing', detail: 'missing in the target' };
  }
  const desc = (t: number): string => `${kindName(target.kind(t))} [${t}]${hasSize(target.kind(t)) ? ` size ${target.sizeOrType(t)}` : ''}`;
  if (sizeMiss) {
    const sizes = near.filter((t) => hasSize(target.kind(t)));
    return {
      ...base, reason: 'size',
      detail: `size differs${isEmb ? ' (embedded by value)' : ''}: ${dSize} here, ${sizes.map(desc).join(', ')} in the target`,
    };
  }
  if (dKind === Kind.INT && near.some((t) => target.kind(t) === Kind.INT)) {
    const t = near.find((x) => target.kind(x) === Kind.INT)!;
    return {
      ...base, reason: 'kind',
      detail: `encoding differs: ${encodingName(intEncoding(dist, d))} here, ${encodingName(intEncoding(target, t))} in the target [${t}]`,
    };
  }
  const flavour = dKind === Kind.FWD ? ` (fwd ${dist.kflag(d) ? 'union' : 'struct'})` : '';
  return { ...base, reason: 'kind', detail: `kind differs${flavour}: the target has ${near.map(desc).join(', ')}` };
}

function hasSize(kind: number): boolean {
  return kind === Kind.INT || kind === Kind.FLOAT || kind === Kind.ENUM || kind === Kind.ENUM64
    || kind === Kind.STRUCT || kind === Kind.UNION;
}

/** One line per problem: `'sock' [18] STRUCT size 776: size differs ...`. */
export function formatProblem(p: RelocationProblem): string {
  if (p.reason === 'fwd-kflag') return `'${p.name}' [${p.id}] ${p.detail}`;
  const size = p.kind === Kind.FWD ? '' : ` size ${p.size}`;
  return `'${p.name}' [${p.id}] ${kindName(p.kind)}${size}: ${p.detail}`;
}

export interface RelocateResult {
  /** Split BTF on `target`. */
  btf: Btf;
  /** Id in the split's id space -> id on the target. */
  idMap: Uint32Array;
}

/** Relocate `split` (on a distilled base) onto `target`; throws E_RELOCATE listing every problem. */
export function relocate(split: Btf, target: Btf): RelocateResult {
  const plan = planRelocation(split, target);
  if (plan.problems.length) {
    const lines = plan.problems.map(formatProblem);
    throw new ModbtfError('E_RELOCATE',
      `cannot map ${plan.problems.length} distilled base type${plan.problems.length > 1 ? 's' : ''} onto the target: ${lines.join('; ')}`,
      { ...split.where, section: split.base!.where.section ?? split.where.section });
  }
  return applyPlan(split, target, plan);
}

/** Rewrite the split's type ids and string offsets in a copy, per `plan`. */
export function applyPlan(split: Btf, target: Btf, plan: RelocationPlan): RelocateResult {
  const dist = split.base!;
  split.requireKnownKinds('renumber its type references');
  const le = split.littleEndian;
  const { idMap, strMap } = plan;
  // The output as toBytes() writes it, in one buffer: header, types, kind layout, strings. The
  // header length and any kind layout of the split stay (libbpf relocates in place).
  const lay = split.layout && split.layout.length ? split.layout : null;
  const hdrLen = lay ? Math.max(split.header.hdrLen, BTF_HEADER_LEN_LAYOUT) : split.header.hdrLen;
  const raw = serializeSections(split.types, split.strings, le, hdrLen, lay);
  const nWords = split.types.length >>> 2;
  // Rewritten as host-order words: in place when the output is in host order, else in a copy
  // written back in the output's order.
  const native = le === HOST_LE;
  const w = native ? new Uint32Array(raw.buffer, raw.byteOffset + hdrLen, nWords) : split.words(); // (a fresh copy: not host order)
  const offs = split.offsets;
  const distLen = dist.strEnd;
  const shift = target.strEnd - distLen;
  // Type id errors come before string errors (each the first in type order), as two passes would give them.
  let strErr = -1;
  const str = (p: number): void => {
    const v = w[p]!;
    if (v === 0) return;
    if (v >= distLen) {
      w[p] = v + shift;
    } else {
      const m = strMap.get(v);
      if (m === undefined || m === 0) {
        if (strErr < 0) strErr = v;
      } else {
        w[p] = m;
      }
    }
  };
  rewriteRecordWords(w, offs, idMap, str, (v) => idRangeError(split, v));
  if (strErr >= 0) {
    throw split.error('E_RELOCATE', `string '${dist.str(strErr)}' [offset ${strErr}] of the distilled base is not mapped to the target`);
  }
  if (!native) {
    const dv = new DataView(raw.buffer, raw.byteOffset + hdrLen, nWords * 4);
    for (let i = 0; i < nWords; i++) dv.setUint32(i * 4, w[i]!, le);
  }
  const btf = Btf.fromSerialized(raw, offs, le, target, split.where);
  return { btf, idMap };
}

function idRangeError(split: Btf, v: number): ModbtfError {
  return split.error('E_BTF_TYPE_ID', `type id ${v} is out of range`);
}
