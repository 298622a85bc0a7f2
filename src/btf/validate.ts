/**
 * The checks the kernel's BTF verifier makes before it accepts BTF, done
 * before modbtf writes anything: a module whose BTF fails them is reported,
 * not rewritten (the kernel would silently drop its BTF).
 */
import { Btf } from './btf.js';
import { Kind, kindName } from './kinds.js';

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

/**
 * Validate the own types of `btf` as the kernel would: names valid for
 * their kind, type ids and string offsets in range, no vlen where none is
 * allowed, struct members inside the struct, and no loop that does not go
 * through a pointer. Throws ModbtfError (code E_BTF_INVALID, E_BTF_TYPE_ID
 * or E_BTF_STRING) naming the first offending type.
 */
export function validateBtf(btf: Btf): void {
  btf.requireKnownKinds('check it as the kernel would');
  btf.checkReferences();
  for (let id = btf.startId; id < btf.typeCount; id++) checkMeta(btf, id);
  checkLoops(btf);
  for (let id = btf.startId; id < btf.typeCount; id++) checkMembers(btf, id);
}

function bad(btf: Btf, id: number, msg: string): never {
  throw btf.error('E_BTF_INVALID', `${kindName(btf.kind(id))} '${btf.nameOff(id) ? btf.name(id) : '(anon)'}': ${msg}`, id);
}

function checkName(btf: Btf, id: number, off: number, rule: NameRule, what: string): void {
  if (rule === 'any') return;
  if (rule === 'none') {
    if (off !== 0) bad(btf, id, `${what} must be anonymous`);
    return;
  }
  if (off === 0) {
    if (rule === 'optional-ident') return;
    bad(btf, id, `${what} must have a name`);
  }
  const s = btf.strBytes(off);
  const ok = rule === 'section' ? validSectionName(s) : validIdentifier(s);
  if (!ok) bad(btf, id, `invalid ${what} '${Buffer.from(s).toString('latin1')}'`);
}

function checkMeta(btf: Btf, id: number): void {
  const kind = btf.kind(id);
  const vlen = btf.vlen(id);
  const rule = nameRule(kind);
  checkName(btf, id, btf.nameOff(id), kind === Kind.INT ? 'any' : rule, 'name');
  const o = btf.off(id);
  switch (kind) {
    case Kind.INT: case Kind.PTR: case Kind.ARRAY: case Kind.TYPEDEF: case Kind.VOLATILE:
    case Kind.CONST: case Kind.RESTRICT: case Kind.FUNC: case Kind.VAR: case Kind.FLOAT:
    case Kind.DECL_TAG: case Kind.TYPE_TAG: case Kind.FWD:
      if (vlen !== 0) bad(btf, id, `vlen ${vlen} must be 0`);
      break;
    case Kind.STRUCT: case Kind.UNION:
      for (let i = 0, p = o + 12; i < vlen; i++, p += 12) checkName(btf, id, btf.u32(p), 'optional-ident', `member #${i} name`);
      break;
    case Kind.ENUM: case Kind.ENUM64: {
      const step = kind === Kind.ENUM ? 8 : 12;
      for (let i = 0, p = o + 12; i < vlen; i++, p += step) checkName(btf, id, btf.u32(p), 'ident', `enumerator #${i} name`);
      break;
    }
    case Kind.FUNC_PROTO:
      for (let i = 0, p = o + 12; i < vlen; i++, p += 8) {
        const nameOff = btf.u32(p);
        const type = btf.u32(p + 4);
        if (type === 0 && i !== vlen - 1) bad(btf, id, `parameter #${i} has type void before the last one`);
        if (type === 0 && nameOff !== 0) bad(btf, id, 'vararg parameter must be anonymous');
        checkName(btf, id, nameOff, 'optional-ident', `parameter #${i} name`);
      }
      break;
    default:
      break;
  }
  if (kind === Kind.INT) {
    const size = btf.sizeOrType(id);
    const data = btf.u32(o + 12);
    const bits = data & 0xff;
    const offset = (data >>> 16) & 0xff;
    if (size > 16 || (size & (size - 1)) !== 0 || size === 0) bad(btf, id, `invalid int size ${size}`);
    if (bits > 128 || bits + offset > size * 8) bad(btf, id, `nr_bits ${bits} at bits_offset ${offset} does not fit size ${size}`);
  }
  if (kind === Kind.FLOAT) {
    const size = btf.sizeOrType(id);
    if (![2, 4, 8, 12, 16].includes(size)) bad(btf, id, `invalid float size ${size}`);
  }
}

/** Edges the kernel resolves by value (anything but through PTR or FUNC/FUNC_PROTO). */
function valueEdges(btf: Btf, id: number, out: number[]): void {
  out.length = 0;
  const kind = btf.kind(id);
  const owner = btf.owner(id);
  const o = owner.off(id);
  switch (kind) {
    case Kind.TYPEDEF: case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT:
    case Kind.TYPE_TAG: case Kind.VAR: case Kind.DECL_TAG:
      out.push(owner.u32(o + 8));
      break;
    case Kind.ARRAY:
      out.push(owner.u32(o + 12));
      break;
    case Kind.STRUCT: case Kind.UNION: {
      const vlen = owner.vlen(id);
      for (let i = 0; i < vlen; i++) out.push(owner.u32(o + 12 + i * 12 + 4));
      break;
    }
    case Kind.DATASEC: {
      const vlen = owner.vlen(id);
      for (let i = 0; i < vlen; i++) out.push(owner.u32(o + 12 + i * 12));
      break;
    }
    default:
      break;
  }
}

/** Iterative DFS over by-value edges; a back edge is a loop the kernel rejects. */
function checkLoops(btf: Btf): void {
  const n = btf.typeCount;
  const start = btf.startId;
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  const stackId: number[] = [];
  const stackEdges: number[][] = [];
  const stackPos: number[] = [];
  for (let root = start; root < n; root++) {
    if (state[root]) continue;
    const e: number[] = [];
    valueEdges(btf, root, e);
    stackId.push(root); stackEdges.push(e); stackPos.push(0); state[root] = 1;
    while (stackId.length) {
      const top = stackId.length - 1;
      const edges = stackEdges[top]!;
      if (stackPos[top]! < edges.length) {
        const next = edges[stackPos[top]!++]!;
        if (next < start || next === 0) continue; // base types are the base's business
        if (state[next] === 1) bad(btf, next, `loop through non-pointer types (back to [${next}] from [${stackId[top]}])`);
        if (state[next] === 2) continue;
        const ne: number[] = [];
        valueEdges(btf, next, ne);
        stackId.push(next); stackEdges.push(ne); stackPos.push(0); state[next] = 1;
      } else {
        state[stackId.pop()!] = 2;
        stackEdges.pop(); stackPos.pop();
      }
    }
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

function checkMembers(btf: Btf, id: number): void {
  const kind = btf.kind(id);
  if (kind !== Kind.STRUCT && kind !== Kind.UNION) return;
  const size = btf.sizeOrType(id);
  const kflag = btf.kflag(id);
  const vlen = btf.vlen(id);
  const o = btf.off(id);
  for (let i = 0; i < vlen; i++) {
    const p = o + 12 + i * 12;
    const type = btf.u32(p + 4);
    const raw = btf.u32(p + 8);
    const bitOff = kflag ? raw & 0xffffff : raw;
    const bitSize = kflag ? raw >>> 24 : 0;
    const msize = typeSize(btf, type);
    if (msize < 0) {
      const k = btf.kind(type);
      // A flexible array of an incomplete element is still rejected; void/fwd/func members always are.
      bad(btf, id, `member #${i} has type [${type}] ${type ? kindName(k) : 'void'} with no size`);
    }
    const end = bitSize ? bitOff + bitSize : bitOff + msize * 8;
    if (!bitSize && bitOff % 8 !== 0) bad(btf, id, `member #${i} at bit offset ${bitOff} is not byte aligned`);
    if (end > size * 8) bad(btf, id, `member #${i} ends at bit ${end}, past the ${size}-byte size`);
  }
}
