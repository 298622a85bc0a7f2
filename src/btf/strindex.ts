/**
 * String lookup on bytes: an open-addressing hash table of offsets into a
 * string section, compared byte for byte. No JS string is made for a lookup
 * or an insert, so string-heavy work (distill's string tables) allocates
 * nothing per string.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over bytes[start, end). */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME);
  return h >>> 0;
}

/** Offset of the NUL ending the string at `start` (or `bytes.length`). */
export function strEnd(bytes: Uint8Array, start: number): number {
  const e = bytes.indexOf(0, start);
  return e < 0 ? bytes.length : e;
}

/**
 * The string at `start` of `bytes` (up to its NUL or the end) in one pass:
 * its end is left in `scan.end` and its hashBytes() in `scan.hash`.
 */
export const scan = { end: 0, hash: 0 };
export function scanString(bytes: Uint8Array, start: number): void {
  const n = bytes.length;
  let h = FNV_OFFSET;
  let e = start;
  for (; e < n; e++) {
    const c = bytes[e]!;
    if (c === 0) break;
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  scan.end = e;
  scan.hash = h >>> 0;
}

export class StrIndex {
  /** Slot -> offset in the table's string bytes, -1 when empty. */
  private slots: Int32Array;
  /** Slot -> hash of the string there. */
  private hashes: Uint32Array;
  private mask: number;
  private count = 0;

  /** `bytes()` gives the current string bytes (the owner's buffer may grow and move). */
  constructor(private readonly bytes: () => Uint8Array, capacity = 64) {
    let n = 64;
    while (n < capacity * 2) n *= 2;
    this.slots = new Int32Array(n).fill(-1);
    this.hashes = new Uint32Array(n);
    this.mask = n - 1;
  }

  /** Index every string of a NUL-separated section, keeping the first offset of each. */
  static ofSection(section: Uint8Array): StrIndex {
    let n = 0;
    for (let i = 0; i < section.length; i++) if (section[i] === 0) n++;
    const idx = new StrIndex(() => section, n);
    let start = 0;
    for (let i = 0; i < section.length; i++) {
      if (section[i] !== 0) continue;
      if (i > start) idx.insertIfAbsent(start, i);
      start = i + 1;
    }
    return idx;
  }

  /** Offset (in the table's bytes) of a string equal to key[start, end), or -1. */
  find(key: Uint8Array, start: number, end: number, hash = hashBytes(key, start, end)): number {
    const bytes = this.bytes();
    const len = end - start;
    const slots = this.slots;
    const hashes = this.hashes;
    const mask = this.mask;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const off = slots[s]!;
      if (off < 0) return -1;
      if (hashes[s] !== hash) continue;
      if (bytes[off + len] !== 0 && off + len < bytes.length) continue;
      let i = 0;
      while (i < len && bytes[off + i] === key[start + i]) i++;
      if (i === len) return off;
    }
  }

  /** Record the string at [start, end) of the table's bytes unless an equal one is there. */
  insertIfAbsent(start: number, end: number): void {
    const bytes = this.bytes();
    const h = hashBytes(bytes, start, end);
    if (this.find(bytes, start, end, h) >= 0) return;
    this.put(start, h);
  }

  /** Record the string at `off` (known absent), whose hash is `hash`. */
  put(off: number, hash: number): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const mask = this.mask;
    let s = hash & mask;
    while (this.slots[s]! >= 0) s = (s + 1) & mask;
    this.slots[s] = off;
    this.hashes[s] = hash;
    this.count++;
  }

  private grow(): void {
    const old = this.slots;
    const oldHashes = this.hashes;
    const n = old.length * 2;
    const slots = new Int32Array(n).fill(-1);
    const hashes = new Uint32Array(n);
    const mask = n - 1;
    for (let i = 0; i < old.length; i++) {
      const off = old[i]!;
      if (off < 0) continue;
      const h = oldHashes[i]!;
      let s = h & mask;
      while (slots[s]! >= 0) s = (s + 1) & mask;
      slots[s] = off;
      hashes[s] = h;
    }
    this.slots = slots;
    this.hashes = hashes;
    this.mask = mask;
  }
}
