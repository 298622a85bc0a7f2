/**
 * The checks the kernel's BTF verifier makes before it accepts BTF, done
 * before modbtf writes anything: a module whose BTF fails them is reported,
 * not rewritten (the kernel would silently drop its BTF).
 */
import { Btf, firstIdAtLeast, firstStrAtLeast } from './btf.js';
import { ModbtfError } from '../errors.js';
import { INT_BOOL, INT_CHAR, INT_SIGNED, KIND_MAX, Kind, infoKflag, infoKind, infoVlen, kindName } from './kinds.js';

const KSYM_NAME_LEN = 512;
const PTR_SIZE = 8;

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

const kindTable = (kinds: number[]): Uint8Array => {
  const t = new Uint8Array(KIND_MAX + 1);
  for (const k of kinds) t[k] = 1;
  return t;
};

/** Kinds whose kind_flag the kernel refuses (struct, union, enum, fwd use it; tags since 6.15). */
const KFLAG_REFUSED = kindTable([
  Kind.INT, Kind.PTR, Kind.ARRAY, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
  Kind.FUNC, Kind.FUNC_PROTO, Kind.VAR, Kind.DATASEC, Kind.FLOAT,
]);

/** Kinds the kernel wants vlen 0 for (FUNC's vlen is its linkage, checked apart). */
const VLEN_ZERO = kindTable([
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
 * Validate the own types of `btf` as the Linux kernel does before it accepts
 * a module's BTF (btf_parse_module() in kernel/bpf/btf.c), no stricter and no
 * looser, plus the one thing modbtf needs to work on it:
 *
 * - every type id and string offset in range (the kernel checks string
 *   offsets, but type ids only against the largest possible id; modbtf
 *   follows every reference, so a dangling one is refused);
 * - each record as btf_check_meta() and its kind's `*_check_meta()` check it:
 *   names as each kind wants them (identifier, section name, non-empty tag,
 *   anonymous, or not checked at all for INT and FLOAT), kind_flag only
 *   where the kind gives it a meaning, vlen 0 where the kind has no members,
 *   INT bits and encoding, ENUM sizes 1/2/4/8, FLOAT sizes 2/4/8/12/16,
 *   DATASEC entries, member offsets in order and inside the struct, union
 *   members at 0, FUNC and VAR linkage;
 * - modifier chains as btf_check_type_tags() checks them: TYPE_TAGs first, at
 *   most 32 modifiers, so no loop of modifiers.
 *
 * The kernel does not resolve module BTF (the resolve pass of btf_check_all_types()
 * runs for BPF programs' BTF only): loops through structs, member sizes,
 * array element and index types are not checked for a module, and neither
 * are they here.
 *
 * Throws ModbtfError (code E_BTF_INVALID, E_BTF_TYPE_ID or E_BTF_STRING)
 * naming the first offending type: an out-of-range reference anywhere first,
 * then the first type breaking a per-type rule, then a modifier chain.
 */
export function validateBtf(btf: Btf): void {
  // Kinds modbtf does not know (2026 format): their fields cannot be checked.
  btf.requireKnownKinds('check it as the kernel would');
  const start = btf.startId;
  const n = btf.nrTypes;
  const w = btf.words();
  const offs = btf.offsets;
  const typeCount = btf.typeCount;
  const strEnd = btf.strEnd;
  const names = new NameCheck(btf);
  let refErr: Finding | null = null;
  let metaErr: Finding | null = null;
  try {
    for (let i = 0; i < n; i++) {
      const o = offs[i]! >>> 2;
      const info = w[o + 1]!;
      const kind = infoKind(info);
      const vlen = infoVlen(info);
      // references: type ids, then string offsets, in record order
      const badId = firstIdAtLeast(w, o, kind, vlen, typeCount);
      if (badId >= 0) {
        const id = start + i;
        const v = w[badId]!;
        refErr = { code: 'E_BTF_TYPE_ID', id, msg: () => `${kindName(kind)} refers to type id ${v}, out of range (last id ${typeCount - 1})` };
        break;
      }
      const badStr = firstStrAtLeast(w, o, kind, vlen, strEnd);
      if (badStr >= 0) {
        const id = start + i;
        const v = w[badStr]!;
        refErr = { code: 'E_BTF_STRING', id, msg: () => `${kindName(kind)} has string offset ${v}, out of range (string section ends at ${strEnd})` };
        break;
      }
      if (!metaErr) metaErr = checkMeta(btf, names, w, start + i, o, info);
    }
  } finally {
    names.done();
  }
  if (refErr) throw report(btf, refErr);
  if (metaErr) throw report(btf, metaErr);
  const tagErr = checkTypeTags(btf, w);
  if (tagErr) throw report(btf, tagErr);
}

/**
 * btf_check_type_tags(): in a chain of modifiers, TYPE_TAGs come first, and a
 * chain walked from a modifier holds at most 32 of them (which also ends a
 * loop of modifiers). As in the kernel, a walk stops at a type already walked
 * from (or a base type) once that type is checked.
 */
function checkTypeTags(btf: Btf, w: Uint32Array): Finding | null {
  const start = btf.startId;
  const offs = btf.offsets;
  let good = start - 1;
  for (let i = start; i < btf.typeCount; i++) {
    let o = offs[i - start]! >>> 2;
    let k = infoKind(w[o + 1]!);
    if (!isModifier(k)) continue;
    let limit = 32;
    let cur = i;
    let inTags = k === Kind.TYPE_TAG;
    while (isModifier(k)) {
      if (!limit--) return invalid(i, 'more than 32 modifiers in a chain, or a loop of modifiers');
      if (k === Kind.TYPE_TAG) {
        if (!inTags) return invalid(i, `TYPE_TAG [${cur}] comes after another modifier (type tags must precede modifiers)`);
      } else {
        inTags = false;
      }
      if (cur <= good) break;
      cur = w[o + 2]!;
      if (cur === 0) {
        k = 0;
      } else if (cur < start) {
        // a base type: its kind is checked, then the walk stops (cur <= good)
        k = btf.kind(cur);
      } else {
        o = offs[cur - start]! >>> 2;
        k = infoKind(w[o + 1]!);
      }
    }
    good = i;
  }
  return null;
}

function report(btf: Btf, f: Finding): ModbtfError {
  if (f.code !== 'E_BTF_INVALID') return btf.error(f.code, f.msg(), f.id);
  return btf.error('E_BTF_INVALID', `${kindName(btf.kind(f.id))} '${btf.nameOff(f.id) ? btf.name(f.id) : '(anon)'}': ${f.msg()}`, f.id);
}

function invalid(id: number, msg: string): Finding {
  return { code: 'E_BTF_INVALID', id, msg: () => msg };
}

let nameScratch = new Uint8Array(0);

/** Byte classes: bit 0 a first identifier character, bit 1 a later one, bit 2 printable. */
const CHAR_CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  CHAR_CLASS[c] = (identChar(c, true) ? 1 : 0) | (identChar(c, false) ? 2 : 0) | (isPrint(c) ? 4 : 0);
}

/**
 * Name checks of one validation with the verdicts on the BTF's own strings
 * remembered per offset (names repeat: member names above all). Per own
 * string offset: bit 0 identifier checked, bit 1 identifier ok, bit 2 section
 * name checked, bit 3 section name ok.
 */
class NameCheck {
  /** Verdicts per own string offset (a buffer shared by validations, zero between them). */
  readonly own: Uint8Array;
  readonly ownStart: number;
  constructor(private readonly btf: Btf) {
    const n = btf.strings.length;
    if (nameScratch.length < n) nameScratch = new Uint8Array(Math.max(n, nameScratch.length * 2));
    this.own = nameScratch;
    this.ownStart = btf.startStrOff;
  }

  /** Zero the verdicts for the next validation. */
  done(): void {
    this.own.fill(0, 0, this.btf.strings.length);
  }

  /** Whether the string at `off` passes `rule` (the message comes from nameProblem). */
  ok(off: number, rule: NameRule): boolean {
    if (rule === 'free') return true;
    if (rule === 'anon') return off === 0;
    if (off === 0) return rule === 'opt-ident';
    if (rule === 'nonempty') return nameProblem(this.btf, off, rule, '') === null;
    const section = rule === 'section';
    const rel = off - this.ownStart;
    if (rel >= 0) {
      const c = this.own[rel]!;
      const checked = section ? 4 : 1;
      if (c & checked) return (c & (checked << 1)) !== 0;
      const good = scanName(this.btf.strings, rel, section);
      this.own[rel] = c | checked | (good ? checked << 1 : 0);
      return good;
    }
    let owner: Btf = this.btf;
    while (off < owner.startStrOff && owner.base) owner = owner.base;
    return scanName(owner.strings, off - owner.startStrOff, section);
  }
}

/** Whether the string at `begin` of `s` is a valid identifier (or section name): non-empty, < 512 bytes. */
function scanName(s: Uint8Array, begin: number, section: boolean): boolean {
  const len = s.length;
  if (begin >= len || s[begin] === 0) return false;
  if (section) {
    let e = begin;
    for (; e < len; e++) {
      const c = s[e]!;
      if (c === 0) break;
      if (!(CHAR_CLASS[c]! & 4)) return false;
    }
    return e - begin < KSYM_NAME_LEN;
  }
  if (!(CHAR_CLASS[s[begin]!]! & 1)) return false;
  let e = begin + 1;
  for (; e < len; e++) {
    const c = s[e]!;
    if (c === 0) break;
    if (!(CHAR_CLASS[c]! & 2)) return false;
  }
  return e - begin < KSYM_NAME_LEN;
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

/** The finding for a name `NameCheck.ok` refused. */
function nameFinding(btf: Btf, id: number, off: number, rule: NameRule, what: string): Finding | null {
  const why = nameProblem(btf, off, rule, what);
  return why ? invalid(id, why) : null;
}

const isPow2 = (v: number): boolean => v !== 0 && (v & (v - 1)) === 0;

/** The kernel's btf_check_meta() and the kind's *_check_meta() on one record (at word `o` of `w`). */
function checkMeta(btf: Btf, names: NameCheck, w: Uint32Array, id: number, o: number, info: number): Finding | null {
  const kind = infoKind(info);
  const vlen = infoVlen(info);
  const kflag = infoKflag(info);
  const at8 = w[o + 2]!;
  const rule = NAME_RULE[kind]!;
  let f: Finding | null;
  if (!names.ok(w[o]!, rule) && (f = nameFinding(btf, id, w[o]!, rule, 'name'))) return f;
  if (VLEN_ZERO[kind] && vlen !== 0) return invalid(id, `vlen ${vlen} must be 0`);
  if (kflag && KFLAG_REFUSED[kind]) return invalid(id, 'kind_flag must be 0');
  switch (kind) {
    case Kind.INT: {
      const data = w[o + 3]!;
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
      if (w[o + 3] === 0) return invalid(id, 'element type must not be void');
      if (w[o + 4] === 0) return invalid(id, 'index type must not be void');
      break;
    case Kind.STRUCT: case Kind.UNION: {
      const own = names.own;
      const ownStart = names.ownStart;
      let last = 0;
      for (let i = 0, p = o + 3; i < vlen; i++, p += 3) {
        const nameOff = w[p]!;
        // (the verdict remembered for this offset read in place: member names repeat)
        if (nameOff !== 0 && (nameOff < ownStart || (own[nameOff - ownStart]! & 3) !== 3)
          && !names.ok(nameOff, 'opt-ident') && (f = nameFinding(btf, id, nameOff, 'opt-ident', `member #${i} name`))) return f;
        if (w[p + 1] === 0) return invalid(id, `member #${i} has type void`);
        const raw = w[p + 2]!;
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
      const step = kind === Kind.ENUM ? 2 : 3;
      const own = names.own;
      const ownStart = names.ownStart;
      for (let i = 0, p = o + 3; i < vlen; i++, p += step) {
        const nameOff = w[p]!;
        if ((nameOff === 0 || nameOff < ownStart || (own[nameOff - ownStart]! & 3) !== 3)
          && !names.ok(nameOff, 'ident') && (f = nameFinding(btf, id, nameOff, 'ident', `enumerator #${i} name`))) return f;
      }
      break;
    }
    case Kind.FUNC:
      if (vlen > 1) return invalid(id, `linkage ${vlen} is neither static (0) nor global (1)`);
      break;
    case Kind.VAR: {
      if (at8 === 0) return invalid(id, 'type must not be void');
      const linkage = w[o + 3]!;
      if (linkage > 1) return invalid(id, `linkage ${linkage} is neither static (0) nor global (1)`);
      break;
    }
    case Kind.DATASEC: {
      if (at8 === 0) return invalid(id, 'size must not be 0');
      let lastEnd = 0;
      let sum = 0;
      for (let i = 0, p = o + 3; i < vlen; i++, p += 3) {
        const off = w[p + 1]!;
        const sz = w[p + 2]!;
        if (w[p] === 0) return invalid(id, `entry #${i} has type void`);
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
      const idx = w[o + 3]! | 0;
      if (idx < -1) return invalid(id, `component_idx ${idx} is below -1`);
      break;
    }
    default:
      break;
  }
  return null;
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

