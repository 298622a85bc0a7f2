/**
 * Raw BTF, parsed without copying: the type and string sections stay views of
 * the input, an index of type record offsets lives in a typed array, and
 * everything else is decoded on demand.
 */
import { ModbtfError, type ErrorLocation } from '../errors.js';
import {
  HOST_LE, BTF_HEADER_LEN, BTF_HEADER_LEN_LAYOUT, BTF_LAYOUT_ENTRY, BTF_MAGIC, BTF_MAX_KIND, BTF_MAX_VLEN,
  BTF_VERSION, FIXED_SIZE, FIXED_WORDS, MEMBER_ID_WORD, MEMBER_SIZE, MEMBER_STR_WORD, MEMBER_WORDS, NO_FIELD,
  TYPE_IS_ID, Kind, isKnownKind, kindName,
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
  /** Kind layout section (2026 header, hdr_len >= 32); both 0 when there is none. */
  layoutOff: number;
  layoutLen: number;
}

/** One entry of the kind layout section (`struct btf_layout`). */
export interface KindLayoutEntry {
  /** Bytes after the common 12-byte record. */
  infoSz: number;
  /** Bytes per vlen entry. */
  elemSz: number;
  flags: number;
}

/**
 * Record size per kind: `fixed[kind]` (12 + info_sz; 0 when the kind cannot be
 * sized) plus vlen x `member[kind]`. Kinds modbtf knows use its own table,
 * whatever the layout says (as libbpf does); the others the layout's entry.
 */
interface KindSizes {
  fixed: Uint16Array;
  member: Uint16Array;
  /** The layout the unknown kinds were sized from (null: none). */
  layout: Uint8Array | null;
  /** Split BTF parsed without its base (whose layout would size its unknown kinds). */
  detached?: boolean;
}

function kindSizes(layout: Uint8Array | null): KindSizes {
  const fixed = new Uint16Array(BTF_MAX_KIND + 1);
  const member = new Uint16Array(BTF_MAX_KIND + 1);
  fixed.set(FIXED_SIZE);
  member.set(MEMBER_SIZE);
  if (layout) {
    const n = Math.min(layout.length / BTF_LAYOUT_ENTRY, BTF_MAX_KIND + 1);
    for (let k = 0; k < n; k++) {
      if (isKnownKind(k)) continue;
      const infoSz = layout[k * BTF_LAYOUT_ENTRY]!;
      const elemSz = layout[k * BTF_LAYOUT_ENTRY + 1]!;
      if (infoSz % 4 !== 0 || elemSz % 4 !== 0) continue;
      fixed[k] = 12 + infoSz;
      member[k] = elemSz;
    }
  }
  return { fixed, member, layout };
}

const NO_LAYOUT_SIZES = kindSizes(null);

/** Why a record of `kind` cannot be sized, for the error message. */
function unsizedReason(kind: number, sizes: KindSizes): string {
  const l = sizes.layout;
  if (!l) return `unknown BTF kind ${kind} (no kind layout section to size it${sizes.detached ? '; split BTF uses its base\'s, not at hand here' : ''})`;
  const n = l.length / BTF_LAYOUT_ENTRY;
  if (kind >= n) return `unknown BTF kind ${kind} (the kind layout section describes kinds 0-${n - 1} only)`;
  const infoSz = l[kind * BTF_LAYOUT_ENTRY]!;
  const elemSz = l[kind * BTF_LAYOUT_ENTRY + 1]!;
  return `unknown BTF kind ${kind}: its kind layout entry (info_sz ${infoSz}, elem_sz ${elemSz}) is not in 4-byte units`;
}

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
  /** This BTF's own kind layout section (a view; null when it has none). */
  readonly layout: Uint8Array | null;
  /** First own type id of a kind modbtf does not know (sized from a layout), 0 if none. */
  readonly firstUnknownKind: number;
  readonly where: ErrorLocation;
  /** DataView over `types`. */
  readonly dv: DataView;

  private strIndex: StrIndex | null = null;
  private wordsCache: Uint32Array | null = null;
  /** The bytes toBytes() would write, when this Btf was made over them (see fromSerialized). */
  private serialized: Uint8Array | null = null;

  private constructor(
    header: BtfHeader, types: Uint8Array, strings: Uint8Array, offsets: Uint32Array,
    le: boolean, base: Btf | null, where: ErrorLocation, layout: Uint8Array | null, firstUnknownKind: number,
  ) {
    this.header = header;
    this.layout = layout;
    this.firstUnknownKind = firstUnknownKind;
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
    for (let i = BTF_HEADER_LEN_LAYOUT; i < hdrLen; i++) {
      if (raw[i] !== 0) fail('E_BTF_HEADER', `unsupported BTF header: non-zero byte at offset ${i} past the known fields`);
    }
    // A header shorter than 32 bytes has no layout fields (libbpf reads what hdr_len covers).
    const header: BtfHeader = {
      magic: BTF_MAGIC, version, flags, hdrLen,
      typeOff: dv.getUint32(8, le), typeLen: dv.getUint32(12, le),
      strOff: dv.getUint32(16, le), strLen: dv.getUint32(20, le),
      layoutOff: hdrLen >= 28 ? dv.getUint32(24, le) : 0,
      layoutLen: hdrLen >= BTF_HEADER_LEN_LAYOUT ? dv.getUint32(28, le) : 0,
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
    const layout = parseLayoutSection(raw, header, dataLen, fail);
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
    // Split BTF without a layout of its own sizes unknown kinds by its base's (as libbpf does).
    let sizes = sizesFor(layout ?? base?.layout ?? null);
    if (opts.detached && !layout) sizes = { ...sizes, detached: true };
    const { offsets, firstUnknown } = indexTypes(types, le, base ? base.typeCount : 1, where, sizes);
    return new Btf(header, types, strings, offsets, le, base, where, layout, firstUnknown);
  }

  /**
   * A new Btf over replacement sections (same byte order and base): header,
   * types, then the kind layout section if `layout` is given (the header
   * then at least 32 bytes), then strings.
   */
  static fromSections(
    types: Uint8Array, strings: Uint8Array, le: boolean, base: Btf | null, where: ErrorLocation = {},
    hdrLen = BTF_HEADER_LEN, layout: Uint8Array | null = null,
  ): Btf {
    const lay = layout && layout.length ? layout : null;
    const len = lay ? Math.max(hdrLen, BTF_HEADER_LEN_LAYOUT) : hdrLen;
    const layLen = lay ? lay.length : 0;
    const header: BtfHeader = {
      magic: BTF_MAGIC, version: BTF_VERSION, flags: 0, hdrLen: len,
      typeOff: 0, typeLen: types.length, strOff: types.length + layLen, strLen: strings.length,
      layoutOff: lay ? types.length : 0, layoutLen: layLen,
    };
    const sizes = sizesFor(lay ?? base?.layout ?? null);
    const { offsets, firstUnknown } = indexTypes(types, le, base ? base.typeCount : 1, where, sizes);
    return new Btf(header, types, strings, offsets, le, base, where, lay, firstUnknown);
  }

  /**
   * A Btf over `raw`, bytes serializeSections() wrote, whose type records
   * start at `offsets` (known to whoever wrote them, so the type section is
   * not walked again) and are all of kinds modbtf knows. Its sections are
   * views of `raw`, and bytesView() is `raw`.
   */
  static fromSerialized(raw: Uint8Array, offsets: Uint32Array, le: boolean, base: Btf | null, where: ErrorLocation = {}): Btf {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const hdrLen = dv.getUint32(4, le);
    const typeLen = dv.getUint32(12, le);
    const strOff = dv.getUint32(16, le);
    const strLen = dv.getUint32(20, le);
    const layoutLen = hdrLen >= BTF_HEADER_LEN_LAYOUT ? dv.getUint32(28, le) : 0;
    const header: BtfHeader = {
      magic: BTF_MAGIC, version: BTF_VERSION, flags: 0, hdrLen,
      typeOff: 0, typeLen, strOff, strLen,
      layoutOff: layoutLen ? typeLen : 0, layoutLen,
    };
    const layout = layoutLen ? raw.subarray(hdrLen + typeLen, hdrLen + typeLen + layoutLen) : null;
    const btf = new Btf(header, raw.subarray(hdrLen, hdrLen + typeLen), raw.subarray(hdrLen + strOff, hdrLen + strOff + strLen),
      offsets, le, base, where, layout, 0);
    btf.serialized = raw;
    return btf;
  }

  /**
   * Serialize: header (as long as the source's, extra bytes zero, as libbpf
   * keeps it), type section, kind layout section (if this BTF has one),
   * string section, in this BTF's byte order.
   */
  toBytes(): Uint8Array {
    return serializeSections(this.types, this.strings, this.littleEndian, this.header.hdrLen, this.layout);
  }

  /**
   * toBytes() without a copy when this BTF's sections already lie, with a
   * header equal to the one toBytes() writes, in one buffer (parsed from such
   * bytes, or built): a view of those bytes. Otherwise toBytes().
   */
  bytesView(): Uint8Array {
    if (this.serialized) return this.serialized;
    const t = this.types;
    const s = this.strings;
    const h = BTF_HEADER_LEN;
    if (!this.layout && this.header.hdrLen === h && t.buffer === s.buffer && s.byteOffset === t.byteOffset + t.length && t.byteOffset >= h) {
      const view = new Uint8Array(t.buffer, t.byteOffset - h, h + t.length + s.length);
      const want = serializeSections(EMPTY, EMPTY, this.littleEndian, h);
      const dv = new DataView(want.buffer);
      dv.setUint32(12, t.length, this.littleEndian);
      dv.setUint32(16, t.length, this.littleEndian);
      dv.setUint32(20, s.length, this.littleEndian);
      let same = true;
      for (let i = 0; i < h && same; i++) same = view[i] === want[i];
      if (same) return view;
    }
    return this.toBytes();
  }

  /** The entries of this BTF's own kind layout section (empty when it has none). */
  layoutEntries(): KindLayoutEntry[] {
    const l = this.layout;
    if (!l) return [];
    const dv = new DataView(l.buffer, l.byteOffset, l.byteLength);
    const out: KindLayoutEntry[] = [];
    for (let p = 0; p + BTF_LAYOUT_ENTRY <= l.length; p += BTF_LAYOUT_ENTRY) {
      out.push({ infoSz: l[p]!, elemSz: l[p + 1]!, flags: dv.getUint16(p + 2, this.littleEndian) });
    }
    return out;
  }

  /**
   * Throw E_BTF_KIND naming the first own type of a kind modbtf does not know:
   * its size comes from the kind layout section, but not which of its fields
   * are type ids or string offsets, so it cannot be rewritten. `action` says
   * what could not be done ("distill it").
   */
  requireKnownKinds(action: string): void {
    const id = this.firstUnknownKind;
    if (id !== 0) throw this.unknownKindError(id, this.kind(id), action);
  }

  private unknownKindError(id: number, kind: number, action: string): ModbtfError {
    return this.error('E_BTF_KIND',
      `BTF kind ${kind} is unknown to modbtf: cannot ${action} (the kind layout section gives its size, not which of its fields are type ids or strings)`, id);
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

  /**
   * The own type section as u32 words in host order (every field of a record
   * is a u32, and records start at 4-byte offsets): a view of `types` when it
   * is aligned and in host order (made once), else a converted copy made on
   * each call (which does not see later writes to `types`).
   */
  words(): Uint32Array {
    if (this.wordsCache) return this.wordsCache;
    const t = this.types;
    const n = t.length >>> 2;
    if (this.littleEndian === HOST_LE && t.byteOffset % 4 === 0) {
      this.wordsCache = new Uint32Array(t.buffer, t.byteOffset, n);
      return this.wordsCache;
    }
    const w = new Uint32Array(n);
    const dv = this.dv;
    const le = this.littleEndian;
    for (let i = 0; i < n; i++) w[i] = dv.getUint32(i * 4, le);
    return w;
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
    return (this.info(id) >>> 24) & BTF_MAX_KIND;
  }

  vlen(id: number): number {
    return this.info(id) & BTF_MAX_VLEN;
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
    const kind = (info >>> 24) & BTF_MAX_KIND;
    if (!isKnownKind(kind)) throw this.unknownKindError(id, kind, 'follow its type references');
    if (TYPE_IS_ID[kind]) fn(o + 8);
    if (kind === Kind.ARRAY) {
      fn(o + 12);
      fn(o + 16);
    }
    const m = MEMBER_ID_WORD[kind]!;
    if (m !== NO_FIELD) {
      const vlen = info & BTF_MAX_VLEN;
      const step = MEMBER_WORDS[kind]! * 4;
      for (let i = 0, p = o + FIXED_WORDS[kind]! * 4 + m * 4; i < vlen; i++, p += step) fn(p);
    }
  }

  /** Call `fn(pos)` for every u32 holding a string offset in own type `id`'s record. */
  forEachStrField(id: number, fn: (pos: number) => void): void {
    const o = this.off(id);
    const info = this.dv.getUint32(o + 4, this.littleEndian);
    const kind = (info >>> 24) & BTF_MAX_KIND;
    if (!isKnownKind(kind)) throw this.unknownKindError(id, kind, 'rewrite its strings');
    fn(o);
    const m = MEMBER_STR_WORD[kind]!;
    if (m !== NO_FIELD) {
      const vlen = info & BTF_MAX_VLEN;
      const step = MEMBER_WORDS[kind]! * 4;
      for (let i = 0, p = o + FIXED_WORDS[kind]! * 4 + m * 4; i < vlen; i++, p += step) fn(p);
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
    const w = this.words();
    const offs = this.offsets;
    // Two passes over the record headers: count, then fill an array of exactly that size.
    let count = 0;
    for (let i = 0; i < offs.length; i++) {
      const info = w[(offs[i]! >>> 2) + 1]!;
      const kind = (info >>> 24) & BTF_MAX_KIND;
      if (!isKnownKind(kind)) throw this.unknownKindError(this.startId + i, kind, ids ? 'renumber its type references' : 'rewrite its strings');
      const m = ids ? MEMBER_ID_WORD[kind]! : MEMBER_STR_WORD[kind]!;
      count += (ids ? TYPE_IS_ID[kind]! + (kind === Kind.ARRAY ? 2 : 0) : 1) + (m === NO_FIELD ? 0 : info & BTF_MAX_VLEN);
    }
    const out = new Uint32Array(count);
    let n = 0;
    for (let i = 0; i < offs.length; i++) {
      const o = offs[i]!;
      const info = w[(o >>> 2) + 1]!;
      const kind = (info >>> 24) & BTF_MAX_KIND;
      const m = ids ? MEMBER_ID_WORD[kind]! : MEMBER_STR_WORD[kind]!;
      if (ids) {
        if (TYPE_IS_ID[kind]) out[n++] = o + 8;
        if (kind === Kind.ARRAY) {
          out[n++] = o + 12;
          out[n++] = o + 16;
        }
      } else {
        out[n++] = o;
      }
      if (m !== NO_FIELD) {
        const vlen = info & BTF_MAX_VLEN;
        const step = MEMBER_WORDS[kind]! * 4;
        for (let j = 0, p = o + FIXED_WORDS[kind]! * 4 + m * 4; j < vlen; j++, p += step) out[n++] = p;
      }
    }
    return out;
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
    const w = this.words();
    const offs = this.offsets;
    const typeCount = this.typeCount;
    const strEnd = this.strEnd;
    const strErr = (id: number, v: number): ModbtfError =>
      this.error('E_BTF_STRING', `${kindName(this.kind(id))} has string offset ${v}, out of range (string section ends at ${strEnd})`, id);
    const idErr = (id: number, v: number): ModbtfError =>
      this.error('E_BTF_TYPE_ID', `${kindName(this.kind(id))} refers to type id ${v}, out of range (last id ${typeCount - 1})`, id);
    for (let i = 0; i < offs.length; i++) {
      const id = this.startId + i;
      const o = offs[i]! >>> 2;
      const info = w[o + 1]!;
      const kind = (info >>> 24) & BTF_MAX_KIND;
      // Only the name of a kind modbtf does not know is known to be a string offset (libbpf checks no more).
      if (w[o]! >= strEnd && !isKnownKind(kind)) throw strErr(id, w[o]!);
      if (!isKnownKind(kind)) continue;
      const badId = firstIdAtLeast(w, o, kind, info & BTF_MAX_VLEN, typeCount);
      if (badId >= 0) throw idErr(id, w[badId]!);
      const badStr = firstStrAtLeast(w, o, kind, info & BTF_MAX_VLEN, strEnd);
      if (badStr >= 0) throw strErr(id, w[badStr]!);
    }
  }
}

function sizesFor(layout: Uint8Array | null): KindSizes {
  return layout ? kindSizes(layout) : NO_LAYOUT_SIZES;
}

/**
 * The kind layout section, checked as libbpf checks it: 4-byte aligned, whole
 * 4-byte entries, inside the data, between the type and string sections.
 */
function parseLayoutSection(
  raw: Uint8Array, h: BtfHeader, dataLen: number,
  fail: (code: 'E_BTF_TRUNCATED' | 'E_BTF_HEADER', msg: string) => never,
): Uint8Array | null {
  const { layoutOff: off, layoutLen: len } = h;
  if (len === 0) return null;
  const range = `kind layout section [${off}, ${off + len})`;
  if (off % 4 !== 0) fail('E_BTF_HEADER', `kind layout section offset ${off} is not 4-byte aligned`);
  if (len % BTF_LAYOUT_ENTRY !== 0) fail('E_BTF_HEADER', `kind layout section length ${len} is not a whole number of ${BTF_LAYOUT_ENTRY}-byte entries`);
  if (off + len > dataLen) fail('E_BTF_TRUNCATED', `${range} runs past the end of the data (${dataLen} bytes)`);
  if (off < h.typeOff + h.typeLen || off + len > h.strOff) {
    fail('E_BTF_HEADER', `${range} is not between the type section [${h.typeOff}, ${h.typeOff + h.typeLen}) and the string section at ${h.strOff}`);
  }
  return raw.subarray(h.hdrLen + off, h.hdrLen + off + len);
}

/**
 * Walk the type section and return the offset of every record, and the
 * first id of a kind modbtf does not know (0 if none), sized by `sizes`.
 */
function indexTypes(types: Uint8Array, le: boolean, startId: number, where: ErrorLocation, sizes: KindSizes): { offsets: Uint32Array; firstUnknown: number } {
  const len = types.length;
  // A record is at least 12 bytes: this bounds the count. Up to OFFSETS_SCRATCH records go in a
  // reused array; more (a type section larger than any kernel's) in arrays grown as they fill.
  const bound = Math.floor(len / 12) + 1;
  if (offsetsScratch.length < Math.min(bound, OFFSETS_SCRATCH)) offsetsScratch = new Uint32Array(Math.min(bound, OFFSETS_SCRATCH));
  let offsets = offsetsScratch;
  // Fast path: a native-order, aligned section read as u32 words (cheaper than DataView calls
  // while the code is still cold, which is all of a short CLI run).
  const words = le === HOST_LE && types.byteOffset % 4 === 0 ? new Uint32Array(types.buffer, types.byteOffset, len >>> 2) : null;
  let n = 0;
  walkEnd = 0;
  walkUnknown = 0;
  for (;;) {
    n = walkRecords(types, words, le, startId, where, sizes, offsets, n);
    if (walkEnd >= len) break;
    const g = new Uint32Array(Math.min(offsets.length * 2, bound));
    g.set(offsets);
    offsets = g;
  }
  return { offsets: offsets.slice(0, n), firstUnknown: walkUnknown };
}

/** Records indexTypes keeps offsets of in a reused array (a vmlinux has 100,000-150,000). */
const OFFSETS_SCRATCH = 1 << 18;
let offsetsScratch = new Uint32Array(0);

/** Where walkRecords stopped: the next record's offset, and the first id of an unknown kind (0: none). */
let walkEnd = 0;
let walkUnknown = 0;

/**
 * indexTypes' walk: the offsets of records `n` on (the one at walkEnd first) into `offsets`,
 * until the section or `offsets` ends; returns the count. Apart from indexTypes, so that
 * nothing follows the loop in the function V8 compiles while the loop runs (a vmlinux's
 * hundred thousand records, in the first call): code after the loop, not yet run there, would
 * be thrown away the first time it runs (results go to module variables, which need no such code).
 */
function walkRecords(
  types: Uint8Array, words: Uint32Array | null, le: boolean, startId: number, where: ErrorLocation, sizes: KindSizes,
  offsets: Uint32Array, n: number,
): number {
  const fixed = sizes.fixed;
  const member = sizes.member;
  const dv = words ? null : new DataView(types.buffer, types.byteOffset, types.byteLength);
  const len = types.length;
  const cap = offsets.length;
  let firstUnknown = walkUnknown;
  let p = walkEnd;
  while (p < len && n < cap) {
    if (p + 12 > len) {
      throw new ModbtfError('E_BTF_TRUNCATED', `type record at offset ${p} is truncated (type section is ${len} bytes)`, { ...where, typeId: startId + n });
    }
    // (| 0: an int32, as the kind_flag bit would make a u32 a double)
    const info = (words ? words[(p >>> 2) + 1]! : dv!.getUint32(p + 4, le)) | 0;
    const kind = (info >>> 24) & BTF_MAX_KIND;
    const f = fixed[kind]!;
    if (f === 0) throw new ModbtfError('E_BTF_KIND', unsizedReason(kind, sizes), { ...where, typeId: startId + n });
    if (firstUnknown === 0 && !isKnownKind(kind)) firstUnknown = startId + n;
    const vlen = info & BTF_MAX_VLEN;
    const size = f + vlen * member[kind]!;
    if (p + size > len) {
      throw new ModbtfError('E_BTF_VLEN', `${kindName(kind)} with vlen ${vlen} runs past the end of the type section`, { ...where, typeId: startId + n });
    }
    offsets[n++] = p;
    p += size;
  }
  walkEnd = p;
  walkUnknown = firstUnknown;
  return n;
}

/**
 * Word index of the first type-id field of the record at word `o` holding a
 * value >= `limit`, in record order; -1 if none.
 */
export function firstIdAtLeast(w: Uint32Array, o: number, kind: number, vlen: number, limit: number): number {
  if (TYPE_IS_ID[kind] && w[o + 2]! >= limit) return o + 2;
  if (kind === Kind.ARRAY) {
    if (w[o + 3]! >= limit) return o + 3;
    if (w[o + 4]! >= limit) return o + 4;
  }
  const m = MEMBER_ID_WORD[kind]!;
  if (m !== NO_FIELD) {
    const step = MEMBER_WORDS[kind]!;
    for (let j = 0, p = o + FIXED_WORDS[kind]! + m; j < vlen; j++, p += step) if (w[p]! >= limit) return p;
  }
  return -1;
}

/** firstIdAtLeast for string-offset fields. */
export function firstStrAtLeast(w: Uint32Array, o: number, kind: number, vlen: number, limit: number): number {
  if (w[o]! >= limit) return o;
  const m = MEMBER_STR_WORD[kind]!;
  if (m !== NO_FIELD) {
    const step = MEMBER_WORDS[kind]!;
    for (let j = 0, p = o + FIXED_WORDS[kind]! + m; j < vlen; j++, p += step) if (w[p]! >= limit) return p;
  }
  return -1;
}

/**
 * Rewrite in place the records at byte `offsets` of `w`, a type section as host-order words: each
 * string-offset field (names, member and enumerator names, parameter names) through `str`, given
 * the field's word index, and each type-id field through `idMap`. An id at or past idMap.length
 * is passed to `outOfRange`, whose error is thrown. All kinds must be known (FIXED_WORDS).
 */
export function rewriteRecordWords(
  w: Uint32Array, offsets: Uint32Array, idMap: Uint32Array, str: (p: number) => void, outOfRange: (id: number) => Error,
): void {
  const nIds = idMap.length;
  for (let i = 0; i < offsets.length; i++) {
    const o = offsets[i]! >>> 2;
    const info = w[o + 1]!;
    const kind = (info >>> 24) & BTF_MAX_KIND;
    str(o);
    if (TYPE_IS_ID[kind]) {
      const v = w[o + 2]!;
      if (v >= nIds) throw outOfRange(v);
      w[o + 2] = idMap[v]!;
    } else if (kind === Kind.ARRAY) {
      for (let p = o + 3; p <= o + 4; p++) {
        const v = w[p]!;
        if (v >= nIds) throw outOfRange(v);
        w[p] = idMap[v]!;
      }
    }
    const mi = MEMBER_ID_WORD[kind]!;
    const ms = MEMBER_STR_WORD[kind]!;
    if (mi === NO_FIELD && ms === NO_FIELD) continue;
    const vlen = info & BTF_MAX_VLEN;
    const step = MEMBER_WORDS[kind]!;
    for (let j = 0, p = o + FIXED_WORDS[kind]!; j < vlen; j++, p += step) {
      if (ms !== NO_FIELD) str(p + ms);
      if (mi !== NO_FIELD) {
        const v = w[p + mi]!;
        if (v >= nIds) throw outOfRange(v);
        w[p + mi] = idMap[v]!;
      }
    }
  }
}

/**
 * Header (`hdrLen` bytes, default 24) + types + kind layout section (when
 * `layout` is given: the header is then at least 32 bytes) + strings, in the
 * given byte order. A header of 32 bytes or more with no layout has
 * layout_off = layout_len = 0, as libbpf master writes it.
 */
const EMPTY = new Uint8Array(0);

export function serializeSections(
  types: Uint8Array, strings: Uint8Array, le: boolean, hdrLen = BTF_HEADER_LEN, layout: Uint8Array | null = null,
): Uint8Array {
  const layLen = layout ? layout.length : 0;
  const hl = layLen ? Math.max(hdrLen, BTF_HEADER_LEN_LAYOUT) : hdrLen;
  const out = new Uint8Array(hl + types.length + layLen + strings.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, BTF_MAGIC, le);
  out[2] = BTF_VERSION;
  out[3] = 0;
  dv.setUint32(4, hl, le);
  dv.setUint32(8, 0, le);
  dv.setUint32(12, types.length, le);
  dv.setUint32(16, types.length + layLen, le);
  dv.setUint32(20, strings.length, le);
  if (layLen) {
    dv.setUint32(24, types.length, le);
    dv.setUint32(28, layLen, le);
    out.set(layout!, hl + types.length);
  }
  out.set(types, hl);
  out.set(strings, hl + types.length + layLen);
  return out;
}

export { Kind };
