/**
 * Reading an input ahead of its use, on libuv's thread pool, while this
 * thread does other work: the kernel BTF and the first module while the
 * command's code loads, the next module of a batch while this one is
 * computed. `openInput` takes the bytes only when the file it opens is
 * still the one that was read (same device, inode, size, mtime and ctime);
 * otherwise, or when anything failed here, it reads the file itself and
 * reports what is wrong with it. Nothing here throws.
 */
import { close, closeSync, constants, fstatSync, openSync, read, readSync, type Stats } from 'node:fs';
import { isRawBtf } from '../btf/kinds.js';
import { isElf } from '../elf/elf.js';
import { limitOf } from './limits.js';

/** Files above this size are read ahead only when they are plain ELF or raw BTF (see below). */
const PLAIN_ONLY_ABOVE = 2 << 20;
/**
 * Smaller files are left to openInput's own read: a trip through the thread
 * pool costs more than reading them (most modules of a kernel tree are this small).
 */
const MIN_SIZE = 128 * 1024;

export interface ReadAhead {
  bytes: Uint8Array;
  stat: Stats;
}

const pending = new Map<string, Promise<ReadAhead | null>>();

/** Whether `st` (taken when the file is opened for use) is the file `a` was read from. */
export function sameFile(a: Stats, st: Stats): boolean {
  return a.dev === st.dev && a.ino === st.ino && a.size === st.size && a.mtimeMs === st.mtimeMs && a.ctimeMs === st.ctimeMs;
}

/**
 * Start reading `path` (a regular, non-empty file of at most `limit` bytes;
 * above 2 MiB only a plain ELF or raw BTF file, not a compressed one that
 * `openInput` streams to a decompressor, nor a boot image) in one read on the
 * thread pool. Opening and fstat are done here, synchronously: they are cheap,
 * and a chain of thread-pool steps would advance only when this thread yields.
 */
export function readAhead(path: string, limit = limitOf(undefined)): void {
  if (pending.has(path)) return;
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size < MIN_SIZE || stat.size > limit || stat.size > 0x7fff0000) {
      closeSync(fd);
      return;
    }
    if (stat.size > PLAIN_ONLY_ABOVE) {
      const h = new Uint8Array(4);
      const head = h.subarray(0, readSync(fd, h, 0, h.length, 0));
      if (!isElf(head) && !isRawBtf(head)) {
        closeSync(fd);
        return;
      }
    }
    const bytes = new Uint8Array(stat.size);
    const file = fd;
    fd = -1;
    pending.set(path, new Promise((resolve) => {
      read(file, bytes, 0, bytes.length, 0, (e, n) => {
        close(file, () => undefined);
        // A short read (the file shrank) or an error: openInput reads it and says what is wrong.
        resolve(e || n !== bytes.length ? null : { bytes, stat });
      });
    }));
  } catch {
    if (fd >= 0) closeSync(fd);
  }
}

/** The read-ahead of `path`, if one was started and not taken yet (taking it forgets it). */
export function takeReadAhead(path: string): Promise<ReadAhead | null> | undefined {
  const p = pending.get(path);
  if (p) pending.delete(path);
  return p;
}

/** Forget every read-ahead not taken (their bytes are freed once their reads finish). */
export function dropReadAheads(): void {
  pending.clear();
}
