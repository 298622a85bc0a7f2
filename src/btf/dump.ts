/**
 * Text and JSON dumps in the format of `bpftool btf dump file FILE` (raw)
 * and `bpftool -j btf dump file FILE`, for the types a Btf owns (with a base,
 * ids continue after it, as with `bpftool -B BASE`). Strings are latin1 so
 * any bytes a name holds come out as they are.
 */
import type { Btf } from './btf.js';
import { Kind, KIND_NAMES, infoKind, infoVlen } from './kinds.js';

const KIND_STR: readonly string[] = ['UNKNOWN', ...KIND_NAMES.slice(1)];

function intEncoding(enc: number): string {
  switch (enc) {
    case 0: return '(none)';
    case 1: return 'SIGNED';
    case 2: return 'CHAR';
    case 4: return 'BOOL';
    default: return 'UNKN';
  }
}

function varLinkage(l: number): string {
  return l === 0 ? 'static' : l === 1 ? 'global' : l === 2 ? 'extern' : '(unknown)';
}

function funcLinkage(vlen: number): string {
  return vlen === 0 ? 'static' : vlen === 1 ? 'global' : vlen === 2 ? 'extern' : '(unknown)';
}

function name(btf: Btf, off: number): string {
  if (off === 0) return '(anon)';
  return btf.hasString(off) ? btf.str(off) : '(invalid)';
}

type JsonValue = string | number | bigint | boolean | JsonValue[] | { [k: string]: JsonValue };
export type DumpJsonType = { [k: string]: JsonValue };

/** One type as bpftool prints it: a header line plus one line per member. */
function dumpType(btf: Btf, id: number, json: boolean): string | DumpJsonType {
  const o = btf.off(id);
  const u32 = (p: number): number => btf.u32(p);
  const info = u32(o + 4);
  const kind = infoKind(info);
  const vlen = infoVlen(info);
  const kflag = info >>> 31 === 1;
  const sizeOrType = u32(o + 8);
  const j: DumpJsonType = { id, kind: KIND_STR[kind] ?? 'UNKNOWN', name: name(btf, u32(o)) };
  let s = `[${id}] ${KIND_STR[kind] ?? 'UNKNOWN'} '${j.name as string}'`;
  switch (kind) {
    case Kind.INT: {
      const v = u32(o + 12);
      const enc = intEncoding((v >>> 24) & 0x0f);
      s += ` size=${sizeOrType} bits_offset=${(v >>> 16) & 0xff} nr_bits=${v & 0xff} encoding=${enc}`;
      Object.assign(j, { size: sizeOrType, bits_offset: (v >>> 16) & 0xff, nr_bits: v & 0xff, encoding: enc });
      break;
    }
    case Kind.PTR: case Kind.CONST: case Kind.VOLATILE: case Kind.RESTRICT: case Kind.TYPEDEF:
    case Kind.TYPE_TAG:
      s += ` type_id=${sizeOrType}`;
      j.type_id = sizeOrType;
      break;
    case Kind.ARRAY: {
      const t = u32(o + 12), it = u32(o + 16), n = u32(o + 20);
      s += ` type_id=${t} index_type_id=${it} nr_elems=${n}`;
      Object.assign(j, { type_id: t, index_type_id: it, nr_elems: n });
      break;
    }
    case Kind.STRUCT: case Kind.UNION: {
      s += ` size=${sizeOrType} vlen=${vlen}`;
      const members: DumpJsonType[] = [];
      for (let i = 0, p = o + 12; i < vlen; i++, p += 12) {
        const mname = name(btf, u32(p));
        const type = u32(p + 4);
        const raw = u32(p + 8);
        const bitOff = kflag ? raw & 0xffffff : raw;
        const bitSize = kflag ? raw >>> 24 : 0;
        s += `\n\t'${mname}' type_id=${type} bits_offset=${bitOff}`;
        const m: DumpJsonType = { name: mname, type_id: type, bits_offset: bitOff };
        if (bitSize) {
          s += ` bitfield_size=${bitSize}`;
          m.bitfield_size = bitSize;
        }
        members.push(m);
      }
      Object.assign(j, { size: sizeOrType, vlen, members });
      break;
    }
    case Kind.ENUM: {
      const enc = kflag ? 'SIGNED' : 'UNSIGNED';
      s += ` encoding=${enc} size=${sizeOrType} vlen=${vlen}`;
      const values: DumpJsonType[] = [];
      for (let i = 0, p = o + 12; i < vlen; i++, p += 8) {
        const vname = name(btf, u32(p));
        const val = kflag ? u32(p + 4) | 0 : u32(p + 4);
        s += `\n\t'${vname}' val=${val}`;
        // bpftool's JSON widens the (signed) 32-bit value to u64 for unsigned enums.
        values.push({ name: vname, val: kflag ? val : BigInt.asUintN(64, BigInt(val | 0)) });
      }
      Object.assign(j, { encoding: enc, size: sizeOrType, vlen, values });
      break;
    }
    case Kind.ENUM64: {
      const enc = kflag ? 'SIGNED' : 'UNSIGNED';
      s += ` encoding=${enc} size=${sizeOrType} vlen=${vlen}`;
      const values: DumpJsonType[] = [];
      for (let i = 0, p = o + 12; i < vlen; i++, p += 12) {
        const vname = name(btf, u32(p));
        const v = (BigInt(u32(p + 8)) << 32n) | BigInt(u32(p + 4));
        const val = kflag ? BigInt.asIntN(64, v) : v;
        s += `\n\t'${vname}' val=${val}${kflag ? 'LL' : 'ULL'}`;
        values.push({ name: vname, val });
      }
      Object.assign(j, { encoding: enc, size: sizeOrType, vlen, values });
      break;
    }
    case Kind.FWD: {
      const fk = kflag ? 'union' : 'struct';
      s += ` fwd_kind=${fk}`;
      j.fwd_kind = fk;
      break;
    }
    case Kind.FUNC: {
      const l = funcLinkage(vlen);
      s += ` type_id=${sizeOrType} linkage=${l}`;
      Object.assign(j, { type_id: sizeOrType, linkage: l });
      break;
    }
    case Kind.FUNC_PROTO: {
      s += ` ret_type_id=${sizeOrType} vlen=${vlen}`;
      const params: DumpJsonType[] = [];
      for (let i = 0, p = o + 12; i < vlen; i++, p += 8) {
        const pname = name(btf, u32(p));
        s += `\n\t'${pname}' type_id=${u32(p + 4)}`;
        params.push({ name: pname, type_id: u32(p + 4) });
      }
      Object.assign(j, { ret_type_id: sizeOrType, vlen, params });
      break;
    }
    case Kind.VAR: {
      const l = varLinkage(u32(o + 12));
      s += ` type_id=${sizeOrType}, linkage=${l}`;
      Object.assign(j, { type_id: sizeOrType, linkage: l });
      break;
    }
    case Kind.DATASEC: {
      s += ` size=${sizeOrType} vlen=${vlen}`;
      const vars: DumpJsonType[] = [];
      for (let i = 0, p = o + 12; i < vlen; i++, p += 12) {
        const t = u32(p), off = u32(p + 4), size = u32(p + 8);
        s += `\n\ttype_id=${t} offset=${off} size=${size}`;
        if (btf.hasType(t) && t !== 0) s += ` (${KIND_STR[btf.kind(t)] ?? 'UNKNOWN'} '${name(btf, btf.nameOff(t))}')`;
        vars.push({ type_id: t, offset: off, size });
      }
      Object.assign(j, { size: sizeOrType, vlen, vars });
      break;
    }
    case Kind.FLOAT:
      s += ` size=${sizeOrType}`;
      j.size = sizeOrType;
      break;
    case Kind.DECL_TAG: {
      const idx = u32(o + 12) | 0;
      s += ` type_id=${sizeOrType} component_idx=${idx}`;
      Object.assign(j, { type_id: sizeOrType, component_idx: idx });
      break;
    }
    default:
      break;
  }
  return json ? j : s;
}

/** Print the own types of `btf` as `bpftool btf dump file` does, one output call per type. */
export function dumpRaw(btf: Btf, out: (text: string) => void): void {
  for (let id = btf.startId; id < btf.typeCount; id++) out(dumpType(btf, id, false) as string);
}

/** JSON text with bigints written as plain numbers, as bpftool writes 64-bit values. */
export function toJsonText(v: JsonValue): string {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return `[${v.map(toJsonText).join(',')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${toJsonText(x)}`).join(',')}}`;
  return JSON.stringify(v);
}

/** The object `bpftool -j btf dump file` prints (64-bit enum values as bigint; see toJsonText). */
export function dumpJson(btf: Btf): { types: DumpJsonType[] } {
  const types: DumpJsonType[] = [];
  for (let id = btf.startId; id < btf.typeCount; id++) types.push(dumpType(btf, id, true) as DumpJsonType);
  return { types };
}
