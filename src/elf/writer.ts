/**
 * ELF editing that never changes the index of an existing section (symbols
 * and relocations refer to indices): section data is replaced in place when
 * it fits and appended otherwise, new sections and a new section header
 * table are appended, and every section header is copied from its raw bytes
 * with only name, offset, size (and type, for removal) patched.
 */
import { ModbtfError } from '../errors.js';
import { ElfFile, SHN_LORESERVE, SHT_NOBITS, SHT_PROGBITS } from './elf.js';

export interface ElfAddSection {
  name: string;
  data: Uint8Array;
  /** Copy type, flags, alignment etc. from this existing section's header. */
  like?: string;
  type?: number;
  flags?: bigint;
  addralign?: bigint;
}

export interface ElfEdits {
  /** Section name -> new contents. */
  replace?: Map<string, Uint8Array>;
  add?: ElfAddSection[];
  /**
   * Sections to remove. Trailing ones are dropped; one with sections after it
   * becomes an empty SHT_NULL placeholder so no later index moves.
   */
  remove?: string[];
}

const SHDR64 = 64;
const EHDR64 = 64;

function align(n: number, a: number): number {
  return a > 1 ? Math.ceil(n / a) * a : n;
}

const MAX_ALIGN = 1 << 16;

/** A section's alignment as a usable number; absurd values (hostile headers) are refused. */
function alignmentOf(raw: bigint, name: string, file: string | undefined): number {
  if (raw <= 1n) return 1;
  if (raw > BigInt(MAX_ALIGN) || (raw & (raw - 1n)) !== 0n) {
    throw new ModbtfError('E_ELF_SECTION', `section ${name} has an invalid alignment ${raw}`, { file, section: name });
  }
  return Number(raw);
}

/**
 * A rewritten ELF file as pieces: views of the input for the unchanged
 * ranges, and the new bytes. Written with writev, nothing of the input is
 * copied; `elfBytes()` joins them when one buffer is needed.
 */
export interface ElfPieces {
  pieces: Uint8Array[];
  length: number;
}

/** The pieces joined into a new buffer. */
export function elfBytes(p: ElfPieces): Uint8Array {
  const out = new Uint8Array(p.length);
  let at = 0;
  for (const x of p.pieces) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}

/**
 * `rest` with the rewritten module as `pieces`, and as `elf`: the pieces
 * joined into one buffer when `elf` is first read (never, when written with writev).
 */
export function withElf<T extends object>(pieces: ElfPieces, rest: T): T & { readonly elf: Uint8Array; pieces: ElfPieces } {
  let joined: Uint8Array | null = null;
  const o = Object.assign(rest, { pieces });
  Object.defineProperty(o, 'elf', { get: () => (joined ??= elfBytes(pieces)), enumerable: true });
  return o as T & { readonly elf: Uint8Array; pieces: ElfPieces };
}

/** A change to the input's bytes below its content end: `data` (or `len` zero bytes) at `at`. */
interface Patch {
  at: number;
  data: Uint8Array | null;
  len: number;
}

/** New bytes after the input's content: appended pieces, each at its alignment. */
class Tail {
  readonly pieces: Uint8Array[] = [];
  len: number;
  constructor(start: number) {
    this.len = start;
  }
  append(data: Uint8Array, alignment: number): number {
    const at = align(this.len, alignment);
    if (at > this.len) this.pieces.push(new Uint8Array(at - this.len));
    if (data.length) this.pieces.push(data);
    this.len = at + data.length;
    return at;
  }
}

/** Unchanged ranges of `src` below `end` as views, with the patches laid over them. */
function patchedPieces(src: Uint8Array, end: number, patches: Patch[]): Uint8Array[] {
  const sorted = patches.filter((p) => p.len > 0).sort((x, y) => x.at - y.at);
  const overlap = sorted.some((p, i) => i > 0 && p.at < sorted[i - 1]!.at + sorted[i - 1]!.len);
  if (overlap) {
    // Sections overlapping each other (hostile input): apply in order over a copy, as written.
    const copy = Uint8Array.prototype.slice.call(src, 0, end);
    for (const p of patches) {
      if (p.data) copy.set(p.data.subarray(0, p.len), p.at);
      else copy.fill(0, p.at, p.at + p.len);
    }
    return [copy];
  }
  const out: Uint8Array[] = [];
  let pos = 0;
  for (const p of sorted) {
    if (p.at > pos) out.push(src.subarray(pos, p.at));
    out.push(p.data ? p.data.subarray(0, p.len) : new Uint8Array(p.len));
    pos = p.at + p.len;
  }
  if (pos < end) out.push(src.subarray(pos, end));
  return out;
}

export function editElf(elf: ElfFile, edits: ElfEdits): Uint8Array {
  return elfBytes(editElfPieces(elf, edits));
}

/** `editElf`, the result as pieces over the input (see ElfPieces). */
export function editElfPieces(elf: ElfFile, edits: ElfEdits): ElfPieces {
  const file = elf.file;
  if (!elf.is64) throw new ModbtfError('E_ELF_CLASS', 'only ELF64 modules can be rewritten', { file });
  const le = elf.littleEndian;
  const replace = edits.replace ?? new Map<string, Uint8Array>();
  const add = edits.add ?? [];
  const remove = new Set(edits.remove ?? []);
  const nsec = elf.sections.length;

  for (const name of [...replace.keys(), ...remove]) {
    if (!elf.section(name)) throw new ModbtfError('E_ELF_SECTION', `no section ${name} to ${replace.has(name) ? 'replace' : 'remove'}`, { file, section: name });
  }
  for (const a of add) {
    if (elf.section(a.name) && !remove.has(a.name)) throw new ModbtfError('E_ELF_SECTION', `section ${a.name} already exists`, { file, section: a.name });
    if (a.like && !elf.section(a.like)) throw new ModbtfError('E_ELF_SECTION', `no section ${a.like} to model ${a.name} on`, { file, section: a.like });
  }

  // Headers, as raw bytes, patched below: one copy of the whole table (Uint8Array slice, so a
  // Buffer input is neither mutated nor misread), each header a view of it.
  const copied = Uint8Array.prototype.slice.call(elf.bytes, elf.shoff, elf.shoff + nsec * SHDR64);
  const headers: Uint8Array[] = new Array(nsec);
  for (let i = 0; i < nsec; i++) headers[i] = copied.subarray(i * SHDR64, (i + 1) * SHDR64);
  const hdv = (i: number): DataView => {
    const h = headers[i]!;
    return new DataView(h.buffer, h.byteOffset, h.byteLength);
  };

  // Start appending where the old section header table was, when it ends the file.
  const tableEnd = elf.shoff + nsec * SHDR64;
  const contentEnd = tableEnd >= elf.bytes.length ? elf.shoff : elf.bytes.length;
  const out = new Tail(contentEnd);
  const patches: Patch[] = [];
  // If the table was at the end, sections can no longer lie past contentEnd (they never do).

  for (const [name, data] of replace) {
    const s = elf.section(name)!;
    if (s.type === SHT_NOBITS) throw new ModbtfError('E_ELF_SECTION', `section ${name} has no file data to replace`, { file, section: name });
    let offset: number;
    if (data.length <= s.size && s.offset + s.size <= contentEnd) {
      offset = s.offset;
      patches.push({ at: offset, data, len: data.length });
      patches.push({ at: offset + data.length, data: null, len: s.size - data.length });
    } else {
      offset = out.append(data, alignmentOf(s.addralign, name, file));
      // The old bytes stay unreferenced in the file: clear them rather than leave stale BTF.
      if (s.offset + s.size <= contentEnd) patches.push({ at: s.offset, data: null, len: s.size });
    }
    hdv(s.index).setBigUint64(24, BigInt(offset), le);
    hdv(s.index).setBigUint64(32, BigInt(data.length), le);
  }

  // Section names: keep the old table, append the names it lacks.
  const shstr = elf.sections[elf.shstrndx]!;
  const oldNames = elf.data(shstr);
  const extraNames: string[] = [];
  const nameOffsets = new Map<string, number>();
  const findName = (name: string): number => {
    const known = nameOffsets.get(name);
    if (known !== undefined) return known;
    // Any occurrence works, a suffix of a longer name included (ELF string tables allow it).
    const needle = Buffer.from(`${name}\0`, 'latin1');
    let at = Buffer.from(oldNames.buffer, oldNames.byteOffset, oldNames.byteLength).indexOf(needle);
    if (at < 0) {
      at = oldNames.length + extraNames.reduce((n, s) => n + Buffer.byteLength(s, 'latin1') + 1, 0);
      extraNames.push(name);
    }
    nameOffsets.set(name, at);
    return at;
  };

  for (const a of add) {
    let h: Uint8Array;
    if (a.like) {
      h = Uint8Array.prototype.slice.call(elf.headerBytes(elf.section(a.like)!.index));
    } else {
      h = new Uint8Array(SHDR64);
      const d = new DataView(h.buffer);
      d.setUint32(4, SHT_PROGBITS, le);
      d.setBigUint64(48, 1n, le);
    }
    const d = new DataView(h.buffer);
    if (a.type !== undefined) d.setUint32(4, a.type, le);
    if (a.flags !== undefined) d.setBigUint64(8, a.flags, le);
    if (a.addralign !== undefined) d.setBigUint64(48, a.addralign, le);
    d.setBigUint64(16, 0n, le); // sh_addr
    d.setUint32(40, 0, le); // sh_link
    d.setUint32(44, 0, le); // sh_info
    const alignment = alignmentOf(d.getBigUint64(48, le), a.name, file);
    const offset = out.append(a.data, alignment);
    d.setUint32(0, findName(a.name), le);
    d.setBigUint64(24, BigInt(offset), le);
    d.setBigUint64(32, BigInt(a.data.length), le);
    headers.push(h);
  }

  // Removal: trailing sections (of the original table) are dropped, others emptied.
  let keepOriginal = nsec;
  while (keepOriginal > 0 && remove.has(elf.sections[keepOriginal - 1]!.name) && keepOriginal - 1 !== elf.shstrndx) keepOriginal--;
  for (const name of remove) {
    const s = elf.section(name)!;
    if (s.index === elf.shstrndx) throw new ModbtfError('E_ELF_SECTION', 'cannot remove the section name table', { file, section: name });
    if (s.type !== SHT_NOBITS && s.offset + s.size <= contentEnd) patches.push({ at: s.offset, data: null, len: s.size });
    if (s.index >= keepOriginal) continue;
    headers[s.index] = new Uint8Array(SHDR64);
  }
  const referenced = elf.sections.slice(keepOriginal).filter((s) => elf.sections.some((o) => o.index < keepOriginal && o.link === s.index && o.link !== 0));
  if (referenced.length) {
    throw new ModbtfError('E_ELF_SECTION', `cannot remove ${referenced[0]!.name}: another section links to it`, { file, section: referenced[0]!.name });
  }
  const finalHeaders = [...headers.slice(0, keepOriginal), ...headers.slice(nsec)];

  if (extraNames.length) {
    const tail = Buffer.from(extraNames.map((n) => `${n}\0`).join(''), 'latin1');
    const names = new Uint8Array(oldNames.length + tail.length);
    names.set(oldNames);
    names.set(tail, oldNames.length);
    const offset = out.append(names, 1);
    const d = hdv(elf.shstrndx);
    d.setBigUint64(24, BigInt(offset), le);
    d.setBigUint64(32, BigInt(names.length), le);
  }

  const count = finalHeaders.length;
  if (count >= SHN_LORESERVE) throw new ModbtfError('E_ELF_SECTION', `too many sections (${count}) for this writer`, { file });
  const table = new Uint8Array(count * SHDR64);
  finalHeaders.forEach((h, i) => table.set(h, i * SHDR64));
  const shoff = out.append(table, 8);
  const setHeader = (ehdr: Uint8Array): void => {
    const hv = new DataView(ehdr.buffer, ehdr.byteOffset, ehdr.byteLength);
    hv.setBigUint64(0x28, BigInt(shoff), le);
    hv.setUint16(0x3c, count, le);
  };
  if (contentEnd < EHDR64) {
    // A section table inside the ELF header (hostile input): patch the joined bytes.
    const joined = elfBytes({ pieces: [...patchedPieces(elf.bytes, contentEnd, patches), ...out.pieces], length: out.len });
    setHeader(joined);
    return { pieces: [joined], length: out.len };
  }
  const ehdr = Uint8Array.prototype.slice.call(elf.bytes, 0, EHDR64);
  setHeader(ehdr);
  patches.push({ at: 0, data: ehdr, len: EHDR64 });
  const pieces = patchedPieces(elf.bytes, contentEnd, patches);
  pieces.push(...out.pieces);
  return { pieces, length: out.len };
}
