/**
 * Builds raw BTF: types appended as records, strings deduplicated in
 * first-use order (a string the base already holds is referenced there, as
 * libbpf's btf__add_str does for split BTF).
 */
import { Btf, serializeSections } from './btf.js';
import { BTF_HEADER_LEN, FIXED_SIZE, Kind, LAYOUT, makeInfo } from './kinds.js';
import { StrIndex, hashBytes, scan, scanString } from './strindex.js';

class GrowBuf {
  bytes: Uint8Array;
  len = 0;
  constructor(cap: number) {
    this.bytes = new Uint8Array(Math.max(cap, 64));
  }
  reserve(n: number): number {
    const need = this.len + n;
    if (need > this.bytes.length) {
      let cap = this.bytes.length * 2;
      while (cap < need) cap *= 2;
      const g = new Uint8Array(cap);
      g.set(this.bytes.subarray(0, this.len));
      this.bytes = g;
    }
    const at = this.len;
    this.len = need;
    return at;
  }
  view(): Uint8Array {
    return this.bytes.subarray(0, this.len);
  }
}

export class BtfBuilder {
  readonly base: Btf | null;
  readonly littleEndian: boolean;
  readonly startId: number;
  readonly startStrOff: number;
  private readonly typesBuf: GrowBuf;
  private readonly strBuf: GrowBuf;
  private readonly strIdx: StrIndex;
  private recOffsets: number[] = [];
  private dv: DataView;

  constructor(base: Btf | null, littleEndian: boolean, sizeHint = 4096) {
    this.base = base;
    this.littleEndian = littleEndian;
    this.startId = base ? base.typeCount : 1;
    this.startStrOff = base ? base.strEnd : 0;
    this.typesBuf = new GrowBuf(sizeHint);
    this.strBuf = new GrowBuf(sizeHint >> 1);
    this.strIdx = new StrIndex(() => this.strBuf.bytes, sizeHint >> 5);
    this.dv = new DataView(this.typesBuf.bytes.buffer);
    if (!base) {
      // A base BTF's string section starts with the empty string.
      this.strBuf.reserve(1);
    }
  }

  /** Id the next appended type gets. */
  get nextId(): number {
    return this.startId + this.recOffsets.length;
  }

  /** Offset of `s`, adding it if neither the base nor this builder has it. */
  addString(s: string): number {
    if (s === '') return 0;
    const key = Buffer.from(s, 'latin1');
    return this.addStringBytes(key, 0, key.length);
  }

  /** addString for the bytes key[start, end) (no NUL among them). */
  addStringBytes(key: Uint8Array, start: number, end: number): number {
    if (end === start) return 0;
    return this.addHashed(key, start, end, hashBytes(key, start, end));
  }

  /** addStringBytes with the hash of the bytes known. */
  private addHashed(key: Uint8Array, start: number, end: number, h: number): number {
    const own = this.strIdx.find(key, start, end, h);
    if (own >= 0) return this.startStrOff + own;
    if (this.base) {
      const b = this.base.findStringBytes(key, start, end, h);
      if (b >= 0) return b;
    }
    const len = end - start;
    const at = this.strBuf.reserve(len + 1);
    const bytes = this.strBuf.bytes;
    for (let i = 0; i < len; i++) bytes[at + i] = key[start + i]!;
    bytes[at + len] = 0;
    this.strIdx.put(at, h);
    return this.startStrOff + at;
  }

  /** addString for the string at offset `off` of `src` (or its bases), read in place. */
  addStringFrom(src: Btf, off: number): number {
    if (off === 0) return 0;
    let owner = src;
    while (off < owner.startStrOff && owner.base) owner = owner.base;
    const bytes = owner.strings;
    const start = off - owner.startStrOff;
    if (start >= bytes.length) src.str(off); // throws the out-of-range error
    scanString(bytes, start);
    const end = scan.end;
    if (end === start) return 0;
    return this.addHashed(bytes, start, end, scan.hash);
  }

  private grow(n: number): number {
    const at = this.typesBuf.reserve(n);
    if (this.dv.buffer !== this.typesBuf.bytes.buffer) this.dv = new DataView(this.typesBuf.bytes.buffer);
    this.recOffsets.push(at);
    return at;
  }

  getU32(pos: number): number {
    return this.dv.getUint32(pos, this.littleEndian);
  }

  setU32(pos: number, v: number): void {
    this.dv.setUint32(pos, v, this.littleEndian);
  }

  /** Byte offset of the record of a type this builder added. */
  recordOffset(id: number): number {
    return this.recOffsets[id - this.startId]!;
  }

  /**
   * Copy type `id` of `src` (its record bytes; type ids are left as they are
   * for the caller to renumber), re-adding each string it names. `strCache`
   * remembers source offset -> new offset across calls.
   */
  copyType(src: Btf, id: number, strCache?: Map<number, number>): number {
    const rec = src.record(id);
    const newId = this.nextId;
    const at = this.grow(rec.length);
    this.typesBuf.bytes.set(rec, at);
    const delta = at - src.off(id);
    src.forEachStrField(id, (pos) => {
      const off = src.u32(pos);
      if (off === 0) return;
      let mapped = strCache?.get(off);
      if (mapped === undefined) {
        mapped = this.addStringFrom(src, off);
        strCache?.set(off, mapped);
      }
      this.setU32(pos + delta, mapped);
    });
    return newId;
  }

  /** Add a record with the common header and no vlen entries. */
  addSimple(kind: number, name: string, kflag: boolean, sizeOrType: number, extra?: readonly number[]): number {
    return this.addSimpleNamed(kind, this.addString(name), kflag, sizeOrType, extra);
  }

  /** addSimple with the name already added (its offset in this builder's numbering). */
  addSimpleNamed(kind: number, nameOff: number, kflag: boolean, sizeOrType: number, extra?: readonly number[]): number {
    const l = LAYOUT[kind]!;
    const id = this.nextId;
    const at = this.grow(FIXED_SIZE[kind]!);
    this.setU32(at, nameOff);
    this.setU32(at + 4, makeInfo(kind, 0, kflag));
    this.setU32(at + 8, sizeOrType);
    for (let i = 0; i < l.extra / 4; i++) this.setU32(at + 12 + i * 4, extra?.[i] ?? 0);
    return id;
  }

  /** Append raw u32 words to the last added record (its vlen entries; the caller sets vlen). */
  appendRaw(words: readonly number[]): void {
    const at = this.typesBuf.reserve(words.length * 4);
    if (this.dv.buffer !== this.typesBuf.bytes.buffer) this.dv = new DataView(this.typesBuf.bytes.buffer);
    for (let i = 0; i < words.length; i++) this.setU32(at + i * 4, words[i]! >>> 0);
  }

  /** A member-less STRUCT or UNION of the given size. */
  addCompositeShell(kind: Kind.STRUCT | Kind.UNION, name: string, size: number): number {
    return this.addSimple(kind, name, false, size);
  }

  /** A member-less STRUCT/UNION (or ENUM, for ENUM/ENUM64) shell of base type `id` of `src`, same name and size. */
  addShellOf(src: Btf, id: number): number {
    const kind = src.kind(id);
    const shell = kind === Kind.STRUCT || kind === Kind.UNION ? kind : Kind.ENUM;
    return this.addSimpleNamed(shell, this.addStringFrom(src, src.nameOff(id)), false, src.sizeOrType(id));
  }

  /** A member-less ENUM of the given size. */
  addEnumShell(name: string, size: number): number {
    return this.addSimple(Kind.ENUM, name, false, size);
  }

  /** Type section built so far (a view). */
  typesView(): Uint8Array {
    return this.typesBuf.view();
  }

  stringsView(): Uint8Array {
    return this.strBuf.view();
  }

  /** A parsed Btf over copies of what was built, with a header of `hdrLen` bytes (24 or 32). */
  build(hdrLen = BTF_HEADER_LEN): Btf {
    // One buffer holding header, types and strings: the Btf's sections are views of it, so its
    // bytesView() is that buffer, not another copy.
    const types = this.typesBuf.view();
    const strs = this.strBuf.view();
    const raw = serializeSections(types, strs, this.littleEndian, hdrLen);
    return Btf.fromSections(raw.subarray(hdrLen, hdrLen + types.length), raw.subarray(hdrLen + types.length), this.littleEndian, this.base, {}, hdrLen);
  }
}
