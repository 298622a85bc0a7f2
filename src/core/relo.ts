/**
 * The CO-RE relocation engine, after libbpf's relo_core.c semantics: parse a
 * relocation's access string into a local spec, find candidate target types
 * by essential name and compatible kind, match the spec against each
 * candidate (through anonymous members, checking field compatibility and
 * array bounds), compute the value each candidate gives and require them to
 * agree. A relocation with no matching candidate is not an error: existence
 * checks give 0, other kinds poison the instruction.
 */
import type { Btf } from '../btf/btf.js';
import { BTF_MAX_KIND, Kind, kindName } from '../btf/kinds.js';
import { hashBytes } from '../btf/strindex.js';
import { CoreReloKind, coreReloKindName, type BpfObject, type CoreRelo } from '../bpfobj/object.js';
import {
  array, enumNameOff, enumValue, essentialNameLen, intEncoding, intOffset, isAnyEnum, isComposite,
  kindCoreCompat, kindOf, member, memberBitOffset, memberBitfieldSize, resolveSize, skipModsAndTypedefs,
} from './types.js';

const SPEC_MAX_LEN = 64;
const INT_SIGNED = 1;

/** A relocation that libbpf refuses (the object would not load): errno name and message. */
export class CoreError extends Error {
  constructor(readonly errno: 'EINVAL' | 'E2BIG' | 'EOPNOTSUPP' | 'ENOENT', message: string) {
    super(message);
    this.name = 'CoreError';
  }
}

export interface CoreAccessor {
  typeId: number;
  idx: number;
  /** Field or enumerator name; null for an array index. */
  name: string | null;
}

/** A high-level + low-level (raw) spec of a relocation against one BTF. */
export interface CoreSpec {
  btf: Btf;
  rootTypeId: number;
  kind: number;
  spec: CoreAccessor[];
  raw: number[];
  bitOffset: number;
}

const isFieldBased = (k: number): boolean => k <= CoreReloKind.FIELD_RSHIFT_U64;
const isTypeBased = (k: number): boolean =>
  k === CoreReloKind.TYPE_ID_LOCAL || k === CoreReloKind.TYPE_ID_TARGET || k === CoreReloKind.TYPE_EXISTS
  || k === CoreReloKind.TYPE_MATCHES || k === CoreReloKind.TYPE_SIZE;
const isEnumvalBased = (k: number): boolean => k === CoreReloKind.ENUMVAL_EXISTS || k === CoreReloKind.ENUMVAL_VALUE;

function emptySpec(btf: Btf, rootTypeId: number, kind: number): CoreSpec {
  return { btf, rootTypeId, kind, spec: [], raw: [], bitOffset: 0 };
}

function sizeOrFail(btf: Btf, id: number): number {
  const sz = resolveSize(btf, id);
  if (sz < 0) throw new CoreError(sz === -7 ? 'E2BIG' : 'EINVAL', `cannot size type [${id}] ${kindName(kindOf(btf, id))}`);
  return sz;
}

function isFlexArr(btf: Btf, acc: CoreAccessor | undefined, nelems: number): boolean {
  if (!acc || !acc.name || nelems > 0) return false;
  return acc.idx === btf.vlen(acc.typeId) - 1;
}

/** bpf_core_parse_spec: the local spec of a relocation. */
export function parseSpec(btf: Btf, relo: CoreRelo): CoreSpec {
  const specStr = relo.accessStr;
  const bad = (why: string): never => {
    throw new CoreError('EINVAL', `invalid access string "${specStr}" for [${relo.typeId}]: ${why}`);
  };
  if (!btf.hasType(relo.typeId) || relo.typeId === 0) throw new CoreError('EINVAL', `relocation refers to type id ${relo.typeId}, out of range`);
  if (specStr === '' || specStr.startsWith(':')) bad('empty');
  const spec = emptySpec(btf, relo.typeId, relo.kind);
  if (isTypeBased(relo.kind)) {
    if (specStr !== '0') bad('a type relocation takes "0"');
    return spec;
  }
  // "0:1:2:3" -> [0, 1, 2, 3], as sscanf("%d") reads it (optional sign, digits; a ':' between)
  let s = specStr;
  while (s.length) {
    if (s[0] === ':') s = s.slice(1);
    const m = /^\s*[+-]?\d+/.exec(s);
    if (!m) bad('not a list of numbers');
    if (spec.raw.length === SPEC_MAX_LEN) throw new CoreError('E2BIG', `access string "${specStr}" is longer than ${SPEC_MAX_LEN}`);
    spec.raw.push(Number.parseInt(m![0], 10) | 0);
    s = s.slice(m![0].length);
  }
  if (spec.raw.length === 0) bad('empty');
  let id = skipModsAndTypedefs(btf, relo.typeId);
  let accessIdx = spec.raw[0]!;
  spec.spec.push({ typeId: id, idx: accessIdx, name: null });
  if (isEnumvalBased(relo.kind)) {
    const k = kindOf(btf, id);
    if (!isAnyEnum(k) || spec.raw.length > 1 || accessIdx < 0 || accessIdx >= btf.vlen(id)) bad('not an enumerator of an enum');
    spec.spec[0]!.name = btf.str(enumNameOff(btf, id, accessIdx));
    return spec;
  }
  if (!isFieldBased(relo.kind)) throw new CoreError('EINVAL', `unknown relocation kind ${relo.kind}`);
  let sz = sizeOrFail(btf, id);
  spec.bitOffset = accessIdx * sz * 8;
  for (let i = 1; i < spec.raw.length; i++) {
    id = skipModsAndTypedefs(btf, id);
    const k = kindOf(btf, id);
    accessIdx = spec.raw[i]!;
    if (isComposite(k)) {
      if (accessIdx < 0 || accessIdx >= btf.vlen(id)) bad(`member index ${accessIdx} out of range of [${id}]`);
      spec.bitOffset += memberBitOffset(btf, id, accessIdx);
      const m = member(btf, id, accessIdx);
      if (m.nameOff) {
        const name = btf.str(m.nameOff);
        if (name === '') bad('empty member name');
        spec.spec.push({ typeId: id, idx: accessIdx, name });
      }
      id = m.type;
    } else if (k === Kind.ARRAY) {
      const a = array(btf, id);
      id = skipModsAndTypedefs(btf, a.type);
      const flex = isFlexArr(btf, spec.spec[spec.spec.length - 1], a.nelems);
      if (!flex && (accessIdx < 0 || accessIdx >= a.nelems)) bad(`array index ${accessIdx} out of bounds`);
      spec.spec.push({ typeId: id, idx: accessIdx, name: null });
      sz = sizeOrFail(btf, id);
      spec.bitOffset += accessIdx * sz * 8;
    } else {
      bad(`captures type [${id}] of unexpected kind ${kindName(k)} at index ${i}`);
    }
  }
  return spec;
}

function namesEssentialEqual(a: string, b: string): boolean {
  const la = essentialNameLen(a);
  return la === essentialNameLen(b) && a.slice(0, la) === b.slice(0, la);
}

/** __bpf_core_types_are_compat */
export function typesAreCompat(lb: Btf, lid: number, tb: Btf, tid: number, level = 32): number {
  if (!kindCoreCompat(kindOf(lb, lid), kindOf(tb, tid))) return 0;
  for (let depth = 32; ; ) {
    if (--depth < 0) return -1;
    lid = skipModsAndTypedefs(lb, lid);
    tid = skipModsAndTypedefs(tb, tid);
    const lk = kindOf(lb, lid);
    const tk = kindOf(tb, tid);
    if (!kindCoreCompat(lk, tk)) return 0;
    switch (lk) {
      case Kind.UNKN: case Kind.STRUCT: case Kind.UNION: case Kind.ENUM: case Kind.FWD: case Kind.ENUM64:
        return 1;
      case Kind.INT:
        return intOffset(lb, lid) === 0 && intOffset(tb, tid) === 0 ? 1 : 0;
      case Kind.PTR:
        lid = lb.sizeOrType(lid);
        tid = tb.sizeOrType(tid);
        continue;
      case Kind.ARRAY:
        lid = array(lb, lid).type;
        tid = array(tb, tid).type;
        continue;
      case Kind.FUNC_PROTO: {
        const n = lb.vlen(lid);
        if (n !== tb.vlen(tid)) return 0;
        for (let i = 0; i < n; i++) {
          if (level <= 0) return -1;
          const r = typesAreCompat(lb, skipModsAndTypedefs(lb, paramType(lb, lid, i)), tb, skipModsAndTypedefs(tb, paramType(tb, tid, i)), level - 1);
          if (r <= 0) return r;
        }
        lid = skipModsAndTypedefs(lb, lb.sizeOrType(lid));
        tid = skipModsAndTypedefs(tb, tb.sizeOrType(tid));
        continue;
      }
      default:
        return 0;
    }
  }
}

function paramType(btf: Btf, id: number, i: number): number {
  const b = btf.owner(id);
  return b.u32(b.off(id) + 12 + i * 8 + 4);
}

function coreNamesMatch(lb: Btf, lOff: number, tb: Btf, tOff: number): boolean {
  const ln = lb.str(lOff);
  const tn = tb.str(tOff);
  if (tn === '') return ln === '';
  return namesEssentialEqual(ln, tn);
}

function enumsMatch(lb: Btf, lid: number, tb: Btf, tid: number): number {
  if (lb.sizeOrType(lid) !== tb.sizeOrType(tid)) return 0;
  const ln = lb.vlen(lid);
  const tn = tb.vlen(tid);
  if (ln > tn) return 0;
  for (let i = 0; i < ln; i++) {
    const lo = enumNameOff(lb, lid, i);
    let ok = false;
    for (let j = 0; j < tn && !ok; j++) ok = coreNamesMatch(lb, lo, tb, enumNameOff(tb, tid, j));
    if (!ok) return 0;
  }
  return 1;
}

function compositesMatch(lb: Btf, lid: number, tb: Btf, tid: number, behindPtr: boolean, level: number): number {
  const ln = lb.vlen(lid);
  const tn = tb.vlen(tid);
  if (ln > tn) return 0;
  for (let i = 0; i < ln; i++) {
    const lm = member(lb, lid, i);
    let ok = false;
    for (let j = 0; j < tn; j++) {
      const tm = member(tb, tid, j);
      if (!coreNamesMatch(lb, lm.nameOff, tb, tm.nameOff)) continue;
      const r = typesMatch(lb, lm.type, tb, tm.type, behindPtr, level - 1);
      if (r < 0) return r;
      if (r > 0) {
        ok = true;
        break;
      }
    }
    if (!ok) return 0;
  }
  return 1;
}

/** __bpf_core_types_match (TYPE_MATCHES) */
export function typesMatch(lb: Btf, lid: number, tb: Btf, tid: number, behindPtr = false, level = 32): number {
  if (level <= 0) return -1;
  for (let depth = 32; ; ) {
    if (--depth < 0) return -1;
    lid = skipModsAndTypedefs(lb, lid);
    tid = skipModsAndTypedefs(tb, tid);
    if (!coreNamesMatch(lb, lb.nameOff(lid), tb, tb.nameOff(tid))) return 0;
    const lk = kindOf(lb, lid);
    const tk = kindOf(tb, tid);
    switch (lk) {
      case Kind.UNKN:
        return lk === tk ? 1 : 0;
      case Kind.FWD: {
        const lf = lb.kflag(lid);
        if (behindPtr) {
          if (lk === tk) return lf === tb.kflag(tid) ? 1 : 0;
          return (tk === Kind.STRUCT && !lf) || (tk === Kind.UNION && lf) ? 1 : 0;
        }
        if (lk !== tk) return 0;
        return lf === tb.kflag(tid) ? 1 : 0;
      }
      case Kind.ENUM: case Kind.ENUM64:
        if (!isAnyEnum(tk)) return 0;
        return enumsMatch(lb, lid, tb, tid);
      case Kind.STRUCT: case Kind.UNION:
        if (behindPtr) {
          if (lk === tk) return 1;
          if (tk !== Kind.FWD) return 0;
          return (lk === Kind.UNION) === tb.kflag(tid) ? 1 : 0;
        }
        if (lk !== tk) return 0;
        return compositesMatch(lb, lid, tb, tid, behindPtr, level);
      case Kind.INT:
        if (lk !== tk) return 0;
        return lb.sizeOrType(lid) === tb.sizeOrType(tid)
          && (intEncoding(lb, lid) & INT_SIGNED) === (intEncoding(tb, tid) & INT_SIGNED) ? 1 : 0;
      case Kind.PTR:
        if (lk !== tk) return 0;
        behindPtr = true;
        lid = lb.sizeOrType(lid);
        tid = tb.sizeOrType(tid);
        continue;
      case Kind.ARRAY: {
        if (lk !== tk) return 0;
        const la = array(lb, lid);
        const ta = array(tb, tid);
        if (la.nelems !== ta.nelems) return 0;
        lid = la.type;
        tid = ta.type;
        continue;
      }
      case Kind.FUNC_PROTO: {
        if (lk !== tk) return 0;
        const n = lb.vlen(lid);
        if (n !== tb.vlen(tid)) return 0;
        for (let i = 0; i < n; i++) {
          const r = typesMatch(lb, paramType(lb, lid, i), tb, paramType(tb, tid, i), behindPtr, level - 1);
          if (r <= 0) return r;
        }
        lid = lb.sizeOrType(lid);
        tid = tb.sizeOrType(tid);
        continue;
      }
      default:
        return 0;
    }
  }
}

/** bpf_core_fields_are_compat */
function fieldsAreCompat(lb: Btf, lid: number, tb: Btf, tid: number): number {
  for (let depth = 0; ; depth++) {
    if (depth > 1024) throw new CoreError('EINVAL', 'array element types form a loop');
    lid = skipModsAndTypedefs(lb, lid);
    tid = skipModsAndTypedefs(tb, tid);
    const lk = kindOf(lb, lid);
    const tk = kindOf(tb, tid);
    if (isComposite(lk) && isComposite(tk)) return 1;
    if (!kindCoreCompat(lk, tk)) return 0;
    switch (lk) {
      case Kind.PTR: case Kind.FLOAT:
        return 1;
      case Kind.FWD: case Kind.ENUM: case Kind.ENUM64: {
        const ln = lb.name(lid);
        const tn = tb.name(tid);
        const ll = essentialNameLen(ln);
        const tl = essentialNameLen(tn);
        return ll === 0 || tl === 0 || (ll === tl && ln.slice(0, ll) === tn.slice(0, ll)) ? 1 : 0;
      }
      case Kind.INT:
        return intOffset(lb, lid) === 0 && intOffset(tb, tid) === 0 ? 1 : 0;
      case Kind.ARRAY:
        lid = array(lb, lid).type;
        tid = array(tb, tid).type;
        continue;
      default:
        return 0;
    }
  }
}

/** Whether the string at `off` of `btf` is exactly `name` (latin1 bytes), without decoding it. */
function strEquals(btf: Btf, off: number, name: Uint8Array): boolean {
  let b: Btf = btf;
  while (off < b.startStrOff && b.base) b = b.base;
  const bytes = b.strings;
  const start = off - b.startStrOff;
  if (start + name.length >= bytes.length) return false;
  if (bytes[start + name.length] !== 0) return false;
  for (let i = 0; i < name.length; i++) if (bytes[start + i] !== name[i]) return false;
  return true;
}

/** Whether the string at `off` is empty. */
function strEmpty(btf: Btf, off: number): boolean {
  if (off === 0) return true;
  let b: Btf = btf;
  while (off < b.startStrOff && b.base) b = b.base;
  return b.strings[off - b.startStrOff] === 0;
}

/** bpf_core_match_member: find the named local field in target `tid`, through anonymous members. */
function matchMember(lb: Btf, lacc: CoreAccessor, tb: Btf, tid: number, spec: CoreSpec, next: { id: number }): number {
  const lm = member(lb, lacc.typeId, lacc.idx);
  return matchMemberNamed(lb, lm.type, Buffer.from(lb.str(lm.nameOff), 'latin1'), tb, tid, spec, next);
}

function matchMemberNamed(lb: Btf, lType: number, lname: Uint8Array, tb: Btf, tid: number, spec: CoreSpec, next: { id: number }): number {
  tid = skipModsAndTypedefs(tb, tid);
  if (!isComposite(kindOf(tb, tid))) return 0;
  const n = tb.vlen(tid);
  const kflag = tb.kflag(tid);
  const owner = tb.owner(tid);
  const base = owner.off(tid) + 12;
  const dv = owner.dv;
  const le = owner.littleEndian;
  for (let i = 0; i < n; i++) {
    const p = base + i * 12;
    const nameOff = dv.getUint32(p, le);
    const mtype = dv.getUint32(p + 4, le);
    const word = dv.getUint32(p + 8, le);
    const bitOff = kflag ? word & 0xffffff : word;
    if (spec.raw.length === SPEC_MAX_LEN) throw new CoreError('E2BIG', 'struct/union/array nesting is deeper than 64');
    spec.bitOffset += bitOff;
    spec.raw.push(i);
    if (strEmpty(tb, nameOff)) {
      const found = matchMemberNamed(lb, lType, lname, tb, mtype, spec, next);
      if (found) return found;
    } else if (strEquals(tb, nameOff, lname)) {
      spec.spec.push({ typeId: tid, idx: i, name: tb.str(nameOff) });
      next.id = mtype;
      const found = fieldsAreCompat(lb, lType, tb, mtype);
      if (!found) spec.spec.pop();
      return found;
    }
    spec.bitOffset -= bitOff;
    spec.raw.pop();
  }
  return 0;
}

/** bpf_core_spec_match: 1 and a target spec when `local` matches candidate `tid`, 0 when not. */
export function specMatch(local: CoreSpec, tb: Btf, tid: number, out: CoreSpec): number {
  out.btf = tb;
  out.rootTypeId = tid;
  out.kind = local.kind;
  out.spec = [];
  out.raw = [];
  out.bitOffset = 0;
  if (isTypeBased(local.kind)) {
    const r = local.kind === CoreReloKind.TYPE_MATCHES
      ? typesMatch(local.btf, local.rootTypeId, tb, tid)
      : typesAreCompat(local.btf, local.rootTypeId, tb, tid);
    if (r < 0) throw new CoreError('EINVAL', 'type nesting is deeper than 32');
    return r;
  }
  if (isEnumvalBased(local.kind)) {
    tid = skipModsAndTypedefs(tb, tid);
    if (!isAnyEnum(kindOf(tb, tid))) return 0;
    const lname = local.spec[0]!.name!;
    const n = tb.vlen(tid);
    for (let i = 0; i < n; i++) {
      const tname = tb.str(enumNameOff(tb, tid, i));
      if (namesEssentialEqual(lname, tname)) {
        out.spec.push({ typeId: tid, idx: i, name: tname });
        out.raw.push(i);
        return 1;
      }
    }
    return 0;
  }
  if (!isFieldBased(local.kind)) throw new CoreError('EINVAL', `unknown relocation kind ${local.kind}`);
  for (let i = 0; i < local.spec.length; i++) {
    const lacc = local.spec[i]!;
    tid = skipModsAndTypedefs(tb, tid);
    if (lacc.name) {
      const next = { id: tid };
      const r = matchMember(local.btf, lacc, tb, tid, out, next);
      if (r <= 0) {
        if (r < 0) throw new CoreError('EINVAL', 'member matching failed');
        return 0;
      }
      tid = next.id;
    } else {
      if (i > 0) {
        if (kindOf(tb, tid) !== Kind.ARRAY) return 0;
        const a = array(tb, tid);
        const flex = isFlexArr(tb, out.spec[out.spec.length - 1], a.nelems);
        if (!flex && lacc.idx >= a.nelems) return 0;
        tid = skipModsAndTypedefs(tb, a.type);
      }
      if (out.raw.length === SPEC_MAX_LEN) throw new CoreError('E2BIG', 'struct/union/array nesting is deeper than 64');
      out.spec.push({ typeId: tid, idx: lacc.idx, name: null });
      out.raw.push(lacc.idx);
      out.bitOffset += lacc.idx * sizeOrFail(tb, tid) * 8;
    }
  }
  return 1;
}

interface Calc {
  value: bigint;
  size: number;
  typeId: number;
  validate: boolean;
  poison: boolean;
}

const POISON = Symbol('poison');

/** bpf_core_calc_field_relo; returns POISON when the spec is absent. */
function calcField(relo: CoreRelo, spec: CoreSpec | null, littleEndian: boolean): Calc | typeof POISON {
  const c: Calc = { value: 0n, size: 0, typeId: 0, validate: true, poison: false };
  if (relo.kind === CoreReloKind.FIELD_EXISTS) {
    c.value = spec ? 1n : 0n;
    return c;
  }
  if (!spec) return POISON;
  const btf = spec.btf;
  const acc = spec.spec[spec.spec.length - 1]!;
  if (!acc.name) {
    if (relo.kind === CoreReloKind.FIELD_BYTE_OFFSET) {
      c.value = BigInt(Math.floor(spec.bitOffset / 8));
      const sz = resolveSize(btf, acc.typeId);
      if (sz < 0) throw new CoreError('EINVAL', `cannot size array element [${acc.typeId}]`);
      c.size = sz;
      c.typeId = acc.typeId;
    } else if (relo.kind === CoreReloKind.FIELD_BYTE_SIZE) {
      const sz = resolveSize(btf, acc.typeId);
      if (sz < 0) throw new CoreError('EINVAL', `cannot size array element [${acc.typeId}]`);
      c.value = BigInt(sz);
    } else {
      throw new CoreError('EINVAL', `${coreReloKindName(relo.kind)} cannot be applied to an array access`);
    }
    return c;
  }
  const m = member(btf, acc.typeId, acc.idx);
  const fieldType = skipModsAndTypedefs(btf, m.type);
  const mk = kindOf(btf, fieldType);
  const bitOff = spec.bitOffset;
  let bitSz = memberBitfieldSize(btf, acc.typeId, acc.idx);
  const bitfield = bitSz > 0;
  let byteSz: number;
  let byteOff: number;
  if (bitfield) {
    byteSz = btf.sizeOrType(fieldType);
    byteOff = Math.floor(Math.floor(bitOff / 8) / byteSz) * byteSz;
    while (bitOff + bitSz - byteOff * 8 > byteSz * 8) {
      if (byteSz >= 8) throw new CoreError('E2BIG', 'bitfield cannot be read with a 64-bit load');
      byteSz *= 2;
      byteOff = Math.floor(Math.floor(bitOff / 8) / byteSz) * byteSz;
    }
  } else {
    const sz = resolveSize(btf, fieldType);
    if (sz < 0) throw new CoreError('EINVAL', `cannot size field type [${fieldType}]`);
    byteSz = sz;
    byteOff = Math.floor(bitOff / 8);
    bitSz = byteSz * 8;
  }
  c.validate = !bitfield;
  switch (relo.kind) {
    case CoreReloKind.FIELD_BYTE_OFFSET:
      c.value = BigInt(byteOff);
      if (!bitfield) {
        c.size = byteSz;
        c.typeId = fieldType;
      }
      break;
    case CoreReloKind.FIELD_BYTE_SIZE:
      c.value = BigInt(byteSz);
      break;
    case CoreReloKind.FIELD_SIGNED:
      c.value = (isAnyEnum(mk) && btf.kflag(fieldType)) || (mk === Kind.INT && (intEncoding(btf, fieldType) & INT_SIGNED) !== 0) ? 1n : 0n;
      c.validate = true;
      break;
    case CoreReloKind.FIELD_LSHIFT_U64:
      c.value = BigInt(littleEndian ? 64 - (bitOff + bitSz - byteOff * 8) : (8 - byteSz) * 8 + (bitOff - byteOff * 8));
      break;
    case CoreReloKind.FIELD_RSHIFT_U64:
      c.value = BigInt(64 - bitSz);
      c.validate = true;
      break;
    default:
      throw new CoreError('EOPNOTSUPP', `unrecognized CO-RE relocation kind ${relo.kind}`);
  }
  return c;
}

function calcType(relo: CoreRelo, spec: CoreSpec | null): Calc {
  const c: Calc = { value: 0n, size: 0, typeId: 0, validate: true, poison: false };
  if (!spec) return c;
  switch (relo.kind) {
    case CoreReloKind.TYPE_ID_TARGET:
      c.value = BigInt(spec.rootTypeId);
      c.validate = false;
      break;
    case CoreReloKind.TYPE_EXISTS: case CoreReloKind.TYPE_MATCHES:
      c.value = 1n;
      break;
    case CoreReloKind.TYPE_SIZE: {
      const sz = resolveSize(spec.btf, spec.rootTypeId);
      if (sz < 0) throw new CoreError('EINVAL', `cannot size type [${spec.rootTypeId}]`);
      c.value = BigInt(sz);
      break;
    }
    default:
      throw new CoreError('EOPNOTSUPP', `unrecognized CO-RE relocation kind ${relo.kind}`);
  }
  return c;
}

function calcEnumval(relo: CoreRelo, spec: CoreSpec | null): Calc | typeof POISON {
  const c: Calc = { value: 0n, size: 0, typeId: 0, validate: true, poison: false };
  if (relo.kind === CoreReloKind.ENUMVAL_EXISTS) {
    c.value = spec ? 1n : 0n;
    return c;
  }
  if (relo.kind !== CoreReloKind.ENUMVAL_VALUE) throw new CoreError('EOPNOTSUPP', `unrecognized CO-RE relocation kind ${relo.kind}`);
  if (!spec) return POISON;
  c.value = enumValue(spec.btf, spec.spec[0]!.typeId, spec.spec[0]!.idx);
  return c;
}

export interface CoreCalcResult {
  origValue: bigint;
  value: bigint;
  poison: boolean;
  validate: boolean;
  failMemszAdjust: boolean;
  origSize: number;
  newSize: number;
}

/** bpf_core_calc_relo: the original (local) and new (target) value of one relocation. */
function calcRelo(relo: CoreRelo, local: CoreSpec, targ: CoreSpec | null, littleEndian: boolean): CoreCalcResult {
  const res: CoreCalcResult = { origValue: 0n, value: 0n, poison: false, validate: true, failMemszAdjust: false, origSize: 0, newSize: 0 };
  const k = relo.kind;
  let o: Calc | typeof POISON;
  let n: Calc | typeof POISON;
  if (isFieldBased(k)) {
    o = calcField(relo, local, littleEndian);
    n = o === POISON ? POISON : calcField(relo, targ, littleEndian);
  } else if (isTypeBased(k)) {
    o = calcType(relo, local);
    n = calcType(relo, targ);
  } else if (isEnumvalBased(k)) {
    o = calcEnumval(relo, local);
    n = o === POISON ? POISON : calcEnumval(relo, targ);
  } else {
    throw new CoreError('EOPNOTSUPP', `unrecognized CO-RE relocation kind ${k}`);
  }
  if (o === POISON || n === POISON) {
    res.poison = true;
    if (o !== POISON) {
      res.origValue = o.value;
      res.validate = o.validate;
    }
    return res;
  }
  res.origValue = o.value;
  res.validate = o.validate;
  res.value = n.value;
  res.origSize = o.size;
  res.newSize = n.size;
  if (isFieldBased(k) && o.size !== n.size) {
    const ok = kindOf(local.btf, o.typeId);
    const nk = kindOf(targ!.btf, n.typeId);
    const unsignedInt = (b: Btf, id: number, kk: number): boolean => kk === Kind.INT && intEncoding(b, id) !== INT_SIGNED;
    if (!(ok === Kind.PTR && nk === Kind.PTR) && !(unsignedInt(local.btf, o.typeId, ok) && unsignedInt(targ!.btf, n.typeId, nk))) {
      res.failMemszAdjust = true;
    }
  }
  return res;
}

/** Length of the essential part of the NUL-terminated name at bytes[start]. */
function essentialLenBytes(bytes: Uint8Array, start: number, end: number): number {
  const n = end - start;
  for (let i = n - 5; i >= 0; i--) {
    const p = start + i;
    if (bytes[p] !== 95 && bytes[p + 1] === 95 && bytes[p + 2] === 95 && bytes[p + 3] === 95 && bytes[p + 4] !== 95) return i + 1;
  }
  return n;
}

/** Kinds that are candidates for each other (btf_kind_core_compat) share a class. */
const coreClass = (k: number): number => (isAnyEnum(k) ? Kind.ENUM : k);

/**
 * Candidate target type ids for a local type: same essential name, compatible
 * kind, in id order (what libbpf's linear scan finds). Built per kind class
 * when a local type of that class first asks (relocations name structs, unions,
 * enums and typedefs, so vmlinux's ~48k functions are never hashed): a hash of
 * each type's essential name over the raw string bytes, chained in typed
 * arrays (no per-type strings).
 */
export class CandidateIndex {
  private readonly heads = new Map<number, Int32Array>();
  private next: Int32Array | null = null;
  private hash: Uint32Array | null = null;
  private mask = 0;
  constructor(readonly target: Btf) {}

  /** Bytes and [start, end) of the name of type `id` (end at the NUL). */
  private nameAt(id: number): { bytes: Uint8Array; start: number; end: number } | null {
    const t = this.target;
    const off = t.nameOff(id);
    if (off === 0) return null;
    let b: Btf = t;
    while (off < b.startStrOff && b.base) b = b.base;
    const bytes = b.strings;
    const start = off - b.startStrOff;
    if (start >= bytes.length) return null;
    let end = bytes.indexOf(0, start);
    if (end < 0) end = bytes.length;
    return end > start ? { bytes, start, end } : null;
  }

  /**
   * Type ids grouped by kind class, ascending within a class (a counting sort
   * over one pass reading each record's kind in place), so that the index of
   * one class visits only that class's types.
   */
  private byClass: { ids: Int32Array; start: Int32Array } | null = null;

  private classes(): { ids: Int32Array; start: Int32Array } {
    if (this.byClass) return this.byClass;
    const t = this.target;
    const n = t.typeCount;
    const cls = new Uint8Array(n);
    const start = new Int32Array(BTF_MAX_KIND + 2);
    for (let b: Btf | null = t; b; b = b.base) {
      const offs = b.offsets;
      const words = b.words();
      for (let i = 0; i < offs.length; i++) {
        const info = words[(offs[i]! >>> 2) + 1]!;
        const k = (info >>> 24) & BTF_MAX_KIND;
        const c = k === Kind.ENUM64 ? Kind.ENUM : k; // coreClass, written out: this loop visits every type
        cls[b.startId + i] = c;
        start[c + 1]!++;
      }
    }
    for (let c = 1; c < start.length; c++) start[c]! += start[c - 1]!;
    const fill = start.slice();
    const ids = new Int32Array(n);
    for (let id = 1; id < n; id++) ids[fill[cls[id]!]!++] = id;
    this.byClass = { ids, start };
    return this.byClass;
  }

  private build(cls: number): Int32Array {
    const t = this.target;
    const n = t.typeCount;
    if (!this.next) {
      let size = 1024;
      while (size < n) size <<= 1;
      this.next = new Int32Array(n).fill(-1);
      this.hash = new Uint32Array(n);
      this.mask = size - 1;
    }
    const next = this.next;
    const hash = this.hash!;
    const mask = this.mask;
    const head = new Int32Array(mask + 1).fill(-1);
    const { ids, start } = this.classes();
    // descending, so each chain lists ids in ascending order
    let b: Btf | null = null;
    let words: Uint32Array = new Uint32Array(0);
    for (let j = start[cls + 1]! - 1; j >= start[cls]!; j--) {
      const id = ids[j]!;
      if (!b || id < b.startId) {
        b = t.owner(id);
        words = b.words();
      }
      const off = words[b.offsets[id - b.startId]! >>> 2]!;
      if (off === 0) continue;
      let owner: Btf = b;
      while (off < owner.startStrOff && owner.base) owner = owner.base;
      const ob = owner.strings;
      const s0 = off - owner.startStrOff;
      // One pass to the NUL: FNV-1a over the name, and where the last `___flavor` suffix starts
      // (a separator is X___Y with X and Y not '_', as bpf_core_essential_name_len finds it).
      let h = 0x811c9dc5;
      let q = s0;
      let run = 0;
      let ess = -1;
      for (; q < ob.length; q++) {
        const c = ob[q]!;
        if (c === 0) break;
        if (c === 95) {
          run++;
        } else {
          if (run === 3 && q - 4 >= s0 && ob[q - 4] !== 95) ess = q - 3;
          run = 0;
        }
        h = Math.imul(h ^ c, 0x01000193);
      }
      if (q === s0) continue;
      if (ess >= 0) {
        h = 0x811c9dc5;
        for (let r = s0; r < ess; r++) h = Math.imul(h ^ ob[r]!, 0x01000193);
      }
      h >>>= 0;
      hash[id] = h;
      next[id] = head[h & mask]!;
      head[h & mask] = id;
    }
    this.heads.set(cls, head);
    return head;
  }

  /** bpf_core_add_cands over the whole target (ids from 1). */
  find(localBtf: Btf, localId: number): number[] {
    const lk = kindOf(localBtf, localId);
    const cls = coreClass(lk);
    const head = this.heads.get(cls) ?? this.build(cls);
    const name = localBtf.name(localId);
    const ess = Buffer.from(name.slice(0, essentialNameLen(name)), 'latin1');
    const h = hashBytes(ess, 0, ess.length);
    const t = this.target;
    const out: number[] = [];
    for (let id = head[h & this.mask]!; id >= 0; id = this.next![id]!) {
      if (this.hash![id] !== h || !kindCoreCompat(t.kind(id), lk)) continue;
      const nm = this.nameAt(id)!;
      if (essentialLenBytes(nm.bytes, nm.start, nm.end) !== ess.length) continue;
      let same = true;
      for (let i = 0; i < ess.length && same; i++) same = nm.bytes[nm.start + i] === ess[i];
      if (same) out.push(id);
    }
    return out;
  }
}

/** Where a relocation stands on a target kernel. */
export type CoreStatus =
  /** resolved to a target field/type/enumerator */
  | 'ok'
  /** no candidate matched: existence checks give 0, other kinds poison the instruction */
  | 'missing'
  /** libbpf refuses it (bad spec, ambiguity, unsupported): the object does not load */
  | 'error';

export interface CoreSpecInfo {
  typeId: number;
  /** `struct task_struct`, `enum pid_type`, ... */
  type: string;
  /** Raw access string (low-level spec), e.g. "0:1:2". */
  access: string;
  /** The accessed path in C syntax, e.g. ".tasks.prev", "[3]", "::PIDTYPE_TGID". */
  path: string;
  bitOffset: number;
}

export interface CoreRelocationResult {
  /** Program section (.BTF.ext section name). */
  section: string;
  /** Function containing the instruction (from func_info), if known. */
  func: string | null;
  /** Index of the relocation in its section. */
  index: number;
  insnOff: number;
  kind: number;
  kindName: string;
  local: CoreSpecInfo;
  /** Number of candidate types with the local type's essential name and a compatible kind. */
  candidates: number;
  /** The chosen (first matching) target; null when none matched or on error. */
  target: CoreSpecInfo | null;
  status: CoreStatus;
  /** Value the compiler put in (from the local BTF). */
  origValue: bigint | null;
  /** Value after relocation; null when poisoned or on error. */
  value: bigint | null;
  poison: boolean;
  /** A load/store whose size changes in a way libbpf rejects (the instruction gets poisoned). */
  failMemszAdjust: boolean;
  error: { errno: string; message: string } | null;
  /** The target spec, for tools that act on what the relocation touches (min-core marking). */
  targetSpec: CoreSpec | null;
}

function typeLabel(btf: Btf, id: number): string {
  if (id === 0) return 'void';
  const k = kindOf(btf, id);
  const n = btf.name(id) || '<anon>';
  switch (k) {
    case Kind.STRUCT: return `struct ${n}`;
    case Kind.UNION: return `union ${n}`;
    case Kind.ENUM: case Kind.ENUM64: return `enum ${n}`;
    case Kind.TYPEDEF: return n;
    default: return `${kindName(k).toLowerCase()} ${n}`;
  }
}

export function specInfo(s: CoreSpec): CoreSpecInfo {
  let path = '';
  if (isEnumvalBased(s.kind)) {
    if (s.spec[0]) path = `::${s.spec[0].name}`;
  } else if (isFieldBased(s.kind)) {
    s.spec.forEach((a, i) => {
      if (a.name) path += `.${a.name}`;
      else if (i > 0 || a.idx > 0) path += `[${a.idx}]`;
    });
  }
  return {
    typeId: s.rootTypeId, type: typeLabel(s.btf, s.rootTypeId), access: isTypeBased(s.kind) ? '0' : s.raw.join(':'),
    path, bitOffset: s.bitOffset,
  };
}

export interface ResolveOptions {
  /** Byte order assumed for FIELD_LSHIFT_U64 (default: the target BTF's). */
  littleEndian?: boolean;
  /** A candidate index built once for the target (reuse it across objects). */
  candidates?: CandidateIndex;
}

/**
 * Resolve every CO-RE relocation of `obj` against `target` (vmlinux BTF, or
 * vmlinux and modules in one id space), as libbpf does when loading it:
 * candidates are cached per local type for the object and pruned to the ones
 * that matched, so later relocations of the same type see only those.
 */
export function resolveCoreRelocations(obj: BpfObject, target: Btf, opts: ResolveOptions = {}): CoreRelocationResult[] {
  const out: CoreRelocationResult[] = [];
  if (!obj.ext) return out;
  const lb = obj.btf;
  const le = opts.littleEndian ?? target.littleEndian;
  const index = opts.candidates ?? new CandidateIndex(target);
  const cache = new Map<number, number[]>();
  const funcs = new Map<string, { insnOff: number; name: string }[]>();
  for (const s of obj.ext.funcInfo) {
    funcs.set(s.name, s.records.map((r) => ({ insnOff: r.insnOff, name: lb.hasType(r.typeId) ? lb.name(r.typeId) : '' })));
  }
  for (const sec of obj.ext.coreRelos) {
    const fl = funcs.get(sec.name) ?? [];
    sec.records.forEach((relo, index_) => {
      let func: string | null = null;
      for (const f of fl) if (f.insnOff <= relo.insnOff) func = f.name;
      const r: CoreRelocationResult = {
        section: sec.name, func, index: index_, insnOff: relo.insnOff, kind: relo.kind, kindName: coreReloKindName(relo.kind),
        local: { typeId: relo.typeId, type: lb.hasType(relo.typeId) ? typeLabel(lb, relo.typeId) : `[${relo.typeId}]`, access: relo.accessStr, path: '', bitOffset: 0 },
        candidates: 0, target: null, status: 'error', origValue: null, value: null, poison: false, failMemszAdjust: false,
        error: null, targetSpec: null,
      };
      out.push(r);
      try {
        resolveOne(r, relo, lb, index, cache, le);
      } catch (e) {
        if (!(e instanceof CoreError)) throw e;
        r.status = 'error';
        r.error = { errno: e.errno, message: e.message };
        r.target = null;
        r.targetSpec = null;
        r.value = null;
      }
    });
  }
  return out;
}

function resolveOne(r: CoreRelocationResult, relo: CoreRelo, lb: Btf, index: CandidateIndex, cache: Map<number, number[]>, le: boolean): void {
  const local = parseSpec(lb, relo);
  r.local = specInfo(local);
  r.local.access = relo.accessStr;
  if (relo.kind === CoreReloKind.TYPE_ID_LOCAL) {
    r.status = 'ok';
    r.origValue = r.value = BigInt(relo.typeId);
    return;
  }
  let cands = cache.get(relo.typeId);
  if (!cands) {
    cands = index.find(lb, relo.typeId);
    cache.set(relo.typeId, cands);
  }
  r.candidates = cands.length;
  if (lb.name(relo.typeId) === '') throw new CoreError('EOPNOTSUPP', `${coreReloKindName(relo.kind)} relocation of an anonymous type: libbpf has no candidate search for anonymous types`);
  let targ: CoreSpec | null = null;
  let res: CoreCalcResult | null = null;
  const kept: number[] = [];
  for (const id of cands) {
    const cand = emptySpec(index.target, id, relo.kind);
    if (!specMatch(local, index.target, id, cand)) continue;
    const cr = calcRelo(relo, local, cand, le);
    if (!targ || !res) {
      targ = cand;
      res = cr;
    } else if (cand.bitOffset !== targ.bitOffset) {
      throw new CoreError('EINVAL', `ambiguous: candidates [${targ.rootTypeId}] and [${id}] give field bit offsets ${targ.bitOffset} and ${cand.bitOffset}`);
    } else if (cr.poison !== res.poison || cr.value !== res.value) {
      throw new CoreError('EINVAL', `ambiguous: candidates [${targ.rootTypeId}] and [${id}] give ${res.poison ? 'failure' : `value ${res.value}`} and ${cr.poison ? 'failure' : `value ${cr.value}`}`);
    }
    kept.push(id);
  }
  if (kept.length > 0) {
    cands.length = 0;
    cands.push(...kept);
  }
  if (!targ || !res) {
    res = calcRelo(relo, local, null, le);
    r.status = 'missing';
  } else {
    r.status = 'ok';
    r.target = specInfo(targ);
    r.targetSpec = targ;
  }
  r.origValue = res.origValue;
  r.poison = res.poison;
  r.failMemszAdjust = res.failMemszAdjust;
  r.value = res.poison ? null : res.value;
}
