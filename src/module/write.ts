/** Atomic writes: temp file beside the target, fsync, rename; mode kept; input untouched on failure. */
import { chownSync, closeSync, fchmodSync, fsync, lstatSync, openSync, renameSync, rmSync, writeSync, writevSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ModbtfError } from '../errors.js';
import { compress, type Compression } from './compress.js';

export interface WriteOptions {
  /** Mode for a new file (an existing target keeps its own). */
  mode?: number;
}

/** Test hook: a function called after the temp file is written, before the rename. */
let beforeRename: ((tmp: string) => Promise<void> | void) | null = null;
export function setBeforeRenameHook(fn: ((tmp: string) => Promise<void> | void) | null): void {
  beforeRename = fn;
}

/** 8 hex digits for a temp name (exclusive create makes it safe; this only makes clashes rare). */
function tempSuffix(): string {
  return ((Math.random() * 2 ** 32) >>> 0).toString(16).padStart(8, '0');
}

/** fsync on libuv's thread pool: a batch's files are synced concurrently, not one after another. */
function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}

/** Write all of `pieces` at the file's current position (writev, resumed after a short write). */
function writeAll(fd: number, pieces: readonly Uint8Array[]): void {
  let i = 0;
  let skip = 0;
  while (i < pieces.length) {
    const batch = pieces.slice(i, i + 512).map((p, j) => (j === 0 && skip ? p.subarray(skip) : p));
    let n = batch.length === 1 ? writeSync(fd, batch[0]!) : writevSync(fd, batch);
    while (i < pieces.length && n >= pieces[i]!.length - skip) {
      n -= pieces[i]!.length - skip;
      skip = 0;
      i++;
    }
    if (i < pieces.length) skip += n;
  }
}

/**
 * Write `data` (one buffer, or pieces written in order) to `path` atomically: a temporary file
 * beside it, written, fsync'd, then renamed over `path`, then the directory fsync'd.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | readonly Uint8Array[], opts: WriteOptions = {}): Promise<void> {
  // Synchronous system calls except the fsyncs: per module they are few and small, and a libuv
  // round trip each would cost more than the calls themselves. The fsyncs wait on the disk:
  // they run on the thread pool, so a batch goes on with other modules meanwhile.
  const dir = dirname(path);
  let mode = opts.mode ?? 0o644;
  let owner: { uid: number; gid: number } | null = null;
  try {
    // A symlink target is replaced by the file, not followed.
    const st = lstatSync(path);
    if (st.isDirectory()) throw new ModbtfError('E_WRITE', 'cannot write: is a directory', { file: path });
    if (st.isFile()) {
      mode = st.mode & 0o7777;
      owner = { uid: st.uid, gid: st.gid };
    }
  } catch (e) {
    if (e instanceof ModbtfError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(path, e);
  }
  const tmp = join(dir, `.${basename(path)}.modbtf-${process.pid}-${tempSuffix()}.tmp`);
  let created = false;
  try {
    const fd = openSync(tmp, 'wx', mode);
    created = true;
    try {
      writeAll(fd, data instanceof Uint8Array ? [data] : data);
      fchmodSync(fd, mode);
      await fsyncAsync(fd);
    } finally {
      closeSync(fd);
    }
    if (owner && process.getuid?.() === 0) {
      try {
        chownSync(tmp, owner.uid, owner.gid);
      } catch {
        // best effort
      }
    }
    if (beforeRename) await beforeRename(tmp);
    renameSync(tmp, path);
    created = false;
    const dfd = openSync(dir, 'r');
    try {
      await fsyncAsync(dfd);
    } catch {
      // some file systems cannot sync a directory
    } finally {
      closeSync(dfd);
    }
  } catch (e) {
    if (created) rmSync(tmp, { force: true });
    if (e instanceof ModbtfError) throw e;
    throw ioError(path, e);
  }
}

function ioError(path: string, e: unknown): ModbtfError {
  const err = e as NodeJS.ErrnoException;
  const reasons: Record<string, string> = {
    ENOENT: 'directory does not exist', EACCES: 'permission denied', EROFS: 'read-only file system',
    ENOSPC: 'no space left on device', EDQUOT: 'disk quota exceeded', EISDIR: 'is a directory', EPERM: 'operation not permitted',
  };
  const why = (err.code && reasons[err.code]) ?? err.message ?? String(e);
  return new ModbtfError('E_WRITE', `cannot write: ${why}`, { file: path });
}

export interface WriteModuleOptions {
  compression: Compression;
  mode?: number;
}

/** Compress as the input was, then write atomically. */
export async function writeModule(path: string, elf: Uint8Array, opts: WriteModuleOptions): Promise<void> {
  const data = compress(elf, opts.compression, path);
  await writeFileAtomic(path, data, { mode: opts.mode });
}

