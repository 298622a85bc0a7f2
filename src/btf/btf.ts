/**
 * Raw BTF, parsed without copying: the type and string sections stay views of
 * the input, an index of type record offsets lives in a typed array, and
 * everything else is decoded on demand.
 */
import { ModbtfError, type ErrorLocation } from '../errors.js';
import {
  BTF_HEADER_LEN, BTF_MAGIC, BTF_VERSION, FIXED_SIZE, KIND_MAX, LAYOUT, MEMBER_SIZE,
  Kind, kindName,
} from './kinds.js';
import { StrIndex, hashBytes } from './strindex.js';

export interface BtfParseOptions extends ErrorLocation {
  /** The base BTF this one is split on; ids and string offsets continue after it. */
  base?: Btf | null;
  /**
   * Split BTF whose base is not at hand: index the types without checking the
   * string section's first byte (ids then count from 1; only kinds and sizes
   * are meaningful).
   */
  detached?: boolean;
}

export interface BtfHeader {
  magic: number;
  version: number;
  flags: number;
  hdrLen: number;
  typeOff: number;
  typeLen: number;
  strOff: number;
  strLen: number;
}

const HOST_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

const latin1 = (bytes: Uint8Array, start: number, end: number): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');

export class Btf {
  /** Byte order of the source (and of anything derived from it). */
  readonly littleEndian: boolean;
  readonly base: Btf | null;
  /** First type id owned by this BTF (1 for base BTF, base.typeCount for split). */
  readonly startId: number;
  /** First string offset owned by this BTF (0 for base BTF, base.strEnd for split). */
  readonly startStrOff: number;
  /** Number of types this BTF itself holds. */
  readonly nrTypes: number;
  /** One past the last valid type id (base types included, void id 0 counted). */
  readonly typeCount: number;
  /** One past the last valid string offset (base strings included). */
  readonly strEnd: number;
  /** This BTF's own type section. */
  readonly types: Uint8Array;
  /** This BTF's own string section. */
  readonly strings: Uint8Array;
  /** Byte offset in `types` of the record of type `startId + i`. */
  readonly offsets: Uint32Array;
  readonly header: BtfHeader;
  readonly where: ErrorLocation;
  /** DataView over `types`. */
  readonly dv: DataView;

  private strIndex: StrIndex | null = null;

  private constructor(
    header: BtfHeader, types: Uint8Array, strings: Uint8Array, offsets: Uint32Array,
    le: boolean, base: Btf | null, where: ErrorLocation,
  ) {
    this.header = header;
    this.types = types;
    this.strings = strings;
    this.offsets = offsets;
    this.littleEndian = le;
    this.base = base;
    this.where = where;
    this.startId = base ? base.typeCount : 1;
    this.startStrOff = base ? base.strEnd : 0;
    this.nrTypes = offsets.length;
    this.typeCount = this.startId + this.nrTypes;
    this.strEnd = this.startStrOff + strings.length;
    this.dv = new DataView(types.buffer, types.byteOffset, types.byteLength);
  }

  /** Parse raw BTF (header, type section, string section); throws ModbtfError on malformed input. */
  static parse(raw: Uint8Array, opts: BtfParseOptions = {}): Btf {
    const where: ErrorLocation = { file: opts.file, section: opts.section };
    const base = opts.base ?? null;
    const fail = (code: 'E_BTF_TRUNCATED' | 'E_BTF_MAGIC' | 'E_BTF_HEADER', msg: string): never => {
      throw new ModbtfError(code, msg, where);
    };
    if (raw.length < 4) fail('E_BTF_TRUNCATED', `truncated BTF header (${raw.length} bytes)`);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    let le: boolean;
    if (dv.getUint16(0, true) === BTF_MAGIC) le = true;
    else if (dv.getUint16(0, false) === BTF_MAGIC) le = false;
    else {
      const m = dv.getUint16(0, true).toString(16).padStart(4, '0');
      return fail('E_BTF_MAGIC', `bad BTF magic 0x${m} (expected 0xeb9f)`);
    }
    if (raw.length < 8) fail('E_BTF_TRUNCATED', `truncated BTF header (${raw.length} bytes)`);
    const version = raw[2]!;
    const flags = raw[3]!;
    const hdrLen = dv.getUint32(4, le);
    if (version !== BTF_VERSION) fail('E_BTF_HEADER', `unsupported BTF version ${version}`);
    if (flags !== 0) fail('E_BTF_HEADER', `unsupported BTF flags 0x${flags.toString(16)}`);
    if (hdrLen < BTF_HEADER_LEN) fail('E_BTF_HEADER', `BTF hdr_len ${hdrLen} is less than ${BTF_HEADER_LEN}`);
    if (raw.length < BTF_HEADER_LEN || hdrLen > raw.length) {
      fail('E_BTF_TRUNCATED', `truncated BTF header (hdr_len ${hdrLen}, ${raw.length} bytes)`);
    }
    for (let i = BTF_HEADER_LEN; i < hdrLen; i++) {
      if (raw[i] !== 0) fail('E_BTF_HEADER', `unsupported BTF header: non-zero byte at offset ${i} past the known fields`);
    }
    const header: BtfHeader = {
      magic: BTF_MAGIC, version, flags, hdrLen,
      typeOff: dv.getUint32(8, le), typeLen: dv.getUint32(12, le),
      strOff: dv.getUint32(16, le), strLen: dv.getUint32(20, le),
    };
    const dataLen = raw.length - hdrLen;
    const { typeOff, typeLen, strOff, strLen } = header;
    if (typeOff % 4 !== 0) fail('E_BTF_HEADER', `type section offset ${typeOff} is not 4-byte aligned`);
    if (typeOff + typeLen > dataLen) {
      fail('E_BTF_TRUNCATED', `type section [${typeOff}, ${typeOff + typeLen}) runs past the end of the data (${dataLen} bytes)`);
    }
    if (strOff + strLen > dataLen) {
      fail('E_BTF_TRUNCATED', `string section [${strOff}, ${strOff + strLen}) runs past the end of the data (${dataLen} bytes)`);
    }
    if (typeOff < strOff ? typeOff + typeLen > strOff : strOff + strLen > typeOff) {
      if (typeLen !== 0 && strLen !== 0) fail('E_BTF_HEADER', 'type and string sections overlap');
    }
    const types = raw.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen);
    const strings = raw.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
    const baseless = !base && !opts.detached;
    // Split BTF may have no strings of its own (a module with no types: libbpf and the kernel accept it).
    const emptySplit = strLen === 0 && !baseless;
    if (!emptySplit && (strLen === 0 || (baseless && strings[0] !== 0) || strings[strLen - 1] !== 0)) {
      throw new ModbtfError('E_BTF_STRING', strLen === 0
        ? 'empty string section'
        : baseless && strings[0] !== 0
          ? 'string section does not start with a NUL byte'
          : 'string section does not end with a NUL byte', where);
    }
    const offsets = indexTypes(types, le, base ? base.typeCount : 1, where);
    return new Btf(header, types, strings, offsets, le, base, where);
  }

  /** A new Btf over replacement sections (same byte order and base). */
  static fromSections(types: Uint8Array, strings: Uint8Array, le: boolean, base: Btf | null, where: ErrorLocation = {}, hdrLen = BTF_HEADER_LEN): Btf {
    const header: BtfHeader = {
      magic: BTF_MAGIC, version: BTF_VERSION, flags: 0, hdrLen,
      typeOff: 0, typeLen: types.length, strOff: types.length, strLen: strings.length,
    };
    const offsets = indexTypes(types, le, base ? base.typeCount : 1, where);
    return new Btf(header, types, strings, offsets, le, base, where);
  }

  /**
   * Serialize: header (as long as the source's, extra bytes zero, as libbpf
   * keeps it), type section, string section, in this BTF's byte order.
   */
  toBytes(): Uint8Array {
    return serializeSections(this.types, this.strings, this.littleEndian, this.header.hdrLen);
  }

  isSplit(): boolean {
    return this.base !== null;
  }

  // ---- per-type accessors (ids anywhere in base or split) ----

  /** The Btf that owns type `id` (this or one of its bases). */
  owner(id: number): Btf {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    let b: Btf = this;
    while (id < b.startId) {
      if (!b.base) break;
      b = b.base;
    }
    return b;
  }

  hasType(id: number): boolean {
    return id >= 0 && id < this.typeCount;
  }

  /** Byte offset of own type `id` in `types`. */
  off(id: number): number {
    return this.offsets[id - this.startId]!;
  }

  info(id: number): number {
    if (id === 0) return 0;
    if (id < this.startId) return this.owner(id).info(id);
    return this.dv.getUint32(this.offsets[id - this.startId]! + 4, this.littleEndian);
  }

  kind(id: number): number {
    return (this.info(id) >>> 24) & 0x1f;
  }

  vlen(id: number): number {
    return this.info(id) & 0xffff;
  }

  kflag(id: number): boolean {
    return (this.info(id) >>> 31) !== 0;
  }

  nameOff(id: number): number {
    if (id === 0) return 0;
    if (id < this.startId) return this.owner(id).nameOff(id);
    return this.dv.getUint32(this.offsets[id - this.startId]!, this.littleEndian);
  }

  /** The u32 at +8: size for INT/ENUM/STRUCT/UNION/DATASEC/FLOAT/ENUM64, type id for the rest. */
  sizeOrType(id: number): number {
    if (id === 0) return 0;
    if (id < this.startId) return this.owner(id).sizeOrType(id);
    return this.dv.getUint32(this.offsets[id - this.startId]! + 8, this.littleEndian);
  }

  name(id: number): string {
    return this.str(this.nameOff(id));
  }

  /** u32 at byte `pos` of the own type section. */
  u32(pos: number): number {
    return this.dv.getUint32(pos, this.littleEndian);
  }

  /** Byte size of the record of own type `id`. */
  recordSize(id: number): number {
    const i = id - this.startId;
    const end = i + 1 < this.offsets.length ? this.offsets[i + 1]! : this.types.length;
    return end - this.offsets[i]!;
  }

  /** The raw record bytes of own type `id` (a view). */
  record(id: number): Uint8Array {
    const o = this.off(id);
    return this.types.subarray(o, o + this.recordSize(id));
  }

  // ---- strings ----

  /** Whether `off` is a valid string offset (base strings included). */
  hasString(off: number): boolean {
    return off >= 0 && off < this.strEnd;
  }

  /** The NUL-terminated string at absolute offset `off` (latin1, so bytes round-trip). */
  str(off: number): string {
    if (off < this.startStrOff) {
      return this.base!.str(off);
    }
    const s = this.strings;
    const start = off - this.startStrOff;
    if (start >= s.length) {
      throw new ModbtfError('E_BTF_STRING', `string offset ${off} is out of range (string section ends at ${this.strEnd})`, this.where);
    }
    const end = s.indexOf(0, start);
    return latin1(s, start, end < 0 ? s.length : end);
  }

  /** Bytes of the string at `off`, without the NUL (a view). */
  strBytes(off: number): Uint8Array {
    if (off < this.startStrOff) return this.base!.strBytes(off);
    const s = this.strings;
    const start = off - this.startStrOff;
    const end = s.indexOf(0, start);
    return s.subarray(start, end < 0 ? s.length : end);
  }

  /**
   * Offset of the first whole string equal to `s` in this BTF or its base
   * (base first), -1 if none. The empty string is offset 0.
   */
  findString(s: string): number {
    if (s === '') return 0;
    const key = Buffer.from(s, 'latin1');
    return this.findStringBytes(key, 0, key.length);
  }

  /** findString for the bytes key[start, end) (no NUL among them). */
  findStringBytes(key: Uint8Array, start: number, end: number, hash = hashBytes(key, start, end)): number {
    if (end === start) return 0;
    if (this.base) {
      const b = this.base.findStringBytes(key, start, end, hash);
      if (b >= 0) return b;
    }
    this.strIndex ??= StrIndex.ofSection(this.strings);
    const at = this.strIndex.find(key, start, end, hash);
    return at < 0 ? -1 : this.startStrOff + at;
  }

  // ---- field iteration (table driven, see kinds.ts) ----

  /**
   * Call `fn(pos)` for every u32 holding a type id in own type `id`'s record,
   * where `pos` is the byte offset in `types`. Order: the +8 type field,
   * fixed extra ids (ARRAY: elem, index), then each vlen entry's ids.
   */
  forEachIdField(id: number, fn: (pos: number) => void): void {
    const o = this.off(id);
    const info = this.dv.getUint32(o + 4, this.littleEndian);
    const l = LAYOUT[(info >>> 24) & 0x1f]!;
    if (l.typeIsId) fn(o + 8);
    for (const e of l.extraIds) fn(o + e);
    if (l.memberIds.length) {
      const vlen = info & 0xffff;
      let p = o + 12 + l.extra;
      for (let i = 0; i < vlen; i++, p += l.member) {
        for (const m of l.memberIds) fn(p + m);
      }
    }
  }

  /** Call `fn(pos)` for every u32 holding a string offset in own type `id`'s record. */
  forEachStrField(id: number, fn: (pos: number) => void): void {
    const o = this.off(id);
    fn(o);
    const info = this.dv.getUint32(o + 4, this.littleEndian);
    const l = LAYOUT[(info >>> 24) & 0x1f]!;
    if (l.memberStrs.length) {
      const vlen = info & 0xffff;
      let p = o + 12 + l.extra;
      for (let i = 0; i < vlen; i++, p += l.member) {
        for (const m of l.memberStrs) fn(p + m);
      }
    }
  }

  /**
   * Positions (byte offsets in `types`) of every type-id field of every own
   * type, in type order: the index relocation and renumbering run over.
   */
  idFieldPositions(): Uint32Array {
    return this.fieldPositions(true);
  }

  /** Positions of every string-offset field of every own type, in type order. */
  strFieldPositions(): Uint32Array {
    return this.fieldPositions(false);
  }

  private fieldPositions(ids: boolean): Uint32Array {
    const dv = this.dv;
    const le = this.littleEndian;
    const offs = this.offsets;
    let out = new Uint32Array(Math.max(16, offs.length * 2));
    let n = 0;
    const push = (p: number): void => {
      if (n === out.length) {
        const g = new Uint32Array(out.length * 2);
        g.set(out);
        out = g;
      }
      out[n++] = p;
    };
    for (let i = 0; i < offs.length; i++) {
      const o = offs[i]!;
      const info = dv.getUint32(o + 4, le);
      const l = LAYOUT[(info >>> 24) & 0x1f]!;
      const fields = ids ? l.memberIds : l.memberStrs;
      if (ids) {
        if (l.typeIsId) push(o + 8);
        for (const e of l.extraIds) push(o + e);
      } else {
        push(o);
      }
      if (fields.length) {
        const vlen = info & 0xffff;
        let p = o + 12 + l.extra;
        for (let j = 0; j < vlen; j++, p += l.member) {
          for (const m of fields) push(p + m);
        }
      }
    }
    return out.subarray(0, n);
  }

  /** Error helper that carries this BTF's location. */
  error(code: ConstructorParameters<typeof ModbtfError>[0], msg: string, typeId?: number): ModbtfError {
    return new ModbtfError(code, msg, { ...this.where, typeId });
  }

  /**
   * Check that every type-id field is a valid id and every string offset a
   * valid offset. Parsing alone checks structure only (fast for vmlinux).
   */
  checkReferences(): void {
    const dv = this.dv;
    const le = this.littleEndian;
    for (let id = this.startId; id < this.typeCount; id++) {
      this.forEachIdField(id, (pos) => {
        const v = dv.getUint32(pos, le);
        if (v >= this.typeCount) {
          throw this.error('E_BTF_TYPE_ID', `${kindName(this.kind(id))} refers to type id ${v}, out of range (last id ${this.typeCount - 1})`, id);
        }
      });
      this.forEachStrField(id, (pos) => {
        const v = dv.getUint32(pos, le);
        if (v >= this.strEnd) {
          throw this.error('E_BTF_STRING', `${kindName(this.kind(id))} has string offset ${v}, out of range (string section ends at ${this.strEnd})`, id);
        }
      });
    }
  }
}

/** Walk the type section and return the offset of every record. */
function indexTypes(types: Uint8Array, le: boolean, startId: number, where: ErrorLocation): Uint32Array {
  const dv = new DataView(types.buffer, types.byteOffset, types.byteLength);
  const len = types.length;
  // A record is at least 12 bytes: this bounds the count without a second pass.
  let offsets = new Uint32Array(Math.min(Math.floor(len / 12), 1 << 16) || 1);
  let n = 0;
  let p = 0;
  // Fast path: a native-order, aligned section read as u32 words (cheaper than DataView calls
  // while the code is still cold, which is all of a short CLI run).
  const words = le === HOST_LE && types.byteOffset % 4 === 0 ? new Uint32Array(types.buffer, types.byteOffset, len >>> 2) : null;
  while (p < len) {
    if (p + 12 > len) {
      throw new ModbtfError('E_BTF_TRUNCATED', `type record at offset ${p} is truncated (type section is ${len} bytes)`, { ...where, typeId: startId + n });
    }
    const info = words ? words[(p >>> 2) + 1]! : dv.getUint32(p + 4, le);
    const kind = (info >>> 24) & 0x1f;
    if (kind === 0 || kind > KIND_MAX) {
      throw new ModbtfError('E_BTF_KIND', `unknown BTF kind ${kind}`, { ...where, typeId: startId + n });
    }
    const size = FIXED_SIZE[kind]! + (info & 0xffff) * MEMBER_SIZE[kind]!;
    if (p + size > len) {
      throw new ModbtfError('E_BTF_VLEN', `${kindName(kind)} with vlen ${info & 0xffff} runs past the end of the type section`, { ...where, typeId: startId + n });
    }
    if (n === offsets.length) {
      const g = new Uint32Array(Math.min(offsets.length * 2, Math.floor(len / 12) + 1));
      g.set(offsets);
      offsets = g;
    }
    offsets[n++] = p;
    p += size;
  }
  return offsets.slice(0, n);
}

/** 24-byte header + types + strings, in the given byte order. */
export function serializeSections(types: Uint8Array, strings: Uint8Array, le: boolean, hdrLen = BTF_HEADER_LEN): Uint8Array {
  const out = new Uint8Array(hdrLen + types.length + strings.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, BTF_MAGIC, le);
  out[2] = BTF_VERSION;
  out[3] = 0;
  dv.setUint32(4, hdrLen, le);
  dv.setUint32(8, 0, le);
  dv.setUint32(12, types.length, le);
  dv.setUint32(16, types.length, le);
  dv.setUint32(20, strings.length, le);
  out.set(types, hdrLen);
  out.set(strings, hdrLen + types.length);
  return out;
}

export { Kind };
