/**
 * String lookup on bytes: an open-addressing hash table of offsets into a
 * string section, compared byte for byte. No JS string is made for a lookup
 * or an insert, so string-heavy work (distill's string tables) allocates
 * nothing per string.
 */

/** FNV-1a over bytes[start, end). */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

/** Offset of the NUL ending the string at `start` (or `bytes.length`). */
export function strEnd(bytes: Uint8Array, start: number): number {
  const e = bytes.indexOf(0, start);
  return e < 0 ? bytes.length : e;
}

export class StrIndex {
  /** Slot -> offset in the table's string bytes, -1 when empty. */
  private slots: Int32Array;
  private mask: number;
  private count = 0;

  /** `bytes()` gives the current string bytes (the owner's buffer may grow and move). */
  constructor(private readonly bytes: () => Uint8Array, capacity = 64) {
    let n = 64;
    while (n < capacity * 2) n *= 2;
    this.slots = new Int32Array(n).fill(-1);
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
    for (let s = hash & this.mask; ; s = (s + 1) & this.mask) {
      const off = this.slots[s]!;
      if (off < 0) return -1;
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
    let s = hash & this.mask;
    while (this.slots[s]! >= 0) s = (s + 1) & this.mask;
    this.slots[s] = off;
    this.count++;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2).fill(-1);
    this.mask = this.slots.length - 1;
    const bytes = this.bytes();
    for (const off of old) {
      if (off < 0) continue;
      let s = hashBytes(bytes, off, strEnd(bytes, off)) & this.mask;
      while (this.slots[s]! >= 0) s = (s + 1) & this.mask;
      this.slots[s] = off;
    }
  }
}
