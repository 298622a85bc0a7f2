/**
 * ELF reading: the header and section headers are read straight from the
 * bytes (DataView), no object per program header and no copy. Which files are
 * refused, and the section names, are as they were when the file was parsed
 * with elfy 1.0.0 (test/elf-reader.test.ts compares the two).
 */
import { ModbtfError } from '../errors.js';

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_XINDEX = 0xffff;
export const EM_X86_64 = 62;

export interface ElfSection {
  index: number;
  name: string;
  nameOff: number;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: bigint;
  entsize: bigint;
}

export interface ElfSymbol {
  name: string;
  value: bigint;
  size: bigint;
  type: number;
  bind: number;
  shndx: number;
}

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

export class ElfFile {
  readonly bytes: Uint8Array;
  readonly file?: string;
  readonly littleEndian: boolean;
  readonly is64: boolean;
  readonly machine: number;
  readonly type: number;
  readonly shoff: number;
  readonly shentsize: number;
  readonly shstrndx: number;
  readonly sections: ElfSection[];
  private readonly byName = new Map<string, ElfSection>();
  private symCache: ElfSymbol[] | null = null;
  readonly dv: DataView;

  private constructor(bytes: Uint8Array, file: string | undefined) {
    this.bytes = bytes;
    this.file = file;
    const fail = (msg: string, section?: string): never => {
      throw new ModbtfError(section ? 'E_ELF_SECTION' : 'E_ELF', msg, { file, section });
    };
    if (!isElf(bytes)) fail('not an ELF file');
    if (bytes.length < 52) fail(`truncated ELF header (${bytes.length} bytes)`);
    const cls = bytes[4];
    const data = bytes[5];
    if (cls !== 1 && cls !== 2) fail(`invalid ELF class ${cls}`);
    if (data !== 1 && data !== 2) fail(`invalid ELF data encoding ${data}`);
    this.is64 = cls === 2;
    if (!this.is64) {
      throw new ModbtfError('E_ELF_CLASS', '32-bit ELF is not supported: modbtf reads 64-bit kernels\' modules and vmlinux', { file });
    }
    this.littleEndian = data === 1;
    if (this.is64 && bytes.length < 64) fail(`truncated ELF header (${bytes.length} bytes)`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.dv = dv;
    const le = this.littleEndian;
    this.type = dv.getUint16(16, le);
    this.machine = dv.getUint16(18, le);
    const shoff = this.is64 ? Number(dv.getBigUint64(0x28, le)) : dv.getUint32(0x20, le);
    this.shentsize = dv.getUint16(this.is64 ? 0x3a : 0x2e, le);
    let shnum = dv.getUint16(this.is64 ? 0x3c : 0x30, le);
    let shstrndx = dv.getUint16(this.is64 ? 0x3e : 0x32, le);
    this.shoff = shoff;
    const entsize = this.is64 ? 64 : 40;
    if (shoff === 0) fail('no section header table');
    if (this.shentsize !== entsize) fail(`section header size ${this.shentsize}, expected ${entsize}`);
    if (shoff + entsize > bytes.length) fail(`section header table at offset ${shoff} is past the end of the file (${bytes.length} bytes)`);
    // Extended numbering: the real counts live in section 0.
    if (shnum === 0) shnum = this.readShdr(0).size;
    if (shstrndx === SHN_XINDEX) shstrndx = this.readShdr(0).link;
    if (shoff + shnum * entsize > bytes.length) {
      fail(`section header table (${shnum} entries at offset ${shoff}) runs past the end of the file (${bytes.length} bytes)`);
    }
    if (shstrndx >= shnum) fail(`section name table index ${shstrndx} is out of range (${shnum} sections)`);
    this.shstrndx = shstrndx;

    // Checked here, before the name table is read.
    if (this.readShdr(shstrndx).type !== SHT_STRTAB) fail(`section ${shstrndx} holding section names is not a string table`);
    // What elfy refused: program headers past the end or too short to read, and section
    // counts or a name-table index only section 0 holds (extended numbering).
    const rawShnum = dv.getUint16(0x3c, le);
    const rawShstrndx = dv.getUint16(0x3e, le);
    const phoff = Number(dv.getBigUint64(0x20, le));
    const phentsize = dv.getUint16(0x36, le);
    const phnum = dv.getUint16(0x38, le);
    const badPhdrs = phoff !== 0 && phnum !== 0 && (phoff + phnum * phentsize > bytes.length || (phentsize > 0 && phentsize < 56));
    const namesRead = !badPhdrs && rawShnum !== 0 && rawShstrndx < rawShnum;
    if (!namesRead && shnum < SHN_LORESERVE) fail('malformed ELF: its section headers cannot be read');
    const secs: ElfSection[] = new Array(shnum);
    for (let i = 0; i < shnum; i++) secs[i] = this.readShdr(i);
    const strtab = secs[shstrndx]!;
    if (strtab.type !== SHT_STRTAB) fail(`section ${shstrndx} holding section names is not a string table`);
    if (namesRead) {
      // As elfy named them: UTF-8, from the name table's bytes within the file.
      const start = Math.min(strtab.offset, bytes.length);
      const end = Math.min(strtab.offset + strtab.size, bytes.length);
      for (const s of secs) if (start + s.nameOff < end) s.name = this.cstr(start + s.nameOff, end, 'utf8');
    }
    for (const s of secs) {
      if (s.type !== SHT_NOBITS && s.type !== SHT_NULL && s.offset + s.size > bytes.length) {
        fail(`section [${s.index}] ${s.name || '(unnamed)'} [${s.offset}, ${s.offset + s.size}) runs past the end of the file (${bytes.length} bytes)`, s.name || `[${s.index}]`);
      }
      if (s.nameOff >= strtab.size) fail(`section [${s.index}] name offset ${s.nameOff} is outside the section name table`);
      if (!namesRead) s.name = this.cstr(strtab.offset + s.nameOff, strtab.offset + strtab.size);
      if (s.name && !this.byName.has(s.name)) this.byName.set(s.name, s);
    }
    this.sections = secs;
  }

  static parse(bytes: Uint8Array, file?: string): ElfFile {
    return new ElfFile(bytes, file);
  }

  private cstr(start: number, end: number, encoding: 'latin1' | 'utf8' = 'latin1'): string {
    let i = start;
    while (i < end && this.bytes[i] !== 0) i++;
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, i - start).toString(encoding);
  }

  /** Section `i`'s header fields (its name is filled in from the name table). */
  private readShdr(i: number): ElfSection {
    const dv = this.dv;
    const le = this.littleEndian;
    const o = this.shoff + i * this.shentsize;
    if (this.is64) {
      return {
        index: i, name: '', nameOff: dv.getUint32(o, le), type: dv.getUint32(o + 4, le), flags: dv.getBigUint64(o + 8, le),
        addr: dv.getBigUint64(o + 16, le), offset: Number(dv.getBigUint64(o + 24, le)),
        size: Number(dv.getBigUint64(o + 32, le)), link: dv.getUint32(o + 40, le), info: dv.getUint32(o + 44, le),
        addralign: dv.getBigUint64(o + 48, le), entsize: dv.getBigUint64(o + 56, le),
      };
    }
    return {
      index: i, name: '', nameOff: dv.getUint32(o, le), type: dv.getUint32(o + 4, le), flags: BigInt(dv.getUint32(o + 8, le)),
      addr: BigInt(dv.getUint32(o + 12, le)), offset: dv.getUint32(o + 16, le), size: dv.getUint32(o + 20, le),
      link: dv.getUint32(o + 24, le), info: dv.getUint32(o + 28, le),
      addralign: BigInt(dv.getUint32(o + 32, le)), entsize: BigInt(dv.getUint32(o + 36, le)),
    };
  }

  /** Raw bytes of section `i`'s header. */
  headerBytes(i: number): Uint8Array {
    const o = this.shoff + i * this.shentsize;
    return this.bytes.subarray(o, o + this.shentsize);
  }

  section(name: string): ElfSection | undefined {
    return this.byName.get(name);
  }

  data(sec: ElfSection): Uint8Array {
    if (sec.type === SHT_NOBITS || sec.type === SHT_NULL) return new Uint8Array(0);
    return this.bytes.subarray(sec.offset, sec.offset + sec.size);
  }

  /** `.symtab` symbols (names from its linked string table); [] without one. */
  symbols(): ElfSymbol[] {
    this.symCache ??= this.readSymbols(-1);
    return this.symCache;
  }

  /**
   * The `.symtab` symbols defined in section `shndx`, in table order: what symbols() holds
   * for it, without decoding the others (a module has thousands; .BTF_ids needs a few).
   */
  symbolsIn(shndx: number): ElfSymbol[] {
    return this.symCache ? this.symCache.filter((sym) => sym.shndx === shndx) : this.readSymbols(shndx);
  }

  /** Symbols of section `shndx`, or all with -1. */
  private readSymbols(shndx: number): ElfSymbol[] {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) return [];
    const strtab = this.sections[symtab.link];
    if (!strtab || strtab.type !== SHT_STRTAB) {
      throw new ModbtfError('E_ELF_SECTION', `symbol table links to section ${symtab.link}, which is not a string table`, { file: this.file, section: symtab.name });
    }
    const ent = this.is64 ? 24 : 16;
    const dv = this.dv;
    const le = this.littleEndian;
    const out: ElfSymbol[] = [];
    const strEnd = strtab.offset + strtab.size;
    for (let o = symtab.offset; o + ent <= symtab.offset + symtab.size; o += ent) {
      const sh = this.is64 ? dv.getUint16(o + 6, le) : dv.getUint16(o + 14, le);
      if (shndx >= 0 && sh !== shndx) continue;
      const nameOff = dv.getUint32(o, le);
      const info = this.is64 ? dv.getUint8(o + 4) : dv.getUint8(o + 12);
      const value = this.is64 ? dv.getBigUint64(o + 8, le) : BigInt(dv.getUint32(o + 4, le));
      const size = this.is64 ? dv.getBigUint64(o + 16, le) : BigInt(dv.getUint32(o + 8, le));
      const name = nameOff < strtab.size ? this.cstr(strtab.offset + nameOff, strEnd) : '';
      out.push({ name, value, size, type: info & 0xf, bind: info >> 4, shndx: sh });
    }
    return out;
  }
}
