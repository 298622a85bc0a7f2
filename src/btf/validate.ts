/**
 * The checks the kernel's BTF verifier makes before it accepts BTF, done
 * before modbtf writes anything: a module whose BTF fails them is reported,
 * not rewritten (the kernel would silently drop its BTF).
 */
import { Btf } from './btf.js';
import { ModbtfError } from '../errors.js';
import { Kind, LAYOUT, infoKflag, infoKind, infoVlen, kindName, type KindLayout } from './kinds.js';

const KSYM_NAME_LEN = 512;
const PTR_SIZE = 8;

function identChar(c: number, first: boolean): boolean {
  const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
  return first ? alpha : alpha || (c >= 0x30 && c <= 0x39);
}

/** C identifier, as btf_name_valid_identifier() accepts. */
export function validIdentifier(name: Uint8Array): boolean {
  if (name.length === 0 || name.length >= KSYM_NAME_LEN) return false;
  for (let i = 0; i < name.length; i++) if (!identChar(name[i]!, i === 0)) return false;
  return true;
}

/** Printable characters, as btf_name_valid_section() accepts for DATASEC names. */
export function validSectionName(name: Uint8Array): boolean {
  if (name.length === 0 || name.length >= KSYM_NAME_LEN) return false;
  for (const c of name) if (c < 0x20 || c > 0x7e) return false;
  return true;
}

type NameRule = 'none' | 'ident' | 'optional-ident' | 'section' | 'any';

function nameRule(kind: number): NameRule {
  switch (kind) {
    case Kind.PTR: case Kind.ARRAY: case Kind.CONST: case Kind.VOLATILE: case Kind.RESTRICT:
    case Kind.FUNC_PROTO:
      return 'none';
    case Kind.TYPEDEF: case Kind.FUNC: case Kind.FWD: case Kind.VAR: case Kind.FLOAT:
    case Kind.TYPE_TAG:
      return 'ident';
    case Kind.STRUCT: case Kind.UNION: case Kind.ENUM: case Kind.ENUM64: case Kind.INT:
      return 'optional-ident';
    case Kind.DATASEC:
      return 'section';
    default:
      return 'any';
  }
}

/** A finding, kept as data until it is reported (messages are only built for the one thrown). */
interface Finding {
  code: 'E_BTF_INVALID' | 'E_BTF_TYPE_ID' | 'E_BTF_STRING';
  id: number;
  /** Builds the message (E_BTF_INVALID ones get the kind and name prefix). */
  msg: () => string;
}

/**
 * Validate the own types of `btf` as the kernel would: names valid for
 * their kind, type ids and string offsets in range, no vlen where none is
 * allowed, struct members inside the struct, and no loop that does not go
 * through a pointer. Throws ModbtfError (code E_BTF_INVALID, E_BTF_TYPE_ID
 * or E_BTF_STRING) naming the first offending type.
 *
 * One pass over the records checks references and per-type rules and
 * records the by-value edges; one depth-first walk over those edges then
 * finds loops and resolves sizes in post-order, checking each struct's
 * members as it completes. Findings are reported in the order the checks are
 * documented: an out-of-range reference anywhere first, then the first type
 * breaking a per-type rule, then a loop, then the first struct with a bad member.
 */
export function validateBtf(btf: Btf): void {
  // Kinds modbtf does not know (2026 format): their fields cannot be checked.
  btf.requireKnownKinds('check it as the kernel would');
  const start = btf.startId;
  const n = btf.nrTypes;
  const dv = btf.dv;
  const le = btf.littleEndian;
  const offs = btf.offsets;
  const typeCount = btf.typeCount;
  const strEnd = btf.strEnd;
  let refErr: Finding | null = null;
  let metaErr: Finding | null = null;
  // By-value edges between own types, as compressed rows (index i = type start + i).
  const edgeStart = new Uint32Array(n + 1);
  let edges = new Uint32Array(Math.max(16, n * 2));
  let ne = 0;
  const edge = (to: number): void => {
    if (to < start) return; // base types are the base's business (void included)
    if (ne === edges.length) {
      const g = new Uint32Array(edges.length * 2);
      g.set(edges);
      edges = g;
    }
    edges[ne++] = to;
  };

  for (let i = 0; i < n; i++) {
    const id = start + i;
    const o = offs[i]!;
    const info = dv.getUint32(o + 4, le);
    const kind = infoKind(info);
    const vlen = infoVlen(info);
    const l = LAYOUT[kind]!;
    edgeStart[i] = ne;
    // references: type ids, then string offsets, in record order
    const badId = firstAtLeast(dv, le, o, vlen, l, true, typeCount);
    if (badId >= 0) {
      const v = dv.getUint32(badId, le);
      refErr = { code: 'E_BTF_TYPE_ID', id, msg: () => `${kindName(kind)} refers to type id ${v}, out of range (last id ${typeCount - 1})` };
      break;
    }
    const badStr = firstAtLeast(dv, le, o, vlen, l, false, strEnd);
    if (badStr >= 0) {
      const v = dv.getUint32(badStr, le);
      refErr = { code: 'E_BTF_STRING', id, msg: () => `${kindName(kind)} has string offset ${v}, out of range (string section ends at ${strEnd})` };
      break;
    }
    // by-value edges (not through PTR or FUNC/FUNC_PROTO)
    switch (kind) {
      case Kind.TYPEDEF: case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT:
      case Kind.TYPE_TAG: case Kind.VAR: case Kind.DECL_TAG:
        edge(dv.getUint32(o + 8, le));
        break;
      case Kind.ARRAY:
        edge(dv.getUint32(o + 12, le));
        break;
      case Kind.STRUCT: case Kind.UNION:
        for (let j = 0, p = o + 16; j < vlen; j++, p += 12) edge(dv.getUint32(p, le));
        break;
      case Kind.DATASEC:
        for (let j = 0, p = o + 12; j < vlen; j++, p += 12) edge(dv.getUint32(p, le));
        break;
      default:
        break;
    }
    if (!metaErr) metaErr = checkMeta(btf, id, o, info);
  }
  edgeStart[n] = ne;
  if (refErr) throw report(btf, refErr);
  if (metaErr) throw report(btf, metaErr);

  // Depth-first over by-value edges: a back edge is a loop; sizes resolve in post-order.
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  const size = new Float64Array(n);
  const stackId = new Uint32Array(n);
  const stackPos = new Uint32Array(n);
  let memberErr: Finding | null = null;
  for (let root = 0; root < n; root++) {
    if (state[root]) continue;
    let sp = 0;
    stackId[0] = root; stackPos[0] = edgeStart[root]!; state[root] = 1;
    while (sp >= 0) {
      const top = stackId[sp]!;
      if (stackPos[sp]! < edgeStart[top + 1]!) {
        const next = edges[stackPos[sp]!++]! - start;
        if (state[next] === 1) {
          const to = next + start;
          throw report(btf, { code: 'E_BTF_INVALID', id: to, msg: () => `loop through non-pointer types (back to [${to}] from [${top + start}])` });
        }
        if (state[next] === 2) continue;
        sp++;
        stackId[sp] = next; stackPos[sp] = edgeStart[next]!; state[next] = 1;
      } else {
        state[top] = 2;
        sp--;
        const id = top + start;
        size[top] = ownSize(btf, offs[top]!, size);
        if (!memberErr || id < memberErr.id) memberErr = checkMembers(btf, id, offs[top]!, size) ?? memberErr;
      }
    }
  }
  if (memberErr) throw report(btf, memberErr);
}

/**
 * Position of the first type-id field (`ids`) or string-offset field of the
 * record at `o` holding a value >= `limit`, in record order; -1 if none.
 */
function firstAtLeast(dv: DataView, le: boolean, o: number, vlen: number, l: KindLayout, ids: boolean, limit: number): number {
  if (ids) {
    if (l.typeIsId && dv.getUint32(o + 8, le) >= limit) return o + 8;
    for (const e of l.extraIds) if (dv.getUint32(o + e, le) >= limit) return o + e;
  } else if (dv.getUint32(o, le) >= limit) {
    return o;
  }
  const fields = ids ? l.memberIds : l.memberStrs;
  if (fields.length) {
    for (let j = 0, p = o + 12 + l.extra; j < vlen; j++, p += l.member) {
      for (const m of fields) if (dv.getUint32(p + m, le) >= limit) return p + m;
    }
  }
  return -1;
}

function report(btf: Btf, f: Finding): ModbtfError {
  if (f.code !== 'E_BTF_INVALID') return btf.error(f.code, f.msg(), f.id);
  return btf.error('E_BTF_INVALID', `${kindName(btf.kind(f.id))} '${btf.nameOff(f.id) ? btf.name(f.id) : '(anon)'}': ${f.msg()}`, f.id);
}

function invalid(id: number, msg: string): Finding {
  return { code: 'E_BTF_INVALID', id, msg: () => msg };
}

/** The string at `off` checked against `rule` in place (no copy); null when it passes. */
function nameProblem(btf: Btf, off: number, rule: NameRule, what: string): string | null {
  if (rule === 'any') return null;
  if (rule === 'none') return off !== 0 ? `${what} must be anonymous` : null;
  if (off === 0) return rule === 'optional-ident' ? null : `${what} must have a name`;
  let owner: Btf = btf;
  while (off < owner.startStrOff && owner.base) owner = owner.base;
  const s = owner.strings;
  const begin = off - owner.startStrOff;
  let end = begin;
  let ok = true;
  if (rule === 'section') {
    for (; end < s.length && s[end] !== 0; end++) {
      const c = s[end]!;
      if (c < 0x20 || c > 0x7e) ok = false;
    }
  } else {
    for (; end < s.length && s[end] !== 0; end++) if (ok && !identChar(s[end]!, end === begin)) ok = false;
  }
  const len = end - begin;
  if (ok && len > 0 && len < KSYM_NAME_LEN) return null;
  return `invalid ${what} '${Buffer.from(s.buffer, s.byteOffset + begin, len).toString('latin1')}'`;
}

function checkMeta(btf: Btf, id: number, o: number, info: number): Finding | null {
  const kind = infoKind(info);
  const vlen = infoVlen(info);
  const u32 = (p: number): number => btf.dv.getUint32(p, btf.littleEndian);
  let why = nameProblem(btf, u32(o), kind === Kind.INT || kind === Kind.FLOAT ? 'any' : nameRule(kind), 'name');
  if (why) return invalid(id, why);
  switch (kind) {
    case Kind.INT: case Kind.PTR: case Kind.ARRAY: case Kind.TYPEDEF: case Kind.VOLATILE:
    case Kind.CONST: case Kind.RESTRICT: case Kind.FUNC: case Kind.VAR: case Kind.FLOAT:
    case Kind.DECL_TAG: case Kind.TYPE_TAG: case Kind.FWD:
      if (vlen !== 0) return invalid(id, `vlen ${vlen} must be 0`);
      break;
    case Kind.STRUCT: case Kind.UNION:
      for (let i = 0, p = o + 12; i < vlen; i++, p += 12) {
        if ((why = nameProblem(btf, u32(p), 'optional-ident', `member #${i} name`))) return invalid(id, why);
      }
      break;
    case Kind.ENUM: case Kind.ENUM64: {
      const step = kind === Kind.ENUM ? 8 : 12;
      for (let i = 0, p = o + 12; i < vlen; i++, p += step) {
        if ((why = nameProblem(btf, u32(p), 'ident', `enumerator #${i} name`))) return invalid(id, why);
      }
      break;
    }
    case Kind.FUNC_PROTO:
      for (let i = 0, p = o + 12; i < vlen; i++, p += 8) {
        const nameOff = u32(p);
        const type = u32(p + 4);
        if (type === 0 && i !== vlen - 1) return invalid(id, `parameter #${i} has type void before the last one`);
        if (type === 0 && nameOff !== 0) return invalid(id, 'vararg parameter must be anonymous');
        if ((why = nameProblem(btf, nameOff, 'optional-ident', `parameter #${i} name`))) return invalid(id, why);
      }
      break;
    default:
      break;
  }
  if (kind === Kind.INT) {
    const size = u32(o + 8);
    const data = u32(o + 12);
    const bits = data & 0xff;
    const offset = (data >>> 16) & 0xff;
    if (size > 16 || (size & (size - 1)) !== 0 || size === 0) return invalid(id, `invalid int size ${size}`);
    if (bits > 128 || bits + offset > size * 8) return invalid(id, `nr_bits ${bits} at bits_offset ${offset} does not fit size ${size}`);
  }
  if (kind === Kind.FLOAT) {
    const size = u32(o + 8);
    if (size !== 2 && size !== 4 && size !== 8 && size !== 12 && size !== 16) return invalid(id, `invalid float size ${size}`);
  }
  return null;
}

/**
 * Size of the own type whose record is at `o`, as typeSize() resolves it, from the sizes of its
 * by-value successors (own ones already in `sizes`, indexed from startId).
 */
function ownSize(btf: Btf, o: number, sizes: Float64Array): number {
  const info = btf.dv.getUint32(o + 4, btf.littleEndian);
  const at8 = btf.dv.getUint32(o + 8, btf.littleEndian);
  const sizeOf = (t: number): number => (t >= btf.startId ? sizes[t - btf.startId]! : typeSize(btf, t));
  switch (infoKind(info)) {
    case Kind.INT: case Kind.STRUCT: case Kind.UNION: case Kind.ENUM: case Kind.ENUM64:
    case Kind.FLOAT: case Kind.DATASEC:
      return at8;
    case Kind.PTR:
      return PTR_SIZE;
    case Kind.TYPEDEF: case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT: case Kind.TYPE_TAG:
      return sizeOf(at8);
    case Kind.ARRAY: {
      const elem = sizeOf(btf.dv.getUint32(o + 12, btf.littleEndian));
      return elem < 0 ? -1 : btf.dv.getUint32(o + 20, btf.littleEndian) * elem;
    }
    default:
      return -1;
  }
}

/** Byte size of a type as the kernel resolves it; -1 for types with no size (void, fwd, func). */
export function typeSize(btf: Btf, id: number): number {
  // Iterative: modifier and array chains are as long as the input makes them.
  let mult = 1;
  for (let steps = 0; steps <= btf.typeCount; steps++) {
    if (id === 0 || !btf.hasType(id)) return -1;
    const kind = btf.kind(id);
    switch (kind) {
      case Kind.INT: case Kind.STRUCT: case Kind.UNION: case Kind.ENUM: case Kind.ENUM64:
      case Kind.FLOAT: case Kind.DATASEC:
        return mult * btf.sizeOrType(id);
      case Kind.PTR:
        return mult * PTR_SIZE;
      case Kind.TYPEDEF: case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT: case Kind.TYPE_TAG:
        id = btf.sizeOrType(id);
        continue;
      case Kind.ARRAY: {
        const owner = btf.owner(id);
        const o = owner.off(id);
        mult *= owner.u32(o + 20);
        id = owner.u32(o + 12);
        continue;
      }
      default:
        return -1;
    }
  }
  return -1;
}

function checkMembers(btf: Btf, id: number, o: number, sizes: Float64Array): Finding | null {
  const dv = btf.dv;
  const le = btf.littleEndian;
  const info = dv.getUint32(o + 4, le);
  const kind = infoKind(info);
  if (kind !== Kind.STRUCT && kind !== Kind.UNION) return null;
  const size = dv.getUint32(o + 8, le);
  const kflag = infoKflag(info);
  const vlen = infoVlen(info);
  for (let i = 0; i < vlen; i++) {
    const p = o + 12 + i * 12;
    const type = dv.getUint32(p + 4, le);
    const raw = dv.getUint32(p + 8, le);
    const bitOff = kflag ? raw & 0xffffff : raw;
    const bitSize = kflag ? raw >>> 24 : 0;
    const msize = type >= btf.startId ? sizes[type - btf.startId]! : typeSize(btf, type);
    if (msize < 0) {
      // A flexible array of an incomplete element is still rejected; void/fwd/func members always are.
      return invalid(id, `member #${i} has type [${type}] ${type ? kindName(btf.kind(type)) : 'void'} with no size`);
    }
    const end = bitSize ? bitOff + bitSize : bitOff + msize * 8;
    if (!bitSize && bitOff % 8 !== 0) return invalid(id, `member #${i} at bit offset ${bitOff} is not byte aligned`);
    if (end > size * 8) return invalid(id, `member #${i} ends at bit ${end}, past the ${size}-byte size`);
  }
  return null;
}
