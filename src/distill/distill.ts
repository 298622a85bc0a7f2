/**
 * Distill: from split BTF on a full vmlinux base, make a minimal base of the
 * named types the split refers to, and a new split BTF on top of it holding
 * the module's types plus copies of the anonymous and reference base types
 * it needs. Semantics and byte layout follow libbpf's btf__distill_base().
 */
import { Btf, rewriteRecordWords, serializeSections } from '../btf/btf.js';
import { BtfBuilder } from '../btf/builder.js';
import {
  HOST_LE, FIXED_WORDS, Kind, MEMBER_ID_WORD, MEMBER_WORDS, NO_FIELD, TYPE_IS_ID, headerLenLike, infoKind, infoVlen, kindName,
} from '../btf/kinds.js';
import { ModbtfError } from '../errors.js';

export interface DistillResult {
  /** The distilled (minimal) base. */
  base: Btf;
  /** The new split BTF, whose base is `base`. */
  split: Btf;
  /**
   * Old id -> new id for every id of the source (split and base); 0 for base
   * types the split does not need (and for void).
   */
  idMap: Uint32Array;
}

/** Kinds a split BTF may legitimately refer to in its base. */
function referenceable(kind: number): boolean {
  switch (kind) {
    case Kind.INT: case Kind.FLOAT: case Kind.FWD: case Kind.ARRAY: case Kind.STRUCT:
    case Kind.UNION: case Kind.TYPEDEF: case Kind.ENUM: case Kind.ENUM64: case Kind.PTR:
    case Kind.CONST: case Kind.RESTRICT: case Kind.VOLATILE: case Kind.FUNC_PROTO:
    case Kind.TYPE_TAG:
      return true;
    default:
      return false;
  }
}

/**
 * Mark (in `used`) every base type the split BTF needs, recursively; returns
 * their ids in ascending order.
 */
function collectBaseRefs(src: Btf, base: Btf, used: Uint8Array): Uint32Array {
  const splitStart = src.startId;
  const stack: number[] = [];
  const list: number[] = [];
  // One type-id field of type `id` of `from` holding `ref`.
  const see = (from: Btf, id: number, ref: number): void => {
    if (ref === 0 || ref >= splitStart || used[ref]) return;
    const kind = base.kind(ref);
    if (!referenceable(kind)) {
      throw new ModbtfError('E_DISTILL',
        `${kindName(from.kind(id))} [${id}] refers to base type [${ref}] ${kindName(kind)} '${base.name(ref)}', which split BTF must not refer to`,
        { ...src.where, typeId: id });
    }
    used[ref] = 1;
    list.push(ref);
    // A distilled named struct/union has no members: do not follow them.
    if ((kind === Kind.STRUCT || kind === Kind.UNION) && base.nameOff(ref) !== 0) return;
    stack.push(ref);
  };
  const visit = (from: Btf, id: number): void => {
    const w = from.words();
    const o = from.offsets[id - from.startId]! >>> 2;
    const info = w[o + 1]!;
    const kind = infoKind(info);
    if (TYPE_IS_ID[kind]) see(from, id, w[o + 2]!);
    else if (kind === Kind.ARRAY) {
      see(from, id, w[o + 3]!);
      see(from, id, w[o + 4]!);
    }
    const m = MEMBER_ID_WORD[kind]!;
    if (m !== NO_FIELD) {
      const vlen = infoVlen(info);
      const step = MEMBER_WORDS[kind]!;
      for (let j = 0, p = o + FIXED_WORDS[kind]! + m; j < vlen; j++, p += step) {
        const ref = w[p]!;
        if (ref !== 0 && ref < splitStart && !used[ref]) see(from, id, ref);
      }
    }
  };
  for (let id = splitStart; id < src.typeCount; id++) {
    visit(src, id);
    while (stack.length) {
      const b = stack.pop()!;
      visit(base.owner(b), b);
    }
  }
  return Uint32Array.from(list).sort();
}

/** A zeroed mark array as long as `base` has types, kept per base (cleared after each use). */
const scratch = new WeakMap<Btf, Uint8Array>();

/** Whether distilled base type `id` of kind `kind` goes to the distilled base (else to the split). */
export function goesToBase(kind: number, named: boolean): boolean {
  switch (kind) {
    case Kind.INT: case Kind.FLOAT: case Kind.FWD:
      return true;
    case Kind.STRUCT: case Kind.UNION: case Kind.ENUM: case Kind.ENUM64:
      return named;
    default:
      return false;
  }
}

export interface DistillOptions {
  /**
   * Base ids to put in the distilled base although the split BTF does not
   * refer to them (types `.BTF_ids` slots name), as if it did. Each must be a
   * type {@link goesToBase} accepts; with none, the output is libbpf's.
   */
  extraBase?: Iterable<number>;
}

export function distill(src: Btf, opts: DistillOptions = {}): DistillResult {
  const base = src.base;
  if (!base) {
    throw new ModbtfError('E_NOT_SPLIT', 'BTF is not split BTF (it has no base): nothing to distill', src.where);
  }
  src.requireKnownKinds('distill it');
  const splitStart = src.startId;
  const used = scratch.get(base) ?? new Uint8Array(splitStart);
  scratch.delete(base); // a nested call (none today) would get its own
  let needed: Uint32Array;
  try {
    needed = collectBaseRefs(src, base, used);
  } finally {
    used.fill(0);
  }
  scratch.set(base, used);
  if (opts.extraBase) {
    const extra = new Set<number>();
    for (const id of opts.extraBase) {
      if (id <= 0 || id >= splitStart || !goesToBase(base.kind(id), base.nameOff(id) !== 0)) {
        throw new ModbtfError('E_DISTILL', `base type [${id}] cannot be added to the distilled base`, { ...src.where, typeId: id });
      }
      extra.add(id);
    }
    for (let i = 0; i < needed.length; i++) extra.delete(needed[i]!);
    if (extra.size) needed = Uint32Array.from([...needed, ...extra]).sort();
  }

  const idMap = new Uint32Array(src.typeCount);
  const strCache = new Map<number, number>();
  const le = src.littleEndian;

  // 1. The distilled base: named INT/FLOAT/FWD whole, named composites and enums as shells.
  const bb = new BtfBuilder(null, le, needed.length * 64); // (room for each needed type and its name: no growing)
  for (let i = 0; i < needed.length; i++) {
    const id = needed[i]!;
    const kind = base.kind(id);
    const nameOff = base.nameOff(id);
    if (!goesToBase(kind, nameOff !== 0)) continue;
    let nid: number;
    if (kind === Kind.STRUCT || kind === Kind.UNION || kind === Kind.ENUM || kind === Kind.ENUM64) {
      nid = bb.addShellOf(base, id);
    } else {
      nid = bb.copyType(base.owner(id), id, strCache);
    }
    idMap[id] = nid;
  }
  // Headers as long as the source's: 24 bytes as libbpf <= 1.7 writes them, 32 as libbpf >= 1.8
  // (which writes 32 for all new BTF). No kind layout: libbpf's distill writes none.
  const hdrLen = headerLenLike(src.header.hdrLen);
  const newBase = bb.build(hdrLen);

  // 2. The new split's ids: the module's own types shifted down, then the other needed base
  // types appended in id order.
  const diff = splitStart - newBase.typeCount;
  for (let id = splitStart; id < src.typeCount; id++) idMap[id] = id - diff;
  const copies: number[] = [];
  let next = src.typeCount - diff;
  let copiedLen = 0;
  for (let i = 0; i < needed.length; i++) {
    const id = needed[i]!;
    if (goesToBase(base.kind(id), base.nameOff(id) !== 0)) continue;
    idMap[id] = next++;
    copies.push(id);
    copiedLen += base.owner(id).recordSize(id);
  }

  // 3. The new split, in one pass: the module's records, then copies of those base records,
  // their strings re-added in that order and their type ids renumbered through idMap.
  const out = buildSplit(src, newBase, copies, copiedLen, idMap, strCache, hdrLen);
  return { base: newBase, split: out, idMap };
}

function buildSplit(
  src: Btf, newBase: Btf, copies: readonly number[], copiedLen: number, idMap: Uint32Array,
  strCache: Map<number, number>, hdrLen: number,
): Btf {
  const base = src.base!;
  const le = src.littleEndian;
  const ownLen = src.types.length;
  const nOwn = src.offsets.length;
  // Types as host-order words, serialized (byte-swapped if need be) at the end.
  const nWords = (ownLen + copiedLen) >>> 2;
  if (wordsScratch.length < nWords) wordsScratch = new Uint32Array(Math.max(nWords, wordsScratch.length * 2));
  const w = wordsScratch; // every word up to nWords is written below
  w.set(src.words());
  const offsets = new Uint32Array(nOwn + copies.length);
  offsets.set(src.offsets);
  let at = ownLen >>> 2;
  for (let k = 0; k < copies.length; k++) {
    const id = copies[k]!;
    const owner = base.owner(id);
    const bw = owner.words();
    const o = owner.off(id) >>> 2;
    offsets[nOwn + k] = at * 4;
    const n = owner.recordSize(id) >>> 2;
    for (let j = 0; j < n; j++) w[at + j] = bw[o + j]!;
    at += n;
  }
  const sb = new BtfBuilder(newBase, le, src.strings.length * 2 + 1024);
  // src's own string offsets map through a typed array; base ones through strCache.
  const start = src.startStrOff;
  // (new offset + 1; 0: not yet mapped), in a buffer kept for the next module
  const ownLen0 = src.strings.length;
  let own = ownScratch;
  if (own.length < ownLen0) own = ownScratch = new Uint32Array(Math.max(ownLen0, own.length * 2));
  const str = (p: number): void => {
    const off = w[p]!;
    if (off === 0) return;
    let mapped: number;
    if (off >= start && off - start < ownLen0) {
      mapped = own[off - start]! - 1;
      if (mapped < 0) {
        mapped = sb.addStringFrom(src, off);
        own[off - start] = mapped + 1;
      }
    } else {
      const c = strCache.get(off);
      if (c === undefined) {
        mapped = sb.addStringFrom(src, off);
        strCache.set(off, mapped);
      } else {
        mapped = c;
      }
    }
    w[p] = mapped;
  };
  try {
    // (ids are in range: the module's BTF was validated, and copied base records refer to base ids)
    rewriteRecordWords(w, offsets, idMap, str, (v) => src.error('E_BTF_TYPE_ID', `type id ${v} is out of range`));
  } finally {
    own.fill(0, 0, ownLen0);
  }
  const strs = sb.stringsView();
  const typesLen = nWords * 4;
  const raw = serializeSections(EMPTY, EMPTY, le, hdrLen);
  const outBytes = new Uint8Array(hdrLen + typesLen + strs.length);
  outBytes.set(raw);
  const hdv = new DataView(outBytes.buffer);
  hdv.setUint32(12, typesLen, le);
  hdv.setUint32(16, typesLen, le);
  hdv.setUint32(20, strs.length, le);
  if (le === HOST_LE) {
    outBytes.set(new Uint8Array(w.buffer, w.byteOffset, typesLen), hdrLen);
  } else {
    for (let i = 0; i < nWords; i++) hdv.setUint32(hdrLen + i * 4, w[i]!, le);
  }
  outBytes.set(strs, hdrLen + typesLen);
  return Btf.fromSerialized(outBytes, offsets, le, newBase);
}

const EMPTY = new Uint8Array(0);
/** buildSplit's type words, reused from module to module. */
let wordsScratch = new Uint32Array(0);
/** buildSplit's own-string map, zero between uses. */
let ownScratch = new Uint32Array(0);
