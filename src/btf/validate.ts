/**
 * The checks the kernel's BTF verifier makes before it accepts BTF, done
 * before modbtf writes anything: a module whose BTF fails them is reported,
 * not rewritten (the kernel would silently drop its BTF).
 */
import { Btf } from './btf.js';
import { ModbtfError } from '../errors.js';
import { INT_BOOL, INT_CHAR, INT_SIGNED, Kind, LAYOUT, infoKflag, infoKind, infoVlen, kindName, type KindLayout } from './kinds.js';

const KSYM_NAME_LEN = 512;
const PTR_SIZE = 8;
const U32_MAX = 0xffffffff;

/**
 * The kernel's `isalpha()` / `isalnum()` / `isprint()` (lib/ctype.c, Latin-1):
 * bytes 0xc0-0xff except 0xd7 and 0xf7 are letters, 0xa0-0xff are printable.
 */
function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0xc0 && c !== 0xd7 && c !== 0xf7);
}

function isPrint(c: number): boolean {
  return (c >= 0x20 && c <= 0x7e) || c >= 0xa0;
}

/** A character btf_name_valid_identifier() accepts: letters, `_` and `.` anywhere, digits after the first. */
function identChar(c: number, first: boolean): boolean {
  return isAlpha(c) || c === 0x5f || c === 0x2e || (!first && c >= 0x30 && c <= 0x39);
}

/**
 * A name btf_name_valid_identifier() accepts: letters, digits (not first), `_`
 * and `.` (since Linux 6.5), fewer than 512 bytes.
 */
export function validIdentifier(name: Uint8Array): boolean {
  if (name.length === 0 || name.length >= KSYM_NAME_LEN) return false;
  for (let i = 0; i < name.length; i++) if (!identChar(name[i]!, i === 0)) return false;
  return true;
}

/** A name btf_name_valid_section() accepts for DATASEC: printable characters, fewer than 512 bytes. */
export function validSectionName(name: Uint8Array): boolean {
  if (name.length === 0 || name.length >= KSYM_NAME_LEN) return false;
  for (const c of name) if (!isPrint(c)) return false;
  return true;
}

/**
 * How the kernel checks a name: `anon` must be anonymous; `ident` a required
 * identifier; `opt-ident` anonymous or an identifier; `section` a required
 * section name; `nonempty` any non-empty string (tags); `free` not at all.
 */
type NameRule = 'anon' | 'ident' | 'opt-ident' | 'section' | 'nonempty' | 'free';

/** The name rule of each kind's *_check_meta() in kernel/bpf/btf.c. */
const NAME_RULE: readonly NameRule[] = [
  'free',
  /* INT        */ 'free',
  /* PTR        */ 'anon',
  /* ARRAY      */ 'anon',
  /* STRUCT     */ 'opt-ident',
  /* UNION      */ 'opt-ident',
  /* ENUM       */ 'opt-ident',
  /* FWD        */ 'ident',
  /* TYPEDEF    */ 'ident',
  /* VOLATILE   */ 'anon',
  /* CONST      */ 'anon',
  /* RESTRICT   */ 'anon',
  /* FUNC       */ 'ident',
  /* FUNC_PROTO */ 'anon',
  /* VAR        */ 'ident',
  /* DATASEC    */ 'section',
  /* FLOAT      */ 'free',
  /* DECL_TAG   */ 'nonempty',
  /* TYPE_TAG   */ 'nonempty',
  /* ENUM64     */ 'opt-ident',
];

/** Kinds whose kind_flag the kernel refuses (struct, union, enum, fwd use it; tags since 6.15). */
const KFLAG_REFUSED = new Set<number>([
  Kind.INT, Kind.PTR, Kind.ARRAY, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
  Kind.FUNC, Kind.FUNC_PROTO, Kind.VAR, Kind.DATASEC, Kind.FLOAT,
]);

/** Kinds the kernel wants vlen 0 for (FUNC's vlen is its linkage, checked apart). */
const VLEN_ZERO = new Set<number>([
  Kind.INT, Kind.PTR, Kind.ARRAY, Kind.FWD, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
  Kind.VAR, Kind.FLOAT, Kind.DECL_TAG, Kind.TYPE_TAG,
]);

/** A finding, kept as data until it is reported (messages are only built for the one thrown). */
interface Finding {
  code: 'E_BTF_INVALID' | 'E_BTF_TYPE_ID' | 'E_BTF_STRING';
  id: number;
  /** Builds the message (E_BTF_INVALID ones get the kind and name prefix). */
  msg: () => string;
}

function isModifier(kind: number): boolean {
  return kind === Kind.TYPEDEF || kind === Kind.VOLATILE || kind === Kind.CONST || kind === Kind.RESTRICT
    || kind === Kind.TYPE_TAG;
}

/**
 * Validate the own types of `btf` as the Linux kernel's BTF verifier
 * (kernel/bpf/btf.c) does before it accepts module BTF, kind by kind:
 *
 * - per type (the `*_check_meta()` functions): names as each kind wants them
 *   (identifier, section name, non-empty tag, anonymous, or not checked at
 *   all for INT and FLOAT), kind_flag only where the kind gives it a meaning,
 *   vlen 0 where the kind has no members, sizes (INT bits, ENUM 1/2/4/8,
 *   FLOAT 2/4/8/12/16, DATASEC entries), member offsets in order, linkages;
 * - per reference (the resolve pass): type ids and string offsets in range,
 *   no loop that does not go through a pointer to a struct, union or other
 *   sized type, members, array elements, variables and parameters of a type
 *   with a size, members inside their struct as each member kind checks it,
 *   array indexes of a regular int, DATASEC entries of kind VAR, FUNC of a
 *   FUNC_PROTO with named parameters, DECL_TAG on a tag target.
 *
 * Throws ModbtfError (code E_BTF_INVALID, E_BTF_TYPE_ID or E_BTF_STRING)
 * naming the first offending type: an out-of-range reference anywhere first,
 * then the first type breaking a per-type rule, then a loop, then the first
 * type breaking a reference rule.
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

  // Depth-first over the edges: a back edge is a loop; sizes resolve in post-order.
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  const size = new Float64Array(n);
  const stackId = new Uint32Array(n);
  const stackPos = new Uint32Array(n);
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
        size[top] = ownSize(btf, offs[top]!, size);
      }
    }
  }
  // A pointer is resolved through pointers and modifiers until a sized or other type: a cycle
  // made only of pointers and modifiers never gets there (one next type each: walk the chains).
  const walk = new Uint32Array(n); // 0 unseen, else the 1-based walk that reached it
  for (let i = 0; i < n; i++) {
    if (walk[i] || infoKind(dv.getUint32(offs[i]! + 4, le)) !== Kind.PTR) continue;
    for (let j = i; ;) {
      walk[j] = i + 1;
      const to = dv.getUint32(offs[j]! + 8, le);
      if (to < start) break;
      const k = infoKind(dv.getUint32(offs[to - start]! + 4, le));
      if (k !== Kind.PTR && !isModifier(k)) break;
      if (walk[to - start] === i + 1) {
        throw report(btf, { code: 'E_BTF_INVALID', id: to, msg: () => `loop through pointers and modifiers only (back to [${to}] from [${j + start}])` });
      }
      if (walk[to - start]) break;
      j = to - start;
    }
  }
  const r = new Resolver(btf, size);
  for (let i = 0; i < n; i++) {
    const f = r.check(start + i, offs[i]!);
    if (f) throw report(btf, f);
  }
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
  if (rule === 'free') return null;
  if (rule === 'anon') return off !== 0 ? `${what} must be anonymous` : null;
  if (off === 0) return rule === 'opt-ident' ? null : `${what} must have a name`;
  let owner: Btf = btf;
  while (off < owner.startStrOff && owner.base) owner = owner.base;
  const s = owner.strings;
  const begin = off - owner.startStrOff;
  let end = begin;
  let ok = true;
  if (rule === 'section') {
    for (; end < s.length && s[end] !== 0; end++) if (!isPrint(s[end]!)) ok = false;
  } else if (rule === 'nonempty') {
    for (; end < s.length && s[end] !== 0; end++);
  } else {
    for (; end < s.length && s[end] !== 0; end++) if (ok && !identChar(s[end]!, end === begin)) ok = false;
  }
  const len = end - begin;
  if (rule === 'nonempty') return len > 0 ? null : `${what} must not be empty`;
  if (ok && len > 0 && len < KSYM_NAME_LEN) return null;
  if (len >= KSYM_NAME_LEN) return `${what} is ${len} bytes long (at most ${KSYM_NAME_LEN - 1})`;
  return `invalid ${what} '${Buffer.from(s.buffer, s.byteOffset + begin, len).toString('latin1')}'`;
}

const isPow2 = (v: number): boolean => v !== 0 && (v & (v - 1)) === 0;

/** The kernel's btf_check_meta() and the kind's *_check_meta() on one record. */
function checkMeta(btf: Btf, id: number, o: number, info: number): Finding | null {
  const kind = infoKind(info);
  const vlen = infoVlen(info);
  const kflag = infoKflag(info);
  const u32 = (p: number): number => btf.dv.getUint32(p, btf.littleEndian);
  const at8 = u32(o + 8);
  let why = nameProblem(btf, u32(o), NAME_RULE[kind]!, 'name');
  if (why) return invalid(id, why);
  if (VLEN_ZERO.has(kind) && vlen !== 0) return invalid(id, `vlen ${vlen} must be 0`);
  if (kflag && KFLAG_REFUSED.has(kind)) return invalid(id, 'kind_flag must be 0');
  switch (kind) {
    case Kind.INT: {
      const data = u32(o + 12);
      if (data & 0xf0000000) return invalid(id, `invalid int data 0x${data.toString(16)} (bits 28-31 must be 0)`);
      const bits = data & 0xff;
      const offset = (data >>> 16) & 0xff;
      if (bits + offset > 128) return invalid(id, `nr_bits ${bits} at bits_offset ${offset} exceeds 128 bits`);
      if (Math.ceil((bits + offset) / 8) > at8) return invalid(id, `nr_bits ${bits} at bits_offset ${offset} does not fit size ${at8}`);
      const enc = (data >>> 24) & 0x0f;
      if (enc !== 0 && enc !== INT_SIGNED && enc !== INT_CHAR && enc !== INT_BOOL) return invalid(id, `unsupported encoding ${enc} (one of signed, char, bool or none)`);
      break;
    }
    case Kind.FWD:
      if (at8 !== 0) return invalid(id, `type ${at8} must be 0`);
      break;
    case Kind.ARRAY:
      if (at8 !== 0) return invalid(id, `size ${at8} must be 0`);
      if (u32(o + 12) === 0) return invalid(id, 'element type must not be void');
      if (u32(o + 16) === 0) return invalid(id, 'index type must not be void');
      break;
    case Kind.STRUCT: case Kind.UNION: {
      let last = 0;
      for (let i = 0, p = o + 12; i < vlen; i++, p += 12) {
        if ((why = nameProblem(btf, u32(p), 'opt-ident', `member #${i} name`))) return invalid(id, why);
        if (u32(p + 4) === 0) return invalid(id, `member #${i} has type void`);
        const raw = u32(p + 8);
        const off = kflag ? raw & 0xffffff : raw;
        if (kind === Kind.UNION && off !== 0) return invalid(id, `member #${i} at bit offset ${off}: union members are at offset 0`);
        if (last > off) return invalid(id, `member #${i} at bit offset ${off} comes before the previous member's ${last}`);
        if (Math.ceil(off / 8) > at8) return invalid(id, `member #${i} at bit offset ${off} is past the ${at8}-byte size`);
        last = off;
      }
      break;
    }
    case Kind.ENUM: case Kind.ENUM64: {
      if (at8 > 8 || !isPow2(at8)) return invalid(id, `size ${at8} is not 1, 2, 4 or 8`);
      const step = kind === Kind.ENUM ? 8 : 12;
      for (let i = 0, p = o + 12; i < vlen; i++, p += step) {
        if ((why = nameProblem(btf, u32(p), 'ident', `enumerator #${i} name`))) return invalid(id, why);
      }
      break;
    }
    case Kind.FUNC:
      if (vlen > 1) return invalid(id, `linkage ${vlen} is neither static (0) nor global (1)`);
      break;
    case Kind.VAR: {
      if (at8 === 0) return invalid(id, 'type must not be void');
      const linkage = u32(o + 12);
      if (linkage > 1) return invalid(id, `linkage ${linkage} is neither static (0) nor global (1)`);
      break;
    }
    case Kind.DATASEC: {
      if (at8 === 0) return invalid(id, 'size must not be 0');
      let lastEnd = 0;
      let sum = 0;
      for (let i = 0, p = o + 12; i < vlen; i++, p += 12) {
        const off = u32(p + 4);
        const sz = u32(p + 8);
        if (u32(p) === 0) return invalid(id, `entry #${i} has type void`);
        if (off < lastEnd || off >= at8) return invalid(id, `entry #${i} at offset ${off} overlaps the previous one or is past the ${at8}-byte size`);
        if (sz === 0 || sz > at8) return invalid(id, `entry #${i} has size ${sz} (1 to ${at8})`);
        lastEnd = off + sz;
        if (lastEnd > at8) return invalid(id, `entry #${i} ends at ${lastEnd}, past the ${at8}-byte size`);
        sum += sz;
      }
      if (sum > at8) return invalid(id, `entries add up to ${sum} bytes, more than the ${at8}-byte size`);
      break;
    }
    case Kind.FLOAT:
      if (at8 !== 2 && at8 !== 4 && at8 !== 8 && at8 !== 12 && at8 !== 16) return invalid(id, `size ${at8} is not 2, 4, 8, 12 or 16`);
      break;
    case Kind.DECL_TAG: {
      const idx = u32(o + 12) | 0;
      if (idx < -1) return invalid(id, `component_idx ${idx} is below -1`);
      break;
    }
    default:
      break;
  }
  return null;
}

/**
 * The kernel's resolve pass (btf_*_resolve(), btf_func_proto_check(),
 * btf_func_check() and the members' check_member()), run once every own
 * type's size is known.
 */
class Resolver {
  constructor(private readonly btf: Btf, private readonly sizes: Float64Array) {}

  private sizeOf(id: number): number {
    return id >= this.btf.startId ? this.sizes[id - this.btf.startId]! : typeSize(this.btf, id);
  }

  /** Follow modifiers from `id`; a FUNC stands for its prototype, as the kernel's resolved ids have it. */
  private target(id: number): number {
    const b = this.btf;
    for (let steps = 0; steps <= b.typeCount && id !== 0; steps++) {
      const k = b.kind(id);
      if (!isModifier(k)) return k === Kind.FUNC ? b.sizeOrType(id) : id;
      id = b.sizeOrType(id);
    }
    return id;
  }

  /** The sized type `id` stands for (through modifiers), 0 if it has no size (void, FWD, FUNC, ...). */
  private sized(id: number): number {
    const b = this.btf;
    for (let steps = 0; steps <= b.typeCount && id !== 0; steps++) {
      const k = b.kind(id);
      if (isModifier(k)) {
        id = b.sizeOrType(id);
        continue;
      }
      switch (k) {
        case Kind.INT: case Kind.PTR: case Kind.ARRAY: case Kind.STRUCT: case Kind.UNION: case Kind.ENUM:
        case Kind.ENUM64: case Kind.FLOAT:
          return this.sizeOf(id) < 0 ? 0 : id;
        default:
          return 0;
      }
    }
    return 0;
  }

  private desc(id: number): string {
    return id === 0 ? 'void' : `${kindName(this.btf.kind(id))} [${id}]`;
  }

  private static sourceOnly(kind: number): boolean {
    return kind === Kind.VAR || kind === Kind.DECL_TAG || kind === Kind.DATASEC;
  }

  /** An INT that is no bitfield: 8, 16, 32, 64 or 128 bits at offset 0. */
  private regularInt(id: number): boolean {
    const o = this.btf.owner(id);
    const data = o.u32(o.off(id) + 12);
    const bits = data & 0xff;
    return (bits & 7) === 0 && ((data >>> 16) & 0xff) === 0 && bits <= 128 && isPow2(bits >>> 3);
  }

  check(id: number, o: number): Finding | null {
    const b = this.btf;
    const u32 = (p: number): number => b.dv.getUint32(p, b.littleEndian);
    const info = u32(o + 4);
    const kind = infoKind(info);
    const vlen = infoVlen(info);
    const at8 = u32(o + 8);
    switch (kind) {
      case Kind.PTR: case Kind.TYPEDEF: case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT: case Kind.TYPE_TAG: {
        if (at8 !== 0 && Resolver.sourceOnly(b.kind(at8))) return invalid(id, `refers to ${this.desc(at8)}, which has no type of its own`);
        if (this.sized(at8)) return null;
        const t = this.target(at8);
        const k = t === 0 ? 0 : b.kind(t);
        if (t === 0 || k === Kind.FWD || k === Kind.FUNC_PROTO) return null;
        return invalid(id, `refers to ${this.desc(at8)}, which has no size and is not void, FWD or FUNC_PROTO`);
      }
      case Kind.ARRAY: {
        const elem = u32(o + 12);
        const index = u32(o + 16);
        const idx = this.sized(index);
        if (!idx || b.kind(idx) !== Kind.INT || !this.regularInt(idx)) return invalid(id, `index type ${this.desc(index)} is not a regular int`);
        const e = this.sized(elem);
        if (!e || Resolver.sourceOnly(b.kind(elem))) return invalid(id, `element type ${this.desc(elem)} has no size`);
        if (b.kind(e) === Kind.INT && !this.regularInt(e)) return invalid(id, `element type ${this.desc(elem)} is an int bitfield`);
        const nelems = u32(o + 20);
        const es = this.sizeOf(e);
        if (nelems && es > Math.floor(U32_MAX / nelems)) return invalid(id, `${nelems} elements of ${es} bytes overflow 32 bits`);
        return null;
      }
      case Kind.STRUCT: case Kind.UNION:
        return this.members(id, o, info);
      case Kind.VAR:
        if (Resolver.sourceOnly(b.kind(at8)) || !this.sized(at8)) return invalid(id, `type ${this.desc(at8)} has no size`);
        return null;
      case Kind.DATASEC:
        for (let i = 0, p = o + 12; i < vlen; i++, p += 12) {
          const v = u32(p);
          if (b.kind(v) !== Kind.VAR) return invalid(id, `entry #${i} is ${this.desc(v)}, not a VAR`);
          const vt = this.sized(b.sizeOrType(v));
          const vs = vt ? this.sizeOf(vt) : -1;
          if (vs < 0) return invalid(id, `entry #${i}: VAR [${v}] has no size`);
          if (u32(p + 8) < vs) return invalid(id, `entry #${i} has size ${u32(p + 8)}, less than its VAR's ${vs}`);
        }
        return null;
      case Kind.FUNC: {
        if (at8 === 0 || b.kind(at8) !== Kind.FUNC_PROTO) return invalid(id, `type ${this.desc(at8)} is not a FUNC_PROTO`);
        const po = b.owner(at8);
        const base = po.off(at8);
        const n = po.vlen(at8);
        for (let i = 0; i < n; i++) {
          if (po.u32(base + 12 + i * 8) === 0 && po.u32(base + 16 + i * 8) !== 0) return invalid(id, `parameter #${i} of ${this.desc(at8)} has no name`);
        }
        return null;
      }
      case Kind.FUNC_PROTO: {
        if (at8 !== 0 && (Resolver.sourceOnly(b.kind(at8)) || !this.sized(at8))) return invalid(id, `return type ${this.desc(at8)} has no size`);
        let n = vlen;
        if (n && u32(o + 12 + (n - 1) * 8 + 4) === 0) {
          if (u32(o + 12 + (n - 1) * 8) !== 0) return invalid(id, 'vararg parameter must be anonymous');
          n--;
        }
        for (let i = 0, p = o + 12; i < n; i++, p += 8) {
          const t = u32(p + 4);
          if (t !== 0 && Resolver.sourceOnly(b.kind(t))) return invalid(id, `parameter #${i} has type ${this.desc(t)}`);
          const why = nameProblem(b, u32(p), 'opt-ident', `parameter #${i} name`);
          if (why) return invalid(id, why);
          if (!this.sized(t)) return invalid(id, `parameter #${i} has type ${this.desc(t)}, which has no size`);
        }
        return null;
      }
      case Kind.DECL_TAG: {
        const tk = at8 === 0 ? 0 : b.kind(at8);
        if (tk !== Kind.FUNC && tk !== Kind.STRUCT && tk !== Kind.UNION && tk !== Kind.VAR && tk !== Kind.TYPEDEF) {
          return invalid(id, `tags ${this.desc(at8)}, not a FUNC, STRUCT, UNION, VAR or TYPEDEF`);
        }
        const idx = u32(o + 12) | 0;
        if (idx === -1) return null;
        if (tk === Kind.VAR || tk === Kind.TYPEDEF) return invalid(id, `component_idx ${idx} on ${this.desc(at8)}, which has no components`);
        const owner = tk === Kind.FUNC ? b.sizeOrType(at8) : at8;
        const n = owner === 0 ? 0 : b.vlen(owner);
        if (idx >= n) return invalid(id, `component_idx ${idx} is past the ${n} components of ${this.desc(owner)}`);
        return null;
      }
      default:
        return null;
    }
  }

  /** btf_struct_resolve(): each member as its (resolved) type's check_member / check_kflag_member does it. */
  private members(id: number, o: number, info: number): Finding | null {
    const b = this.btf;
    const u32 = (p: number): number => b.dv.getUint32(p, b.littleEndian);
    const size = u32(o + 8);
    const kflag = infoKflag(info);
    const vlen = infoVlen(info);
    for (let i = 0, p = o + 12; i < vlen; i++, p += 12) {
      const type = u32(p + 4);
      const raw = u32(p + 8);
      const tk = b.kind(type);
      const m = this.sized(type);
      if (Resolver.sourceOnly(tk) || !m) return invalid(id, `member #${i} has type ${this.desc(type)}, which has no size`);
      const mk = b.kind(m);
      const off = kflag ? raw & 0xffffff : raw;
      const bitSize = kflag ? raw >>> 24 : 0;
      const byteOff = Math.floor(off / 8);
      const exceeds = (): Finding => invalid(id, `member #${i} (${this.desc(m)}) at bit offset ${off} runs past the ${size}-byte size`);
      const aligned = (): Finding | null => (off % 8 ? invalid(id, `member #${i} at bit offset ${off} is not byte aligned`) : null);
      if (mk === Kind.INT) {
        const mo = b.owner(m);
        const data = mo.u32(mo.off(m) + 12);
        const bits = data & 0xff;
        let bitOff: number;
        let nrBits: number;
        if (!kflag) {
          bitOff = off + ((data >>> 16) & 0xff);
          nrBits = bits;
        } else {
          if (!this.regularInt(m)) return invalid(id, `member #${i} is a bitfield of ${this.desc(m)}, which is not a regular int`);
          if (!bitSize) {
            const a = aligned();
            if (a) return a;
            nrBits = bits;
          } else if (bitSize > bits) {
            return invalid(id, `member #${i} is a ${bitSize}-bit field of a ${bits}-bit int`);
          } else {
            nrBits = bitSize;
          }
          bitOff = off;
        }
        const copy = nrBits + (bitOff & 7);
        if (copy > 128) return invalid(id, `member #${i} spans ${copy} bits, more than 128`);
        const bo = Math.floor(bitOff / 8);
        if (size < bo || size - bo < Math.ceil(copy / 8)) return exceeds();
        continue;
      }
      if (kflag && bitSize && mk !== Kind.ENUM && mk !== Kind.ENUM64) {
        return invalid(id, `member #${i} is a bitfield of ${this.desc(m)}`);
      }
      if (mk === Kind.ENUM || mk === Kind.ENUM64) {
        if (kflag) {
          let nr = bitSize;
          if (!nr) {
            const a = aligned();
            if (a) return a;
            nr = 32;
          } else if (nr > 32) {
            return invalid(id, `member #${i} is a ${nr}-bit field of an enum (at most 32)`);
          }
          if (size < Math.ceil((off + nr) / 8)) return exceeds();
          continue;
        }
        const a = aligned();
        if (a) return a;
        if (size - byteOff < this.sizeOf(m)) return exceeds();
        continue;
      }
      if (mk === Kind.FLOAT) {
        const fs = this.sizeOf(m);
        const align = Math.min(PTR_SIZE, fs) * 8;
        if (off % align) return invalid(id, `member #${i} (${this.desc(m)}) at bit offset ${off} is not ${align / 8}-byte aligned`);
        if (byteOff + fs > size) return exceeds();
        continue;
      }
      // PTR, ARRAY, STRUCT, UNION
      const a = aligned();
      if (a) return a;
      if (size - byteOff < (mk === Kind.PTR ? PTR_SIZE : this.sizeOf(m))) return exceeds();
    }
    return null;
  }
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

