/**
 * BPF object files (`.bpf.o`, ELF with e_machine EM_BPF): their `.BTF`, their
 * `.BTF.ext` (func_info, line_info and CO-RE relocation records per program
 * section), and BPF objects embedded whole in another file (libbpf skeletons
 * keep the object's bytes in the program's `.rodata`).
 */
import { Btf } from '../btf/btf.js';
import { SHN_XINDEX, SHT_NOBITS, SHT_NULL, isElf } from '../elf/elf.js';
import { ModbtfError, type ErrorLocation } from '../errors.js';

export const EM_BPF = 247;
export const SEC_BTF_EXT = '.BTF.ext';
const BTF_EXT_MAGIC = 0xeb9f;
/** Header length of .BTF.ext without / with the core_relo fields. */
const EXT_HDR_MIN = 24;
const EXT_HDR_CORE = 32;

/** CO-RE relocation kinds (enum bpf_core_relo_kind). */
export const enum CoreReloKind {
  FIELD_BYTE_OFFSET = 0,
  FIELD_BYTE_SIZE = 1,
  FIELD_EXISTS = 2,
  FIELD_SIGNED = 3,
  FIELD_LSHIFT_U64 = 4,
  FIELD_RSHIFT_U64 = 5,
  TYPE_ID_LOCAL = 6,
  TYPE_ID_TARGET = 7,
  TYPE_EXISTS = 8,
  TYPE_SIZE = 9,
  ENUMVAL_EXISTS = 10,
  ENUMVAL_VALUE = 11,
  TYPE_MATCHES = 12,
}

export const CORE_RELO_KIND_NAMES: readonly string[] = [
  'FIELD_BYTE_OFFSET', 'FIELD_BYTE_SIZE', 'FIELD_EXISTS', 'FIELD_SIGNED', 'FIELD_LSHIFT_U64',
  'FIELD_RSHIFT_U64', 'TYPE_ID_LOCAL', 'TYPE_ID_TARGET', 'TYPE_EXISTS', 'TYPE_SIZE',
  'ENUMVAL_EXISTS', 'ENUMVAL_VALUE', 'TYPE_MATCHES',
];

export function coreReloKindName(kind: number): string {
  return CORE_RELO_KIND_NAMES[kind] ?? `UNKNOWN(${kind})`;
}

export interface FuncInfo {
  insnOff: number;
  typeId: number;
}

export interface LineInfo {
  insnOff: number;
  fileNameOff: number;
  lineOff: number;
  /** line_col: line number << 10 | column. */
  lineCol: number;
}

export interface CoreRelo {
  /** Byte offset of the instruction in its section. */
  insnOff: number;
  /** Local (object BTF) root type id. */
  typeId: number;
  accessStrOff: number;
  kind: number;
  /** The access string, e.g. "0:1:2". */
  accessStr: string;
}

/** One program section's records in a .BTF.ext info block. */
export interface ExtSection<T> {
  /** Section name (resolved through the object's BTF strings). */
  name: string;
  nameOff: number;
  records: T[];
}

export interface BtfExtHeader {
  version: number;
  flags: number;
  hdrLen: number;
  funcInfoOff: number;
  funcInfoLen: number;
  lineInfoOff: number;
  lineInfoLen: number;
  coreReloOff: number;
  coreReloLen: number;
}

export interface BtfExt {
  header: BtfExtHeader;
  littleEndian: boolean;
  funcInfoRecSize: number;
  lineInfoRecSize: number;
  coreReloRecSize: number;
  funcInfo: ExtSection<FuncInfo>[];
  lineInfo: ExtSection<LineInfo>[];
  coreRelos: ExtSection<CoreRelo>[];
}

export interface BpfSection {
  index: number;
  name: string;
  type: number;
  offset: number;
  size: number;
}

/**
 * The section table of a BPF object (ELF64, either byte order), read straight
 * from the header bytes: a BPF object needs nothing more, and this is cheap
 * enough to do for every object of a large batch.
 */
export class BpfElf {
  readonly littleEndian: boolean;
  readonly machine: number;
  readonly sections: BpfSection[] = [];
  private readonly byName = new Map<string, BpfSection>();

  constructor(readonly bytes: Uint8Array, file?: string) {
    const fail = (msg: string): never => {
      throw new ModbtfError('E_ELF', msg, { file });
    };
    if (!isElf(bytes)) fail('not an ELF file');
    if (bytes.length < 64) fail(`truncated ELF header (${bytes.length} bytes)`);
    if (bytes[4] !== 2) {
      if (bytes[4] === 1) throw new ModbtfError('E_ELF_CLASS', '32-bit ELF: BPF objects are 64-bit ELF', { file });
      fail(`invalid ELF class ${bytes[4]}`);
    }
    if (bytes[5] !== 1 && bytes[5] !== 2) fail(`invalid ELF data encoding ${bytes[5]}`);
    const le = bytes[5] === 1;
    this.littleEndian = le;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.machine = dv.getUint16(18, le);
    const shoff = dv.getBigUint64(0x28, le);
    const shentsize = dv.getUint16(0x3a, le);
    let shnum = dv.getUint16(0x3c, le);
    let shstrndx = dv.getUint16(0x3e, le);
    if (shoff === 0n) fail('no section header table');
    if (shentsize !== 64) fail(`section header size ${shentsize}, expected 64`);
    const len = BigInt(bytes.length);
    if (shoff + 64n > len) fail(`section header table at offset ${shoff} is past the end of the file (${bytes.length} bytes)`);
    const so = Number(shoff);
    if (shnum === 0) shnum = Number(dv.getBigUint64(so + 32, le));
    if (shstrndx === SHN_XINDEX) shstrndx = dv.getUint32(so + 40, le);
    if (shoff + BigInt(shnum) * 64n > len) fail(`section header table (${shnum} entries at offset ${shoff}) runs past the end of the file (${bytes.length} bytes)`);
    if (shstrndx >= shnum) fail(`section name table index ${shstrndx} is out of range (${shnum} sections)`);
    const raw: { nameOff: number; type: number; offset: bigint; size: bigint }[] = [];
    for (let i = 0; i < shnum; i++) {
      const h = so + i * 64;
      raw.push({ nameOff: dv.getUint32(h, le), type: dv.getUint32(h + 4, le), offset: dv.getBigUint64(h + 24, le), size: dv.getBigUint64(h + 32, le) });
    }
    const str = raw[shstrndx]!;
    if (str.offset + str.size > len) fail(`section name table runs past the end of the file (${bytes.length} bytes)`);
    const strStart = Number(str.offset);
    const strEnd = strStart + Number(str.size);
    raw.forEach((r, i) => {
      if (r.nameOff >= str.size && r.nameOff !== 0) fail(`section [${i}] name offset ${r.nameOff} is outside the section name table`);
      let e = strStart + r.nameOff;
      while (e < strEnd && bytes[e] !== 0) e++;
      const name = Buffer.from(bytes.buffer, bytes.byteOffset + strStart + r.nameOff, e - strStart - r.nameOff).toString('latin1');
      if (r.type !== SHT_NOBITS && r.type !== SHT_NULL && r.offset + r.size > len) {
        throw new ModbtfError('E_ELF_SECTION', `section [${i}] ${name || '(unnamed)'} [${r.offset}, ${r.offset + r.size}) runs past the end of the file (${bytes.length} bytes)`, { file, section: name || `[${i}]` });
      }
      const sec: BpfSection = { index: i, name, type: r.type, offset: Number(r.offset), size: Number(r.size) };
      this.sections.push(sec);
      if (name && !this.byName.has(name)) this.byName.set(name, sec);
    });
  }

  section(name: string): BpfSection | undefined {
    return this.byName.get(name);
  }

  data(sec: BpfSection): Uint8Array {
    if (sec.type === SHT_NOBITS || sec.type === SHT_NULL) return new Uint8Array(0);
    return this.bytes.subarray(sec.offset, sec.offset + sec.size);
  }
}

export interface BpfObject {
  /** Name used in messages: the file, or `file@0xOFFSET` for an embedded object. */
  name: string;
  bytes: Uint8Array;
  elf: BpfElf;
  littleEndian: boolean;
  btf: Btf;
  /** null when the object has no .BTF.ext. */
  ext: BtfExt | null;
}

/**
 * Parse a `.BTF.ext` section. `btf` resolves the section names. Layout checks
 * follow libbpf's (aligned offsets, record sizes at least the known size and a
 * multiple of 4, no empty section blocks, nothing past the end).
 */
export function parseBtfExt(data: Uint8Array, btf: Btf, where: ErrorLocation = {}): BtfExt {
  const loc = { ...where, section: SEC_BTF_EXT };
  const fail = (msg: string): never => {
    throw new ModbtfError('E_BTF_EXT', msg, loc);
  };
  if (data.length < 8) fail(`truncated header (${data.length} bytes)`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let le: boolean;
  if (dv.getUint16(0, true) === BTF_EXT_MAGIC) le = true;
  else if (dv.getUint16(0, false) === BTF_EXT_MAGIC) le = false;
  else return fail(`bad magic 0x${dv.getUint16(0, true).toString(16).padStart(4, '0')} (expected 0xeb9f)`);
  const version = data[2]!;
  const flags = data[3]!;
  const hdrLen = dv.getUint32(4, le);
  if (version !== 1) fail(`unsupported version ${version}`);
  if (flags !== 0) fail(`unsupported flags 0x${flags.toString(16)}`);
  if (hdrLen < EXT_HDR_MIN || hdrLen > data.length) fail(`header length ${hdrLen} is invalid (section is ${data.length} bytes)`);
  const u32 = (o: number): number => dv.getUint32(o, le);
  const header: BtfExtHeader = {
    version, flags, hdrLen,
    funcInfoOff: u32(8), funcInfoLen: u32(12), lineInfoOff: u32(16), lineInfoLen: u32(20),
    coreReloOff: hdrLen >= EXT_HDR_CORE ? u32(24) : 0,
    coreReloLen: hdrLen >= EXT_HDR_CORE ? u32(28) : 0,
  };
  const secName = (off: number, what: string): string => {
    if (!btf.hasString(off)) fail(`${what} section name offset ${off} is outside the BTF string section`);
    return btf.str(off);
  };
  function block<T>(what: string, off: number, len: number, minRec: number, rec: (o: number) => T): { recSize: number; secs: ExtSection<T>[] } {
    if (len === 0) return { recSize: 0, secs: [] };
    if (off % 4 !== 0) fail(`${what} block offset ${off} is not 4-byte aligned`);
    const start = hdrLen + off;
    const end = start + len;
    if (end > data.length) fail(`${what} block [${off}, ${off + len}) runs past the end of the section (${data.length - hdrLen} bytes of data)`);
    if (len < 4) fail(`${what} block has no record size`);
    const recSize = u32(start);
    if (recSize < minRec || recSize % 4 !== 0) fail(`${what} record size ${recSize} is invalid (at least ${minRec}, a multiple of 4)`);
    let p = start + 4;
    if (p === end) fail(`${what} block has no records`);
    const secs: ExtSection<T>[] = [];
    while (p < end) {
      if (end - p < 8) fail(`${what} section header at offset ${p - hdrLen} is truncated`);
      const nameOff = u32(p);
      const n = u32(p + 4);
      if (n === 0) fail(`${what} section at offset ${p - hdrLen} has no records`);
      if ((end - p - 8) / recSize < n) fail(`${what} section at offset ${p - hdrLen} claims ${n} records, more than the block holds`);
      const name = secName(nameOff, what);
      const records: T[] = new Array<T>(n);
      let r = p + 8;
      for (let i = 0; i < n; i++, r += recSize) records[i] = rec(r);
      secs.push({ name, nameOff, records });
      p = r;
    }
    return { recSize, secs };
  }
  const fi = block<FuncInfo>('func_info', header.funcInfoOff, header.funcInfoLen, 8, (o) => ({ insnOff: u32(o), typeId: u32(o + 4) }));
  const li = block<LineInfo>('line_info', header.lineInfoOff, header.lineInfoLen, 16, (o) => ({
    insnOff: u32(o), fileNameOff: u32(o + 4), lineOff: u32(o + 8), lineCol: u32(o + 12),
  }));
  const cr = block<CoreRelo>('core_relo', header.coreReloOff, header.coreReloLen, 16, (o) => {
    const accessStrOff = u32(o + 8);
    if (!btf.hasString(accessStrOff)) fail(`CO-RE relocation at offset ${o - hdrLen} has access string offset ${accessStrOff}, outside the BTF string section`);
    return { insnOff: u32(o), typeId: u32(o + 4), accessStrOff, kind: u32(o + 12), accessStr: btf.str(accessStrOff) };
  });
  return {
    header, littleEndian: le,
    funcInfoRecSize: fi.recSize, lineInfoRecSize: li.recSize, coreReloRecSize: cr.recSize,
    funcInfo: fi.secs, lineInfo: li.secs, coreRelos: cr.secs,
  };
}

/** Read a BPF object file (ELF, e_machine 247, either byte order). */
export function readBpfObject(bytes: Uint8Array, name: string): BpfObject {
  const elf = new BpfElf(bytes, name);
  if (elf.machine !== EM_BPF) {
    throw new ModbtfError('E_ELF_MACHINE', `not a BPF object (ELF machine ${elf.machine}, expected ${EM_BPF})`, { file: name });
  }
  const btfSec = elf.section('.BTF');
  if (!btfSec) throw new ModbtfError('E_NO_BTF', 'BPF object has no .BTF section (compile with -g)', { file: name });
  const btf = Btf.parse(elf.data(btfSec), { file: name, section: '.BTF' });
  const extSec = elf.section(SEC_BTF_EXT);
  const ext = extSec ? parseBtfExt(elf.data(extSec), btf, { file: name }) : null;
  return { name, bytes, elf, littleEndian: elf.littleEndian, btf, ext };
}

export interface EmbeddedObject {
  /** Byte offset of the object in the scanned file. */
  offset: number;
  /** Byte length of the object (ELF header to the end of its last section or section table). */
  size: number;
  /** The host section it was found in, if the host is an ELF file. */
  section?: string;
  bytes: Uint8Array;
}

/**
 * Size of a BPF ELF image starting at `at`, or 0 when the bytes there are not
 * one: ELF64 header with e_machine 247, a section table and sections that fit.
 */
function bpfElfSize(buf: Uint8Array, at: number, end: number): number {
  if (end - at < 64) return 0;
  const cls = buf[at + 4];
  const data = buf[at + 5];
  if (cls !== 2 || (data !== 1 && data !== 2) || buf[at + 6] !== 1) return 0;
  const le = data === 1;
  const dv = new DataView(buf.buffer, buf.byteOffset + at, end - at);
  if (dv.getUint16(18, le) !== EM_BPF) return 0;
  if (dv.getUint16(52, le) !== 64) return 0; // e_ehsize
  const shoff = dv.getBigUint64(0x28, le);
  const shentsize = dv.getUint16(0x3a, le);
  const shnum = dv.getUint16(0x3c, le);
  const shstrndx = dv.getUint16(0x3e, le);
  const avail = BigInt(end - at);
  if (shentsize !== 64 || shnum === 0 || shstrndx >= shnum || shoff < 64n || shoff + BigInt(shnum) * 64n > avail) return 0;
  const so = Number(shoff);
  let size = so + shnum * 64;
  for (let i = 0; i < shnum; i++) {
    const h = so + i * 64;
    const type = dv.getUint32(h + 4, le);
    if (type === SHT_NOBITS || type === SHT_NULL) continue;
    const off = dv.getBigUint64(h + 24, le);
    const sz = dv.getBigUint64(h + 32, le);
    if (off + sz > avail) return 0;
    size = Math.max(size, Number(off + sz));
  }
  return size;
}

/**
 * Find BPF objects embedded in `buf` (skeletons keep them in `.rodata`; any
 * place is found). Each hit of the ELF magic is checked as a BPF ELF header
 * with a section table and sections inside the buffer, which gives the
 * object's size; the scan resumes after it.
 */
export function findEmbeddedBpfObjects(buf: Uint8Array): EmbeddedObject[] {
  const found: EmbeddedObject[] = [];
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
  // The host's own header (offset 0) is skipped: an object file is read as itself, not as embedded.
  let p = isElf(buf) ? 1 : 0;
  while (p < buf.length) {
    const at = b.indexOf(magic, p);
    if (at < 0) break;
    const size = bpfElfSize(buf, at, buf.length);
    if (size > 0) {
      found.push({ offset: at, size, section: hostSectionAt(buf, at), bytes: buf.subarray(at, at + size) });
      p = at + size;
    } else {
      p = at + 1;
    }
  }
  return found;
}

/** Name of the section of a 64-bit ELF host holding file offset `at` (read from the raw headers). */
function hostSectionAt(buf: Uint8Array, at: number): string | undefined {
  if (!isElf(buf) || buf.length < 64 || buf[4] !== 2 || (buf[5] !== 1 && buf[5] !== 2)) return undefined;
  const le = buf[5] === 1;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shoff = Number(dv.getBigUint64(0x28, le));
  const shnum = dv.getUint16(0x3c, le);
  const shstrndx = dv.getUint16(0x3e, le);
  if (dv.getUint16(0x3a, le) !== 64 || shoff + shnum * 64 > buf.length || shstrndx >= shnum) return undefined;
  const strOff = Number(dv.getBigUint64(shoff + shstrndx * 64 + 24, le));
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * 64;
    const type = dv.getUint32(h + 4, le);
    if (type === SHT_NOBITS || type === SHT_NULL) continue;
    const off = Number(dv.getBigUint64(h + 24, le));
    const size = Number(dv.getBigUint64(h + 32, le));
    if (at >= off && at < off + size) {
      const n = strOff + dv.getUint32(h, le);
      if (n >= buf.length) return undefined;
      const end = buf.indexOf(0, n);
      return Buffer.from(buf.buffer, buf.byteOffset + n, (end < 0 ? buf.length : end) - n).toString('latin1');
    }
  }
  return undefined;
}

/**
 * The BPF objects in a file: the file itself when it is a BPF object, else
 * every object embedded in it (possibly none).
 */
export function readBpfObjects(bytes: Uint8Array, name: string): BpfObject[] {
  if (bytes.length >= 20 && isElf(bytes)) {
    const le = bytes[5] !== 2;
    const machine = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(18, le);
    if (machine === EM_BPF) return [readBpfObject(bytes, name)];
  }
  return findEmbeddedBpfObjects(bytes).map((e) => readBpfObject(e.bytes, `${name}@0x${e.offset.toString(16)}`));
}

/** Line number and column of a line_info record. */
export function lineOf(rec: LineInfo): { line: number; col: number } {
  return { line: rec.lineCol >>> 10, col: rec.lineCol & 0x3ff };
}
