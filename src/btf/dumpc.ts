/**
 * BTF as a C header, byte for byte what `bpftool btf dump file FILE format c
 * [-B BASE]` prints (bpftool 7.1, whose btf_dump is libbpf 1.1's).
 *
 * Every type id from 1 up (base types first for split BTF) is handed to the
 * printer in turn. For each, a depth-first walk puts the named definitions it
 * needs by value (struct/union members, typedef targets, array elements) in
 * front of it; a pointer to a named struct or union needs only a forward
 * declaration, which is printed when the definition has not been seen yet.
 * Anonymous structs, unions and enums are written inline where they are used.
 * Struct, union and enum tags share one name space, typedef names and
 * enumerators another: the n-th definition of a name already taken is printed
 * as `name___n`, in the order definitions are printed.
 *
 * Names are latin1 strings so that whatever bytes a name holds come out as
 * they are. The text goes to a sink in chunks, so a vmlinux header (well over
 * a hundred thousand lines) is never held whole unless asked for.
 */
import { ModbtfError } from '../errors.js';
import type { Btf } from './btf.js';
import { HOST_LE, Kind, kindName, infoKind, infoVlen } from './kinds.js';

export interface DumpCOptions {
  /** Characters buffered before the sink is called (default 64 Ki). */
  chunkSize?: number;
}

const HEADER = '#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n'
  + '#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n'
  + '#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n'
  + '#endif\n\n';
const FOOTER = '#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n#endif /* __VMLINUX_H__ */\n';

/** Names an int of the pointer's size goes by (how the pointer size is told). */
const LONG_NAMES = new Set([
  'long', 'long int', 'int long', 'unsigned long', 'long unsigned', 'unsigned long int',
  'unsigned int long', 'long unsigned int', 'long int unsigned', 'int unsigned long', 'int long unsigned',
]);

/** GCC's internal Arm SIMD base types, given a typedef to a standard type. */
const MISSING_BASE_TYPES = new Map([
  ['__Poly8_t', 'unsigned char'],
  ['__Poly16_t', 'unsigned short'],
  ['__Poly64_t', 'unsigned long long'],
  ['__Poly128_t', 'unsigned __int128'],
]);

/** `\n` and the indent of each level (libbpf stops indenting at 13 tabs). */
const NL_TABS: readonly string[] = Array.from({ length: 14 }, (_, i) => `\n${'\t'.repeat(i)}`);
const nl = (lvl: number): string => NL_TABS[lvl >= 13 ? 13 : lvl]!;

// Order states (0: not ordered yet).
const ORDERING = 1;
const ORDERED = 2;
const NOT_EMITTED = 0;
const EMITTING = 1;
const EMITTED = 2;

/** Deeper than this, a chain of types is a loop no C declaration can have. */
const MAX_DEPTH = 1024;
const MAX_RESOLVE_DEPTH = 32;

/**
 * Records are read as u32 words: name, info, size/type, then ARRAY's elem, index, nelems, or the
 * vlen entries from word 3 (struct member: name, type, offset; enum: name, value; enum64: name,
 * lo, hi; func param: name, type; datasec var: type, offset, size).
 */
const ARRAY_ELEM = 3;
const ARRAY_INDEX = 4;
const ARRAY_NELEMS = 5;

const roundup = (x: number, y: number): number => Math.trunc((x + y - 1) / y) * y;

/** Print `btf` (and its base types, when split) as a C header, chunk by chunk to `sink`. */
export function dumpCTo(btf: Btf, sink: (chunk: string) => void, opts: DumpCOptions = {}): void {
  new CPrinter(btf, sink, opts.chunkSize ?? 1 << 16).run();
}

/** `btf` as a C header, as one string. */
export function dumpC(btf: Btf, opts: DumpCOptions = {}): string {
  const parts: string[] = [];
  dumpCTo(btf, (c) => parts.push(c), opts);
  return parts.join('');
}

class CPrinter {
  private readonly n: number;
  /** Every type section (base first), as host-order u32 words. */
  private readonly w: Uint32Array;
  /** Word index in `w` of each type id's record. */
  private readonly pos: Uint32Array;
  private readonly infos: Uint32Array;
  private readonly nameOffs: Uint32Array;
  private readonly sizeTypes: Uint32Array;
  /** Kind of each type id (0 for void). */
  private readonly kinds: Uint8Array;
  /** Every string section (base first), latin1: absolute offsets index it directly. */
  private readonly text: string;
  private readonly names: (string | undefined)[];

  private readonly orderState: Uint8Array;
  private readonly emitState: Uint8Array;
  private readonly fwdEmitted: Uint8Array;
  private readonly nameResolved: Uint8Array;
  private readonly referenced: Uint8Array;
  /** Names given a `___N` suffix. */
  private readonly cachedNames = new Map<number, string>();
  /** alignOf + 1 per id, 0 when not known yet. */
  private readonly aligns: Int32Array;
  private readonly typeNames = new Map<string, number>();
  private readonly identNames = new Map<string, number>();

  private readonly ptrSz: number;
  private readonly pads: readonly (readonly [string, number])[];
  private readonly emitQueue: number[] = [];
  private readonly declStack: number[] = [];
  private declCnt = 0;
  private depth = 0;

  private buf = '';

  constructor(private readonly btf: Btf, private readonly sink: (chunk: string) => void, private readonly chunkSize: number) {
    const layers: Btf[] = [];
    for (let b: Btf | null = btf; b; b = b.base) layers.unshift(b);
    const n = btf.typeCount;
    this.n = n;
    let words = 0;
    for (const b of layers) words += b.types.length >>> 2;
    const w = new Uint32Array(words);
    const pos = new Uint32Array(n);
    let at = 0;
    for (const b of layers) {
      const len = b.types.length >>> 2;
      if (b.littleEndian === HOST_LE) {
        new Uint8Array(w.buffer, at * 4, len * 4).set(b.types.subarray(0, len * 4));
      } else {
        for (let i = 0; i < len; i++) w[at + i] = b.dv.getUint32(i * 4, b.littleEndian);
      }
      for (let id = b.startId, i = 0; id < b.typeCount; id++, i++) pos[id] = at + (b.offsets[i]! >>> 2);
      at += len;
    }
    this.w = w;
    this.pos = pos;
    this.infos = new Uint32Array(n);
    this.nameOffs = new Uint32Array(n);
    this.sizeTypes = new Uint32Array(n);
    this.kinds = new Uint8Array(n);
    for (let id = 1; id < n; id++) {
      const p = pos[id]!;
      this.nameOffs[id] = w[p]!;
      this.infos[id] = w[p + 1]!;
      this.sizeTypes[id] = w[p + 2]!;
      this.kinds[id] = infoKind(w[p + 1]!);
    }
    this.text = layers.map((b) => Buffer.from(b.strings.buffer, b.strings.byteOffset, b.strings.length).toString('latin1')).join('');
    this.names = new Array<string | undefined>(n);
    this.orderState = new Uint8Array(n);
    this.emitState = new Uint8Array(n);
    this.fwdEmitted = new Uint8Array(n);
    this.nameResolved = new Uint8Array(n);
    this.referenced = new Uint8Array(n);
    this.aligns = new Int32Array(n);
    this.orderState[0] = ORDERED;
    this.emitState[0] = EMITTED;
    this.ptrSz = this.pointerSize();
    this.pads = [['long', this.ptrSz * 8], ['int', 32], ['short', 16], ['char', 8]];
    this.markReferenced();
  }

  run(): void {
    this.print(HEADER);
    const queue = this.emitQueue;
    for (let id = 1; id < this.n; id++) {
      queue.length = 0;
      this.orderType(id, false);
      for (let i = 0; i < queue.length; i++) this.emitType(queue[i]!, 0);
    }
    this.print(FOOTER);
    if (this.buf) this.sink(this.buf);
    this.buf = '';
  }

  // ---- access ----

  private print(s: string): void {
    this.buf += s;
    if (this.buf.length >= this.chunkSize) {
      this.sink(this.buf);
      this.buf = '';
    }
  }

  private vlen(id: number): number {
    return infoVlen(this.infos[id]!);
  }

  private kflag(id: number): boolean {
    return this.infos[id]! >>> 31 !== 0;
  }

  private str(off: number): string {
    if (off === 0) return '';
    const t = this.text;
    if (off >= t.length) {
      throw new ModbtfError('E_BTF_STRING', `string offset ${off} is out of range (string section ends at ${t.length})`, this.btf.where);
    }
    const end = t.indexOf('\0', off);
    return t.slice(off, end < 0 ? t.length : end);
  }

  /** The name of type `id` as written in BTF. */
  private rawName(id: number): string {
    let s = this.names[id];
    if (s === undefined) {
      s = this.str(this.nameOffs[id]!);
      this.names[id] = s;
    }
    return s;
  }

  private type(id: number): number {
    return this.sizeTypes[id]!;
  }

  private tooDeep(id: number): never {
    throw new ModbtfError('E_BTF_INVALID', `type chain deeper than ${MAX_DEPTH} (a loop, or nesting no kernel has)`, { ...this.btf.where, typeId: id });
  }

  // ---- sizes and alignment ----

  private pointerSize(): number {
    for (let id = 1; id < this.n; id++) {
      if (this.kinds[id]! !== Kind.INT) continue;
      const size = this.sizeTypes[id]!;
      if (size !== 4 && size !== 8) continue;
      if (LONG_NAMES.has(this.rawName(id))) return size;
    }
    return 8;
  }

  /** Alignment of a type, as libbpf's btf__align_of (0 for types without one); memoized. */
  private alignOf(id: number): number {
    const c = this.aligns[id]!;
    if (c !== 0) return c - 1;
    const a = this.computeAlign(id);
    this.aligns[id] = a + 1;
    return a;
  }

  private computeAlign(id: number): number {
    const k = id === 0 ? 0 : this.kinds[id]!;
    switch (k) {
      case Kind.INT: case Kind.ENUM: case Kind.ENUM64: case Kind.FLOAT:
        return Math.min(this.ptrSz, this.sizeTypes[id]!);
      case Kind.PTR:
        return this.ptrSz;
      case Kind.TYPEDEF: case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT: case Kind.TYPE_TAG: {
        if (++this.depth > MAX_DEPTH) this.tooDeep(id);
        const a = this.alignOf(this.type(id));
        this.depth--;
        return a;
      }
      case Kind.ARRAY: {
        if (++this.depth > MAX_DEPTH) this.tooDeep(id);
        const a = this.alignOf(this.w[this.pos[id]! + ARRAY_ELEM]!);
        this.depth--;
        return a;
      }
      case Kind.STRUCT: case Kind.UNION: {
        const vlen = this.vlen(id);
        const kflag = this.kflag(id);
        let maxAlign = 1;
        if (++this.depth > MAX_DEPTH) this.tooDeep(id);
        for (let i = 0, p = this.pos[id]! + 3; i < vlen; i++, p += 3) {
          const align = this.alignOf(this.w[p + 1]!);
          const off = this.w[p + 2]!;
          if (align <= 0 || ((!kflag || off >>> 24 === 0) && off % (8 * align) !== 0)) {
            this.depth--;
            return align <= 0 ? align : 1;
          }
          maxAlign = Math.max(maxAlign, align);
        }
        this.depth--;
        if (this.sizeTypes[id]! % maxAlign !== 0) return 1;
        return maxAlign;
      }
      default:
        return 0;
    }
  }

  /** Byte size of a type (negative when it has none), as libbpf resolves it. */
  private resolveSize(id: number): number {
    let nelems = 1;
    let size = -1;
    for (let i = 0; i < MAX_RESOLVE_DEPTH && id !== 0 && this.kinds[id]! !== Kind.FWD; i++) {
      const k = this.kinds[id]!;
      if (k === Kind.INT || k === Kind.STRUCT || k === Kind.UNION || k === Kind.ENUM || k === Kind.ENUM64
        || k === Kind.DATASEC || k === Kind.FLOAT) {
        size = this.sizeTypes[id]!;
        break;
      }
      if (k === Kind.PTR) {
        size = this.ptrSz;
        break;
      }
      if (k === Kind.TYPEDEF || k === Kind.VOLATILE || k === Kind.CONST || k === Kind.RESTRICT
        || k === Kind.VAR || k === Kind.DECL_TAG || k === Kind.TYPE_TAG) {
        id = this.type(id);
      } else if (k === Kind.ARRAY) {
        const ne = this.w[this.pos[id]! + ARRAY_NELEMS]!;
        if (nelems && ne > Math.floor(0xffffffff / nelems)) return -7;
        nelems *= ne;
        id = this.w[this.pos[id]! + ARRAY_ELEM]!;
      } else {
        return -22;
      }
    }
    if (size < 0) return -22;
    if (nelems && size > Math.floor(0xffffffff / nelems)) return -7;
    return nelems * size;
  }

  private isStructPacked(id: number): boolean {
    const vlen = this.vlen(id);
    const kflag = this.kflag(id);
    let maxAlign = 1;
    for (let i = 0, p = this.pos[id]! + 3; i < vlen; i++, p += 3) {
      const align = this.alignOf(this.w[p + 1]!);
      const off = this.w[p + 2]!;
      const bitSz = kflag ? off >>> 24 : 0;
      if (align && bitSz === 0 && off % (8 * align) !== 0) return true;
      maxAlign = Math.max(align, maxAlign);
    }
    return this.sizeTypes[id]! % maxAlign !== 0;
  }

  // ---- ordering ----

  /**
   * Mark every type another type refers to (an anonymous enum nothing refers
   * to is a top-level definition), checking every type id on the way: past
   * this, ids are read without checks.
   */
  private markReferenced(): void {
    const ref = this.referenced;
    const n = this.n;
    const bad = (id: number, v: number): never => {
      throw new ModbtfError('E_BTF_TYPE_ID', `${kindName(this.kinds[id]!)} refers to type id ${v}, out of range (last id ${n - 1})`, { ...this.btf.where, typeId: id });
    };
    for (let id = 1; id < n; id++) {
      const k = this.kinds[id]!;
      const vlen = this.vlen(id);
      switch (k) {
        case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT: case Kind.PTR: case Kind.TYPEDEF:
        case Kind.FUNC: case Kind.VAR: case Kind.DECL_TAG: case Kind.TYPE_TAG: {
          const t = this.type(id);
          if (t >= n) bad(id, t);
          ref[t] = 1;
          break;
        }
        case Kind.ARRAY: {
          const it = this.w[this.pos[id]! + ARRAY_INDEX]!;
          const et = this.w[this.pos[id]! + ARRAY_ELEM]!;
          if (it >= n) bad(id, it);
          if (et >= n) bad(id, et);
          ref[it] = 1;
          ref[et] = 1;
          break;
        }
        case Kind.STRUCT: case Kind.UNION: case Kind.DATASEC: {
          for (let i = 0, p = this.pos[id]! + (k === Kind.DATASEC ? 3 : 4); i < vlen; i++, p += 3) {
            const t = this.w[p]!;
            if (t >= n) bad(id, t);
            ref[t] = 1;
          }
          break;
        }
        case Kind.FUNC_PROTO: {
          const r = this.type(id);
          if (r >= n) bad(id, r);
          for (let i = 0, p = this.pos[id]! + 4; i < vlen; i++, p += 2) {
            const t = this.w[p]!;
            if (t >= n) bad(id, t);
            ref[t] = 1;
          }
          break;
        }
        default:
          break;
      }
    }
  }

  /**
   * Queue the definitions `id` needs before it, then `id` itself when it is a
   * definition. Returns true when `id` must be fully defined where it is used
   * (a strong link), false when a forward declaration does.
   */
  private orderType(id: number, throughPtr: boolean): boolean {
    const st = this.orderState;
    if (st[id] === ORDERED) return true;
    const k = this.kinds[id]!;
    const named = this.nameOffs[id] !== 0;
    if (st[id] === ORDERING) {
      if ((k === Kind.STRUCT || k === Kind.UNION) && throughPtr && named) return false;
      throw new ModbtfError('E_BTF_INVALID', 'unsatisfiable type cycle (no C declaration order defines it)', { ...this.btf.where, typeId: id });
    }
    if (++this.depth > MAX_DEPTH) this.tooDeep(id);
    const strong = this.orderKind(id, k, named, throughPtr);
    this.depth--;
    return strong;
  }

  private orderKind(id: number, k: number, named: boolean, throughPtr: boolean): boolean {
    const st = this.orderState;
    switch (k) {
      case Kind.INT: case Kind.FLOAT:
        st[id] = ORDERED;
        return false;
      case Kind.PTR: {
        const r = this.orderType(this.type(id), true);
        st[id] = ORDERED;
        return r;
      }
      case Kind.ARRAY:
        return this.orderType(this.w[this.pos[id]! + ARRAY_ELEM]!, false);
      case Kind.STRUCT: case Kind.UNION: {
        if (throughPtr && named) return false;
        st[id] = ORDERING;
        const vlen = this.vlen(id);
        for (let i = 0, p = this.pos[id]! + 4; i < vlen; i++, p += 3) this.orderType(this.w[p]!, false);
        if (named) this.emitQueue.push(id);
        st[id] = ORDERED;
        return true;
      }
      case Kind.ENUM: case Kind.ENUM64: case Kind.FWD:
        if (named || !this.referenced[id]) this.emitQueue.push(id);
        st[id] = ORDERED;
        return true;
      case Kind.TYPEDEF: {
        const strong = this.orderType(this.type(id), throughPtr);
        if (throughPtr && !strong) return false;
        this.emitQueue.push(id);
        st[id] = ORDERED;
        return true;
      }
      case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT: case Kind.TYPE_TAG:
        return this.orderType(this.type(id), throughPtr);
      case Kind.FUNC_PROTO: {
        let strong = this.orderType(this.type(id), throughPtr);
        const vlen = this.vlen(id);
        for (let i = 0, p = this.pos[id]! + 4; i < vlen; i++, p += 2) {
          if (this.orderType(this.w[p]!, throughPtr)) strong = true;
        }
        return strong;
      }
      default:
        st[id] = ORDERED;
        return false;
    }
  }

  // ---- emitting ----

  private isBlacklisted(id: number): boolean {
    return this.nameOffs[id] !== 0 && this.rawName(id) === '__builtin_va_list';
  }

  /**
   * Print the definitions `id` needs (forward declarations where a pointer
   * allows), then `id` itself when it is a top-level definition (`contId` 0);
   * `contId` is the struct or typedef being defined around it otherwise.
   */
  private emitType(id: number, contId: number): void {
    const es = this.emitState;
    if (es[id] === EMITTED) return;
    const k = this.kinds[id]!;
    const topLevel = contId === 0;
    if (es[id] === EMITTING) {
      if (this.fwdEmitted[id]) return;
      if (k === Kind.STRUCT || k === Kind.UNION) {
        if (id === contId) return;
        if (this.nameOffs[id] === 0) return;
        this.print(`${this.structFwd(id)};\n\n`);
        this.fwdEmitted[id] = 1;
      } else if (k === Kind.TYPEDEF) {
        if (!this.isBlacklisted(id)) {
          this.emitTypedefDef(id, 0);
          this.print(';\n\n');
        }
        this.fwdEmitted[id] = 1;
      }
      return;
    }
    if (++this.depth > MAX_DEPTH) this.tooDeep(id);
    switch (k) {
      case Kind.INT: {
        const name = this.typeName(id);
        const alias = MISSING_BASE_TYPES.get(name);
        if (alias !== undefined) this.print(`typedef ${alias} ${name};\n\n`);
        es[id] = EMITTED;
        break;
      }
      case Kind.ENUM: case Kind.ENUM64:
        if (topLevel) {
          this.emitEnumDef(id, 0);
          this.print(';\n\n');
        }
        es[id] = EMITTED;
        break;
      case Kind.PTR: case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT: case Kind.TYPE_TAG:
        this.emitType(this.type(id), contId);
        break;
      case Kind.ARRAY:
        this.emitType(this.w[this.pos[id]! + ARRAY_ELEM]!, contId);
        break;
      case Kind.FWD:
        this.print(`${this.fwdDef(id)};\n\n`);
        es[id] = EMITTED;
        break;
      case Kind.TYPEDEF:
        es[id] = EMITTING;
        this.emitType(this.type(id), id);
        if (!this.fwdEmitted[id] && !this.isBlacklisted(id)) {
          this.emitTypedefDef(id, 0);
          this.print(';\n\n');
        }
        es[id] = EMITTED;
        break;
      case Kind.STRUCT: case Kind.UNION: {
        es[id] = EMITTING;
        const anon = this.nameOffs[id] === 0;
        if (topLevel || anon) {
          const vlen = this.vlen(id);
          const cont = anon ? contId : id;
          for (let i = 0, p = this.pos[id]! + 4; i < vlen; i++, p += 3) this.emitType(this.w[p]!, cont);
        } else if (!this.fwdEmitted[id] && id !== contId) {
          this.print(`${this.structFwd(id)};\n\n`);
          this.fwdEmitted[id] = 1;
        }
        if (topLevel) {
          this.emitStructDef(id, 0);
          this.print(';\n\n');
          es[id] = EMITTED;
        } else {
          es[id] = NOT_EMITTED;
        }
        break;
      }
      case Kind.FUNC_PROTO: {
        this.emitType(this.type(id), contId);
        const vlen = this.vlen(id);
        for (let i = 0, p = this.pos[id]! + 4; i < vlen; i++, p += 2) this.emitType(this.w[p]!, contId);
        break;
      }
      default:
        break;
    }
    this.depth--;
  }

  private structFwd(id: number): string {
    const kw = this.kinds[id]! === Kind.STRUCT ? 'struct' : 'union';
    return this.nameOffs[id] !== 0 ? `${kw} ${this.typeName(id)}` : kw;
  }

  private fwdDef(id: number): string {
    return `${this.kflag(id) ? 'union' : 'struct'} ${this.typeName(id)}`;
  }

  private emitBitPadding(curOff: number, nextOff: number, nextAlign: number, inBitfield: boolean, lvl: number): void {
    if (curOff >= nextOff) return;
    const pads = this.pads;
    let newOff = 0;
    let padBits = 0;
    let padType = '';
    for (const [name, bits] of pads) {
      padBits = bits;
      padType = name;
      newOff = roundup(curOff, padBits);
      if (newOff <= nextOff) break;
    }
    if (newOff > curOff && newOff <= nextOff) {
      if (inBitfield
        || (newOff === nextOff && roundup(curOff, nextAlign * 8) !== newOff)
        || (newOff !== nextOff && nextOff - newOff <= newOff - curOff)) {
        this.print(`${nl(lvl)}${padType}: ${inBitfield ? newOff - curOff : 0};`);
      }
      curOff = newOff;
    }
    while (curOff !== nextOff) {
      const bits = Math.min(nextOff - curOff, padBits);
      if (bits === padBits) {
        this.print(`${nl(lvl)}${padType}: ${padBits};`);
        curOff += bits;
        continue;
      }
      for (let i = pads.length - 1; i >= 0; i--) {
        padType = pads[i]![0];
        padBits = pads[i]![1];
        if (padBits < bits) continue;
        this.print(`${nl(lvl)}${padType}: ${bits};`);
        curOff += bits;
        break;
      }
    }
  }

  private emitStructDef(id: number, lvl: number): void {
    const isStruct = this.kinds[id]! === Kind.STRUCT;
    const vlen = this.vlen(id);
    const kflag = this.kflag(id);
    const size = this.sizeTypes[id]!;
    const align = this.alignOf(id);
    const packed = isStruct ? this.isStructPacked(id) : false;
    this.print(`${this.structFwd(id)} {`);
    let off = 0;
    let prevBitfield = false;
    for (let i = 0, p = this.pos[id]! + 3; i < vlen; i++, p += 3) {
      const fname = this.str(this.w[p]!);
      const mtype = this.w[p + 1]!;
      const rawOff = this.w[p + 2]!;
      let mSz = kflag ? rawOff >>> 24 : 0;
      const mOff = kflag ? rawOff & 0xffffff : rawOff | 0;
      const mAlign = packed ? 1 : this.alignOf(mtype);
      const inBitfield = prevBitfield && mSz !== 0;
      this.emitBitPadding(off, mOff, mAlign, inBitfield, lvl + 1);
      this.print(nl(lvl + 1));
      this.emitTypeDecl(mtype, fname, lvl + 1);
      if (mSz) {
        this.print(`: ${mSz}`);
        off = mOff + mSz;
        prevBitfield = true;
      } else {
        mSz = Math.max(0, this.resolveSize(mtype)) | 0;
        off = (mOff + Math.imul(mSz, 8)) | 0;
        prevBitfield = false;
      }
      this.print(';');
    }
    if (isStruct) this.emitBitPadding(off, Math.imul(size, 8), align, false, lvl + 1);
    if (vlen || size) this.print(`${nl(lvl)}}`);
    else this.print('}');
    if (packed) this.print(' __attribute__((packed))');
  }

  private emitEnumDef(id: number, lvl: number): void {
    const vlen = this.vlen(id);
    const isEnum = this.kinds[id]! === Kind.ENUM;
    const name = this.typeName(id);
    this.print(this.nameOffs[id] !== 0 ? `enum ${name}` : 'enum');
    if (!vlen) return;
    this.print(' {');
    const signed = this.kflag(id);
    const ind = nl(lvl + 1);
    if (isEnum) {
      for (let i = 0, p = this.pos[id]! + 3; i < vlen; i++, p += 2) {
        const vname = this.str(this.w[p]!);
        const raw = this.w[p + 1]!;
        const val = signed ? raw | 0 : raw;
        const dup = this.nameDups(this.identNames, vname);
        this.print(dup > 1 ? `${ind}${vname}___${dup} = ${val},` : `${ind}${vname} = ${val},`);
      }
    } else {
      for (let i = 0, p = this.pos[id]! + 3; i < vlen; i++, p += 3) {
        const vname = this.str(this.w[p]!);
        const lo = this.w[p + 1]!;
        const hi = this.w[p + 2]!;
        const dup = this.nameDups(this.identNames, vname);
        const v = (BigInt(hi) << 32n) | BigInt(lo);
        const text = signed ? `${BigInt.asIntN(64, v)}LL` : `${v}ULL`;
        this.print(dup > 1 ? `${ind}${vname}___${dup} = ${text},` : `${ind}${vname} = ${text},`);
      }
    }
    this.print(`${nl(lvl)}}`);
  }

  private emitTypedefDef(id: number, lvl: number): void {
    const name = this.identName(id);
    const target = this.type(id);
    if (target === 0 && name === '__gnuc_va_list') {
      this.print('typedef __builtin_va_list __gnuc_va_list');
      return;
    }
    this.print('typedef ');
    this.emitTypeDecl(target, name, lvl);
  }

  /** A declaration of `fname` with type `id`, in C's inside-out syntax. */
  private emitTypeDecl(id: number, fname: string, lvl: number): void {
    const stack = this.declStack;
    const start = this.declCnt;
    for (;;) {
      stack[this.declCnt++] = id;
      if (this.declCnt - start > MAX_DEPTH) {
        throw new ModbtfError('E_BTF_INVALID', `type chain deeper than ${MAX_DEPTH} (a loop, or nesting no kernel has)`, { ...this.btf.where, typeId: id });
      }
      if (id === 0) break;
      const k = this.kinds[id]!;
      if (k === Kind.PTR || k === Kind.VOLATILE || k === Kind.CONST || k === Kind.RESTRICT
        || k === Kind.FUNC_PROTO || k === Kind.TYPE_TAG) {
        id = this.type(id);
      } else if (k === Kind.ARRAY) {
        id = this.w[this.pos[id]! + ARRAY_ELEM]!;
      } else {
        break;
      }
    }
    if (++this.depth > MAX_DEPTH) this.tooDeep(id);
    this.emitTypeChain(start, this.declCnt - start, fname, lvl);
    this.depth--;
    this.declCnt = start;
  }

  /** Print the leading const/volatile/restrict of the frame `[base, base+cnt)`; returns the new count. */
  private emitMods(base: number, cnt: number): number {
    while (cnt) {
      const id = this.declStack[base + cnt - 1]!;
      const k = id === 0 ? 0 : this.kinds[id]!;
      if (k === Kind.VOLATILE) this.print('volatile ');
      else if (k === Kind.CONST) this.print('const ');
      else if (k === Kind.RESTRICT) this.print('restrict ');
      else return cnt;
      cnt--;
    }
    return cnt;
  }

  private dropMods(base: number, cnt: number): number {
    while (cnt) {
      const id = this.declStack[base + cnt - 1]!;
      const k = id === 0 ? 0 : this.kinds[id]!;
      if (k !== Kind.VOLATILE && k !== Kind.CONST && k !== Kind.RESTRICT) return cnt;
      cnt--;
    }
    return cnt;
  }

  private emitName(name: string, lastWasPtr: boolean): void {
    if (name !== '' && !lastWasPtr) this.print(' ');
    this.print(name);
  }

  private emitTypeChain(base: number, cnt: number, fname: string, lvl: number): void {
    let lastWasPtr = true;
    while (cnt) {
      const id = this.declStack[base + --cnt]!;
      if (id === 0) {
        cnt = this.emitMods(base, cnt);
        this.print('void');
        lastWasPtr = false;
        continue;
      }
      const k = this.kinds[id]!;
      switch (k) {
        case Kind.INT: case Kind.FLOAT:
          cnt = this.emitMods(base, cnt);
          this.print(this.rawName(id));
          break;
        case Kind.STRUCT: case Kind.UNION:
          cnt = this.emitMods(base, cnt);
          if (this.nameOffs[id] === 0) this.emitStructDef(id, lvl);
          else this.print(this.structFwd(id));
          break;
        case Kind.ENUM: case Kind.ENUM64:
          cnt = this.emitMods(base, cnt);
          if (this.nameOffs[id] === 0) this.emitEnumDef(id, lvl);
          else this.print(`enum ${this.typeName(id)}`);
          break;
        case Kind.FWD:
          cnt = this.emitMods(base, cnt);
          this.print(this.fwdDef(id));
          break;
        case Kind.TYPEDEF:
          cnt = this.emitMods(base, cnt);
          this.print(this.identName(id));
          break;
        case Kind.PTR:
          this.print(lastWasPtr ? '*' : ' *');
          break;
        case Kind.VOLATILE:
          this.print(' volatile');
          break;
        case Kind.CONST:
          this.print(' const');
          break;
        case Kind.RESTRICT:
          this.print(' restrict');
          break;
        case Kind.TYPE_TAG:
          cnt = this.emitMods(base, cnt);
          this.print(` __attribute__((btf_type_tag("${this.rawName(id)}")))`);
          break;
        case Kind.ARRAY: {
          const nelems = this.w[this.pos[id]! + ARRAY_NELEMS]!;
          cnt = this.dropMods(base, cnt);
          if (cnt === 0) {
            this.emitName(fname, lastWasPtr);
            this.print(`[${nelems}]`);
            return;
          }
          const next = this.declStack[base + cnt - 1]!;
          const multidim = next !== 0 && this.kinds[next]! === Kind.ARRAY;
          if (fname !== '' && !lastWasPtr) this.print(' ');
          if (!multidim) this.print('(');
          this.emitTypeChain(base, cnt, fname, lvl);
          if (!multidim) this.print(')');
          this.print(`[${nelems}]`);
          return;
        }
        case Kind.FUNC_PROTO: {
          const vlen = this.vlen(id);
          cnt = this.dropMods(base, cnt);
          if (cnt) {
            this.print(' (');
            this.emitTypeChain(base, cnt, fname, lvl);
            this.print(')');
          } else {
            this.emitName(fname, lastWasPtr);
          }
          this.print('(');
          // No parameters, or clang's single void one: `(void)`.
          if (vlen === 0 || (vlen === 1 && this.w[this.pos[id]! + 4]! === 0 /* the one parameter's type: void */)) {
            this.print('void)');
            return;
          }
          for (let i = 0, p = this.pos[id]! + 3; i < vlen; i++, p += 2) {
            if (i > 0) this.print(', ');
            const ptype = this.w[p + 1]!;
            if (i === vlen - 1 && ptype === 0) {
              this.print('...');
              break;
            }
            this.emitTypeDecl(ptype, this.str(this.w[p]!), lvl);
          }
          this.print(')');
          return;
        }
        default:
          return;
      }
      lastWasPtr = k === Kind.PTR;
    }
    this.emitName(fname, lastWasPtr);
  }

  // ---- names ----

  private nameDups(map: Map<string, number>, name: string): number {
    const n = (map.get(name) ?? 0) + 1;
    map.set(name, n);
    return n;
  }

  private resolveName(id: number, map: Map<string, number>): string {
    if (this.nameOffs[id] === 0) return '';
    const orig = this.rawName(id);
    if (this.nameResolved[id]) return this.cachedNames.get(id) ?? orig;
    const k = this.kinds[id]!;
    if (k === Kind.FWD || (k === Kind.ENUM && this.vlen(id) === 0)) {
      this.nameResolved[id] = 1;
      return orig;
    }
    const dup = this.nameDups(map, orig);
    this.nameResolved[id] = 1;
    if (dup === 1) return orig;
    const renamed = `${orig}___${dup}`.slice(0, 255);
    this.cachedNames.set(id, renamed);
    return renamed;
  }

  private typeName(id: number): string {
    return this.resolveName(id, this.typeNames);
  }

  private identName(id: number): string {
    return this.resolveName(id, this.identNames);
  }
}
