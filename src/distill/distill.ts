/**
 * Distill: from split BTF on a full vmlinux base, make a minimal base of the
 * named types the split refers to, and a new split BTF on top of it holding
 * the module's types plus copies of the anonymous and reference base types
 * it needs. Semantics and byte layout follow libbpf's btf__distill_base().
 */
import { Btf } from '../btf/btf.js';
import { BtfBuilder } from '../btf/builder.js';
import { Kind, headerLenLike, kindName } from '../btf/kinds.js';
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
  const visit = (from: Btf, id: number): void => {
    from.forEachIdField(id, (pos) => {
      const ref = from.u32(pos);
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
    });
  };
  for (let id = splitStart; id < src.typeCount; id++) {
    visit(src, id);
    while (stack.length) visit(base, stack.pop()!);
  }
  return Uint32Array.from(list).sort();
}

/** A zeroed mark array as long as `base` has types, kept per base (cleared after each use). */
const scratch = new WeakMap<Btf, Uint8Array>();

/** Whether distilled base type `id` of kind `kind` goes to the distilled base (else to the split). */
function goesToBase(kind: number, named: boolean): boolean {
  switch (kind) {
    case Kind.INT: case Kind.FLOAT: case Kind.FWD:
      return true;
    case Kind.STRUCT: case Kind.UNION: case Kind.ENUM: case Kind.ENUM64:
      return named;
    default:
      return false;
  }
}

export function distill(src: Btf): DistillResult {
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

  const idMap = new Uint32Array(src.typeCount);
  const strCache = new Map<number, number>();

  // 1. The distilled base: named INT/FLOAT/FWD whole, named composites and enums as shells.
  const bb = new BtfBuilder(null, src.littleEndian);
  for (const id of needed) {
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

  // 2. The new split: the module's own types, then the other needed base types.
  const sb = new BtfBuilder(newBase, src.littleEndian, src.types.length + 1024);
  sb.copyOwnTypes(src, strCache);
  const baseOwner = base;
  for (const id of needed) {
    const kind = base.kind(id);
    if (goesToBase(kind, base.nameOff(id) !== 0)) continue;
    idMap[id] = sb.copyType(baseOwner.owner(id), id, strCache);
  }

  // 3. Renumber: base refs through idMap, split ids shifted down.
  const diff = splitStart - newBase.typeCount;
  for (let id = splitStart; id < src.typeCount; id++) idMap[id] = id - diff;
  const out = sb.build(hdrLen);
  const dv = out.dv;
  const le = out.littleEndian;
  const positions = out.idFieldPositions();
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i]!;
    const v = dv.getUint32(p, le);
    if (v !== 0) dv.setUint32(p, idMap[v]!, le);
  }
  return { base: newBase, split: out, idMap };
}
