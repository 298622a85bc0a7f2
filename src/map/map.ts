/**
 * Mapping BTF onto a kernel's BTF by type-graph equivalence, as BTF
 * deduplication decides it: same kind, name, size and layout, recursively
 * through members, elements, pointees and parameters, with cycles (through
 * pointers) handled by a hypothetical mapping that is confirmed as a whole or
 * dropped. Candidates come from hashes of each type's own shape (for
 * reference types, of the mapped ids they refer to), so a module maps in one
 * pass over its types. Forward declarations are resolved before the types
 * that refer to them are decided, and functions and declaration tags fold as
 * deduplication folds them, so a standalone module maps to what
 * `pahole -J --btf_base` gives.
 */
import { Btf } from '../btf/btf.js';
import { BtfBuilder } from '../btf/builder.js';
import { Kind, LAYOUT, headerLenLike, infoKind, infoVlen } from '../btf/kinds.js';
import { ModbtfError } from '../errors.js';

const UNMAPPED = -1;

function mix(h: number, v: number): number {
  h = Math.imul(h ^ (v & 0xff), 0x01000193);
  h = Math.imul(h ^ ((v >>> 8) & 0xff), 0x01000193);
  h = Math.imul(h ^ ((v >>> 16) & 0xff), 0x01000193);
  return Math.imul(h ^ (v >>> 24), 0x01000193);
}

function mixStr(h: number, btf: Btf, off: number): number {
  if (off === 0) return mix(h, 0);
  const b = btf.strBytes(off);
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return Math.imul(h ^ 0xff, 0x01000193);
}

/** What deduplication folds into the kernel's types besides the types themselves. */
interface Fold {
  /** FUNC records with the name, linkage and prototype of a kernel FUNC. */
  funcs: boolean;
  /** DECL_TAG records with the name, component and target of a kernel DECL_TAG. */
  declTags: boolean;
}

/**
 * Kinds that belong to the module and are never mapped onto the kernel:
 * variables and sections (deduplication never folds them), and functions and
 * declaration tags unless `fold` says they fold.
 */
function ownKind(kind: number, fold: Fold): boolean {
  if (kind === Kind.VAR || kind === Kind.DATASEC) return true;
  if (kind === Kind.FUNC) return !fold.funcs;
  if (kind === Kind.DECL_TAG) return !fold.declTags;
  return false;
}

/** Kinds whose identity does not go through their referenced types' identities (composites, leaves). */
function shapeKind(kind: number): boolean {
  return kind === Kind.STRUCT || kind === Kind.UNION || kind === Kind.INT || kind === Kind.FLOAT
    || kind === Kind.ENUM || kind === Kind.ENUM64 || kind === Kind.FWD;
}

/**
 * Hash of a type's shape. Composites hash member names and offsets (not
 * member types: those may loop back); reference types hash the ids they refer
 * to, through `ref` (UNMAPPED makes the type unmappable: returns null).
 */
function shapeHash(btf: Btf, id: number, ref: (id: number) => number): number | null {
  const owner = btf.owner(id);
  const o = owner.off(id);
  const info = owner.u32(o + 4);
  const kind = infoKind(info);
  const vlen = infoVlen(info);
  const l = LAYOUT[kind];
  // A kind modbtf does not know (kernel BTF in the 2026 format) is equivalent to nothing.
  if (!l) return null;
  let h = mix(0x811c9dc5, info);
  h = mixStr(h, owner, owner.u32(o));
  if (l.typeIsId) {
    const r = ref(owner.u32(o + 8));
    if (r === UNMAPPED) return null;
    h = mix(h, r);
  } else {
    h = mix(h, owner.u32(o + 8));
  }
  switch (kind) {
    case Kind.INT: case Kind.DECL_TAG:
      return mix(h, owner.u32(o + 12));
    case Kind.ARRAY: {
      const e = ref(owner.u32(o + 12));
      const x = ref(owner.u32(o + 16));
      if (e === UNMAPPED || x === UNMAPPED) return null;
      return mix(mix(mix(h, e), x), owner.u32(o + 20));
    }
    case Kind.STRUCT: case Kind.UNION:
      for (let i = 0, p = o + 12; i < vlen; i++, p += 12) h = mix(mixStr(h, owner, owner.u32(p)), owner.u32(p + 8));
      return h;
    case Kind.ENUM:
      for (let i = 0, p = o + 12; i < vlen; i++, p += 8) h = mix(mixStr(h, owner, owner.u32(p)), owner.u32(p + 4));
      return h;
    case Kind.ENUM64:
      for (let i = 0, p = o + 12; i < vlen; i++, p += 12) h = mix(mix(mixStr(h, owner, owner.u32(p)), owner.u32(p + 4)), owner.u32(p + 8));
      return h;
    case Kind.FUNC_PROTO:
      for (let i = 0, p = o + 12; i < vlen; i++, p += 8) {
        const r = ref(owner.u32(p + 4));
        if (r === UNMAPPED) return null;
        h = mix(mixStr(h, owner, owner.u32(p)), r);
      }
      return h;
    default:
      return h;
  }
}

interface BaseIndex {
  byShape: Map<number, number[]>;
}
const baseIndexCache = new WeakMap<Btf, BaseIndex>();

/** Shape index of a base BTF (ids refer to themselves), built once per Btf. */
export function baseShapeIndex(base: Btf): BaseIndex {
  let idx = baseIndexCache.get(base);
  if (idx) return idx;
  const byShape = new Map<number, number[]>();
  const self = (id: number): number => id;
  for (let id = 1; id < base.typeCount; id++) {
    const h = shapeHash(base, id, self);
    if (h === null) continue;
    const list = byShape.get(h);
    if (list) list.push(id);
    else byShape.set(h, [id]);
  }
  idx = { byShape };
  baseIndexCache.set(base, idx);
  return idx;
}

function sameStr(a: Btf, ao: number, b: Btf, bo: number): boolean {
  if (ao === 0 || bo === 0) return ao === bo;
  const x = a.strBytes(ao);
  const y = b.strBytes(bo);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * Two types of the same BTF with identical records: duplicates its own
 * deduplication left (vmlinux has some), which stand for the same type.
 */
function identical(btf: Btf, x: number, y: number): boolean {
  if (x === 0 || y === 0) return x === y;
  const ox = btf.owner(x);
  const oy = btf.owner(y);
  const a = ox.record(x);
  const b = oy.record(y);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether type `s` of `src` and type `t` of `dst` are equivalent, given the
 * mappings already made. On success the pairs assumed on the way are added to
 * `mapped` (they are all equivalent); on failure nothing changes.
 */
function equivalent(src: Btf, dst: Btf, s: number, t: number, mapped: Int32Array, owners: Int32Array, fold: Fold): boolean {
  const hypot = new Map<number, number>();
  /** Target id -> source id assumed onto it in this hypothesis (one each, forward declarations aside). */
  const hypotOwner = new Map<number, number>();
  const stack: number[] = [s, t];
  while (stack.length) {
    const b = stack.pop()!;
    const a = stack.pop()!;
    if (a === 0 || b === 0) {
      if (a !== b) return false;
      continue;
    }
    const known = mapped[a]!;
    if (known > 0) {
      if (known !== b && !identical(dst, known, b)) return false;
      continue;
    }
    const h = hypot.get(a);
    if (h !== undefined) {
      if (h !== b && !identical(dst, h, b)) return false;
      continue;
    }
    const ak = src.kind(a);
    const bk = dst.kind(b);
    if (!sameStr(src.owner(a), src.nameOff(a), dst.owner(b), dst.nameOff(b))) return false;
    if (ak === Kind.FWD && (bk === Kind.STRUCT || bk === Kind.UNION)) {
      // A forward declaration is the struct/union of that name and flavour.
      if (src.kflag(a) !== (bk === Kind.UNION)) return false;
      hypot.set(a, b);
      continue;
    }
    if ((ak === Kind.ENUM || ak === Kind.ENUM64) && (bk === Kind.ENUM || bk === Kind.ENUM64) && (src.vlen(a) === 0 || dst.vlen(b) === 0)) {
      // An enum declared without values is any enum or enum64 of that name, whatever its size. A
      // module's forward declaration becomes the kernel's enum; a module's full enum stays its own.
      if (src.vlen(a) === 0) hypot.set(a, b);
      continue;
    }
    if (ak !== bk || src.info(a) !== dst.info(b)) return false;
    // A kernel type stands for one module type: a second, identical module type stays in the
    // module, as pahole's own deduplication leaves such copies.
    const owner = owners[b]!;
    if (owner !== 0 && owner - 1 !== a) return false;
    const hOwner = hypotOwner.get(b);
    if (hOwner !== undefined && hOwner !== a) return false;
    hypotOwner.set(b, a);
    if (ownKind(ak, fold)) return false;
    const so = src.owner(a);
    const to = dst.owner(b);
    const sp = so.off(a);
    const tp = to.off(b);
    const l = LAYOUT[ak]!;
    if (l.typeIsId) stack.push(so.u32(sp + 8), to.u32(tp + 8));
    else if (so.u32(sp + 8) !== to.u32(tp + 8)) return false;
    switch (ak) {
      case Kind.INT: case Kind.DECL_TAG:
        if (so.u32(sp + 12) !== to.u32(tp + 12)) return false;
        break;
      case Kind.ARRAY:
        if (so.u32(sp + 20) !== to.u32(tp + 20)) return false;
        stack.push(so.u32(sp + 12), to.u32(tp + 12), so.u32(sp + 16), to.u32(tp + 16));
        break;
      default: {
        const vlen = src.vlen(a);
        const step = l.member;
        for (let i = 0; i < vlen; i++) {
          const x = sp + 12 + l.extra + i * step;
          const y = tp + 12 + l.extra + i * step;
          for (let f = 0; f < step; f += 4) {
            const isStr = l.memberStrs.includes(f);
            const isId = l.memberIds.includes(f);
            if (isStr) {
              if (!sameStr(so, so.u32(x + f), to, to.u32(y + f))) return false;
            } else if (isId) {
              stack.push(so.u32(x + f), to.u32(y + f));
            } else if (so.u32(x + f) !== to.u32(y + f)) {
              return false;
            }
          }
        }
      }
    }
    hypot.set(a, b);
  }
  for (const [a, b] of hypot) {
    mapped[a] = b;
    if (hypotOwner.get(b) === a) owners[b] = a + 1;
  }
  return true;
}

export interface MapResult {
  /** Split BTF on `base`: the types that had no equivalent there. */
  split: Btf;
  /** Standalone id -> id in the split-on-base numbering (base ids for mapped types). */
  idMap: Uint32Array;
  /** Types mapped onto the base, and types kept. */
  mapped: number;
  kept: number;
  /** Module FUNC records folded into the kernel's FUNC of the same name, linkage and prototype. */
  funcsFolded: number;
  /** Module FUNC records that have such a kernel FUNC but were kept (`keepModuleFuncs`). */
  funcsKept: number;
}

export interface MapOptions {
  /**
   * Keep the module's FUNC records even where the kernel has a FUNC of the
   * same name, linkage and prototype (deduplication folds those into the
   * kernel's): the module's functions keep ids of their own in its BTF.
   */
  keepModuleFuncs?: boolean;
}

/**
 * Map standalone BTF onto `base`; the types with no equivalent there stay,
 * renumbered. What is folded is what `pahole -J --btf_base` folds.
 */
export function mapOntoBase(standalone: Btf, base: Btf, opts: MapOptions = {}): MapResult {
  if (standalone.base) throw standalone.error('E_MAP', 'BTF is already split BTF: nothing to map');
  const keep = opts.keepModuleFuncs === true;
  return mapTypes(standalone, base, standalone.startId, standalone.typeCount, { funcs: !keep, declTags: true }, keep);
}

/** Whether module FUNC `id` has kernel FUNC `t` as its equivalent, its prototype being decided. */
function funcMatches(src: Btf, base: Btf, id: number, t: number, mapped: Int32Array, owners: Int32Array): boolean {
  if (base.kind(t) !== Kind.FUNC || src.info(id) !== base.info(t) || owners[t] !== 0) return false;
  if (!sameStr(src.owner(id), src.nameOff(id), base.owner(t), base.nameOff(t))) return false;
  const p = mapped[src.sizeOrType(id)]!;
  const q = base.sizeOrType(t);
  return p > 0 && (p === q || identical(base, p, q));
}

/** Struct/union ids among types `from`..`to` of `src`, by name. */
function definedNames(src: Btf, from: number, to: number): Map<string, number[]> {
  const names = new Map<string, number[]>();
  for (let id = from; id < to; id++) {
    const k = src.kind(id);
    if ((k !== Kind.STRUCT && k !== Kind.UNION) || src.nameOff(id) === 0) continue;
    const n = src.name(id);
    const l = names.get(n);
    if (l) l.push(id);
    else names.set(n, [id]);
  }
  return names;
}

function mapTypes(src: Btf, base: Btf, from: number, to: number, fold: Fold, countKeptFuncs = false): MapResult {
  src.requireKnownKinds('map it');
  const index = baseShapeIndex(base);
  const n = src.typeCount;
  const mapped = new Int32Array(n); // 0 undecided, >0 base id, UNMAPPED kept
  const owners = new Int32Array(base.typeCount); // base id -> source id + 1 mapped onto it
  // Types below `from` are the base's own (dedup after reconcile): they map to themselves.
  for (let id = 1; id < from; id++) mapped[id] = id;
  const ref = (id: number): number => (id === 0 ? 0 : mapped[id]! > 0 ? mapped[id]! : UNMAPPED);
  let defined: Map<string, number[]> | null = null;
  let funcsFolded = 0;
  let funcsKept = 0;
  /**
   * A forward declaration no kernel forward declaration stands for: the one
   * struct/union of that name (of either kind) among the kernel's and the
   * module's own that stay in the module, if it is the kernel's and its kind
   * agrees; an enum declared without values: the last kernel enum or enum64 of
   * that name, of any size (the first deduplication finds among its candidates).
   */
  function resolveFwd(id: number, kind: number): number {
    if (src.nameOff(id) === 0) return 0;
    const name = src.name(id);
    if (kind === Kind.FWD) {
      defined ??= definedNames(src, from, to);
      for (const own of defined.get(name) ?? []) {
        // Structs are decided before forward declarations are resolved, as deduplication orders it.
        decide(own);
        if (mapped[own]! <= 0) return 0;
      }
      const hits = namedInBase(base, name).filter((t) => base.kind(t) === Kind.STRUCT || base.kind(t) === Kind.UNION);
      if (hits.length !== 1) return 0;
      return base.kind(hits[0]!) === (src.kflag(id) ? Kind.UNION : Kind.STRUCT) ? hits[0]! : 0;
    }
    const hits = namedInBase(base, name).filter((t) => base.kind(t) === Kind.ENUM || base.kind(t) === Kind.ENUM64);
    return hits.length > 0 ? hits[hits.length - 1]! : 0;
  }
  const state = new Uint8Array(n);
  const stack: number[] = [];
  function decide(id: number): void {
    if (mapped[id] !== 0) return;
    const kind = src.kind(id);
    if (ownKind(kind, fold)) {
      mapped[id] = UNMAPPED;
      if (kind === Kind.FUNC && countKeptFuncs) {
        const h = shapeHash(src, id, ref);
        if (h !== null && (index.byShape.get(h) ?? []).some((t) => funcMatches(src, base, id, t, mapped, owners))) funcsKept++;
      }
      return;
    }
    const enumFwd = (kind === Kind.ENUM || kind === Kind.ENUM64) && src.vlen(id) === 0;
    const h = enumFwd ? null : shapeHash(src, id, ref);
    if (h !== null) {
      for (const t of index.byShape.get(h) ?? []) {
        if (equivalent(src, base, id, t, mapped, owners, fold)) break;
      }
    }
    if (mapped[id] === 0 && (kind === Kind.FWD || enumFwd)) {
      // Resolved before any reference to it is decided, so those are the kernel's references.
      const t = resolveFwd(id, kind);
      if (t && mapped[id] === 0) mapped[id] = t;
    }
    if (mapped[id] === 0) mapped[id] = UNMAPPED;
    else if (kind === Kind.FUNC) funcsFolded++;
  }
  // Post-order over reference edges, so a reference type's targets are decided first.
  for (let root = from; root < to; root++) {
    if (state[root]) continue;
    stack.push(root);
    while (stack.length) {
      const id = stack[stack.length - 1]!;
      if (state[id] === 0) {
        state[id] = 1;
        if (!shapeKind(src.kind(id))) {
          src.owner(id).forEachIdField(id, (p) => {
            const r = src.owner(id).u32(p);
            if (r >= from && r < n && state[r] === 0) stack.push(r);
          });
        }
        continue;
      }
      stack.pop();
      if (state[id] === 1) {
        state[id] = 2;
        decide(id);
      }
    }
  }

  // Keep the unmapped types in order, renumbered after the base.
  const idMap = new Uint32Array(n);
  const b = new BtfBuilder(base, src.littleEndian, src.types.length);
  const strCache = new Map<number, number>();
  let kept = 0;
  for (let id = from; id < to; id++) {
    if (mapped[id]! > 0) idMap[id] = mapped[id]!;
    else idMap[id] = base.typeCount + kept++;
  }
  for (let id = 1; id < from; id++) idMap[id] = id;
  if (!src.base) seedStrings(src, b, strCache, (id) => mapped[id]! <= 0);
  for (let id = from; id < to; id++) if (mapped[id]! <= 0) b.copyType(src.owner(id), id, strCache);
  const out = b.build(headerLenLike(src.header.hdrLen));
  const pos = out.idFieldPositions();
  for (let i = 0; i < pos.length; i++) {
    const p = pos[i]!;
    const v = out.u32(p);
    if (v >= n) throw src.error('E_MAP', `type id ${v} is out of range`);
    out.dv.setUint32(p, idMap[v]!, out.littleEndian);
  }
  return { split: out, idMap, mapped: to - from - kept, kept, funcsFolded, funcsKept };
}

/**
 * Add the strings the kept types of standalone `src` name to `b` in the order
 * of `src`'s own string section. Deduplication lays strings out in the order
 * the encoder first used them, and that order is the same with or without a
 * base; the strings the kernel has become its offsets.
 */
function seedStrings(src: Btf, b: BtfBuilder, strCache: Map<number, number>, kept: (id: number) => boolean): void {
  const strs = src.strings;
  const used = new Uint8Array(strs.length);
  for (let id = 1; id < src.typeCount; id++) {
    if (!kept(id)) continue;
    src.forEachStrField(id, (p) => {
      const off = src.u32(p);
      if (off > 0 && off < used.length) used[off] = 1;
    });
  }
  let start = 0;
  for (let i = 0; i < strs.length; i++) {
    if (strs[i] !== 0) continue;
    if (used[start]) strCache.set(start, b.addStringBytes(strs, start, i));
    start = i + 1;
  }
}

const nameCache = new WeakMap<Btf, Map<string, number[]>>();
/** Named struct/union/enum/enum64 ids of `base` by name (built once per base). */
function namedInBase(base: Btf, name: string): number[] {
  let m = nameCache.get(base);
  if (!m) {
    m = new Map();
    for (let id = 1; id < base.typeCount; id++) {
      const k = base.kind(id);
      if ((k !== Kind.STRUCT && k !== Kind.UNION && k !== Kind.ENUM && k !== Kind.ENUM64) || base.nameOff(id) === 0) continue;
      const n = base.name(id);
      const l = m.get(n);
      if (l) l.push(id);
      else m.set(n, [id]);
    }
    nameCache.set(base, m);
  }
  return m.get(name) ?? [];
}

export interface DedupResult {
  btf: Btf;
  idMap: Uint32Array;
  folded: number;
  bytesSaved: number;
}

/**
 * Fold split types equivalent to types of their (full kernel) base into
 * references to the base: after reconcile, the copies distill pulled into
 * the split become base references again.
 */
export function dedupAgainstBase(split: Btf): DedupResult {
  const base = split.base;
  if (!base) throw split.error('E_MAP', 'BTF has no base to deduplicate against');
  const before = split.toBytes().length;
  const r = mapTypes(split, base, split.startId, split.typeCount, { funcs: false, declTags: false });
  const after = r.split.toBytes().length;
  return { btf: r.split, idMap: r.idMap, folded: r.mapped, bytesSaved: before - after };
}

/**
 * Split BTF plus every base type it reaches (transitively, full types) as one
 * standalone BTF: reached base types first in base-id order, then the split's
 * types. What `pahole -J` without a base makes of a module, near enough.
 */
export function toStandalone(split: Btf): Btf {
  const base = split.base;
  if (!base) throw new ModbtfError('E_MAP', 'BTF is not split BTF');
  const reach = new Uint8Array(split.startId);
  const stack: number[] = [];
  const visit = (from: Btf, id: number): void => {
    from.forEachIdField(id, (p) => {
      const r = from.u32(p);
      if (r !== 0 && r < split.startId && !reach[r]) {
        reach[r] = 1;
        stack.push(r);
      }
    });
  };
  for (let id = split.startId; id < split.typeCount; id++) visit(split, id);
  while (stack.length) {
    const id = stack.pop()!;
    visit(base.owner(id), id);
  }
  const idMap = new Uint32Array(split.typeCount);
  let next = 1;
  for (let id = 1; id < split.startId; id++) if (reach[id]) idMap[id] = next++;
  for (let id = split.startId; id < split.typeCount; id++) idMap[id] = next++;
  const b = new BtfBuilder(null, split.littleEndian, split.types.length * 4);
  const cache = new Map<number, number>();
  for (let id = 1; id < split.startId; id++) if (reach[id]) b.copyType(base.owner(id), id, cache);
  for (let id = split.startId; id < split.typeCount; id++) b.copyType(split, id, cache);
  const out = b.build();
  const pos = out.idFieldPositions();
  for (let i = 0; i < pos.length; i++) {
    const p = pos[i]!;
    out.dv.setUint32(p, idMap[out.u32(p)]!, out.littleEndian);
  }
  return out;
}
