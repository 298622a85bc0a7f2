/**
 * Read-only helpers over a Btf (base or split) for the CO-RE engine: record
 * fields by type id, modifier skipping, sizes, members, enum values.
 */
import type { Btf } from '../btf/btf.js';
import { Kind } from '../btf/kinds.js';

/** Byte offset of type `id`'s record in its owner's type section, and the owner. */
function at(btf: Btf, id: number): { b: Btf; o: number } {
  const b = btf.owner(id);
  return { b, o: b.off(id) };
}

export function kindOf(btf: Btf, id: number): number {
  return id === 0 ? Kind.UNKN : btf.kind(id);
}

export const isMod = (k: number): boolean => k === Kind.VOLATILE || k === Kind.CONST || k === Kind.RESTRICT || k === Kind.TYPE_TAG;
export const isComposite = (k: number): boolean => k === Kind.STRUCT || k === Kind.UNION;
export const isAnyEnum = (k: number): boolean => k === Kind.ENUM || k === Kind.ENUM64;

/** btf_kind_core_compat: same kind, or enum vs enum64. */
export function kindCoreCompat(k1: number, k2: number): boolean {
  return k1 === k2 || (isAnyEnum(k1) && isAnyEnum(k2));
}

/** The id reached after skipping const/volatile/restrict/type_tag and typedefs. */
export function skipModsAndTypedefs(btf: Btf, id: number): number {
  for (let guard = 0; guard < 1 << 20; guard++) {
    const k = kindOf(btf, id);
    if (!isMod(k) && k !== Kind.TYPEDEF) return id;
    id = btf.sizeOrType(id);
  }
  return id;
}

/** Member `i` of STRUCT/UNION `id`: name offset, type, raw offset word. */
export function member(btf: Btf, id: number, i: number): { nameOff: number; type: number; offset: number } {
  const { b, o } = at(btf, id);
  const p = o + 12 + i * 12;
  return { nameOff: b.u32(p), type: b.u32(p + 4), offset: b.u32(p + 8) };
}

export function memberBitOffset(btf: Btf, id: number, i: number): number {
  const off = member(btf, id, i).offset;
  return btf.kflag(id) ? off & 0xffffff : off;
}

export function memberBitfieldSize(btf: Btf, id: number, i: number): number {
  return btf.kflag(id) ? member(btf, id, i).offset >>> 24 : 0;
}

/** ARRAY `id`: element type, index type, element count. */
export function array(btf: Btf, id: number): { type: number; indexType: number; nelems: number } {
  const { b, o } = at(btf, id);
  return { type: b.u32(o + 12), indexType: b.u32(o + 16), nelems: b.u32(o + 20) };
}

/** FUNC_PROTO `id` parameter `i`: name offset and type. */
export function param(btf: Btf, id: number, i: number): { nameOff: number; type: number } {
  const { b, o } = at(btf, id);
  const p = o + 12 + i * 8;
  return { nameOff: b.u32(p), type: b.u32(p + 4) };
}

/** Name offset of enumerator `i` of ENUM/ENUM64 `id`. */
export function enumNameOff(btf: Btf, id: number, i: number): number {
  const { b, o } = at(btf, id);
  return b.u32(o + 12 + i * (btf.kind(id) === Kind.ENUM ? 8 : 12));
}

/**
 * Value of enumerator `i` as libbpf hands it out: an ENUM value is a signed
 * 32-bit number widened to u64; an ENUM64 value is hi32 << 32 | lo32.
 */
export function enumValue(btf: Btf, id: number, i: number): bigint {
  const { b, o } = at(btf, id);
  if (btf.kind(id) === Kind.ENUM) {
    const v = b.dv.getInt32(o + 12 + i * 8 + 4, b.littleEndian);
    return BigInt.asUintN(64, BigInt(v));
  }
  const p = o + 12 + i * 12;
  return (BigInt(b.u32(p + 8)) << 32n) | BigInt(b.u32(p + 4));
}

/** The u32 after an INT record: encoding << 24 | offset << 16 | bits. */
export function intData(btf: Btf, id: number): number {
  const { b, o } = at(btf, id);
  return b.u32(o + 12);
}
export const intEncoding = (btf: Btf, id: number): number => (intData(btf, id) >>> 24) & 0x0f;
export const intOffset = (btf: Btf, id: number): number => (intData(btf, id) >>> 16) & 0xff;

const LONG_ALIASES = new Set([
  'long', 'long int', 'int long', 'unsigned long', 'long unsigned', 'unsigned long int',
  'unsigned int long', 'long unsigned int', 'long int unsigned', 'int unsigned long', 'int long unsigned',
]);
const ptrSizes = new WeakMap<Btf, number>();

/** Pointer size a BTF assumes: the size of its `long` (libbpf's heuristic), else 8. */
export function ptrSize(btf: Btf): number {
  let sz = ptrSizes.get(btf);
  if (sz !== undefined) return sz;
  sz = -1;
  for (let id = 1; id < btf.typeCount && sz < 0; id++) {
    if (btf.kind(id) !== Kind.INT) continue;
    const s = btf.sizeOrType(id);
    if (s !== 4 && s !== 8) continue;
    if (LONG_ALIASES.has(btf.name(id))) sz = s;
  }
  if (sz < 0) sz = 8;
  ptrSizes.set(btf, sz);
  return sz;
}

/** btf__resolve_size: byte size of a type, or a negative errno-like code. */
export function resolveSize(btf: Btf, id: number): number {
  let nelems = 1;
  let size = -1;
  for (let i = 0; i < 32 && id !== 0; i++) {
    const k = btf.kind(id);
    switch (k) {
      case Kind.INT: case Kind.STRUCT: case Kind.UNION: case Kind.ENUM: case Kind.ENUM64:
      case Kind.DATASEC: case Kind.FLOAT:
        size = btf.sizeOrType(id);
        i = 32;
        break;
      case Kind.PTR:
        size = ptrSize(btf);
        i = 32;
        break;
      case Kind.TYPEDEF: case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT:
      case Kind.VAR: case Kind.DECL_TAG: case Kind.TYPE_TAG:
        id = btf.sizeOrType(id);
        break;
      case Kind.ARRAY: {
        const a = array(btf, id);
        if (nelems && a.nelems > Math.floor(0xffffffff / nelems)) return -7; // E2BIG
        nelems *= a.nelems;
        id = a.type;
        break;
      }
      default:
        return -22; // EINVAL
    }
  }
  if (size < 0) return -22;
  if (nelems && size > Math.floor(0xffffffff / nelems)) return -7;
  return nelems * size;
}

/** bpf_core_essential_name_len: length of `name` without a `___flavor` suffix. */
export function essentialNameLen(name: string): number {
  const n = name.length;
  for (let i = n - 5; i >= 0; i--) {
    if (name.charCodeAt(i) !== 95 && name.charCodeAt(i + 1) === 95 && name.charCodeAt(i + 2) === 95
      && name.charCodeAt(i + 3) === 95 && name.charCodeAt(i + 4) !== 95) return i + 1;
  }
  return n;
}

export const essentialName = (name: string): string => name.slice(0, essentialNameLen(name));
