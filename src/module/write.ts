/** Atomic writes: temp file beside the target, fsync, rename; mode kept; input untouched on failure. */
import { chownSync, closeSync, fchmodSync, fsync, lstatSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync, writevSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ModbtfError, ioReason } from '../errors.js';
import { compress, type Compression } from './compress.js';

export interface WriteOptions {
  /** Mode for a new file (an existing target keeps its own). */
  mode?: number;
  /**
   * Called once the data is written to the temp file, before the fsync: the caller may free
   * what the data was made from (a batch frees the module it read while the disk catches up).
   */
  afterWrite?: () => void;
}

/** Test hook: a function called after the temp file is written, before the rename. */
let beforeRename: ((tmp: string) => Promise<void> | void) | null = null;
export function setBeforeRenameHook(fn: ((tmp: string) => Promise<void> | void) | null): void {
  beforeRename = fn;
}

/**
 * The temp file name of a write to `path` by process `pid`. The suffix only
 * keeps concurrent writers apart: the file is created with O_EXCL, so a name
 * that exists already fails rather than being reused (no need for node:crypto,
 * whose load every writing command would pay).
 */
const tempName = (path: string, pid: number): string =>
  join(dirname(path), `.${basename(path)}.modbtf-${pid}-${Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0')}.tmp`);

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Is process `pid` alive? (EPERM: alive, someone else's.) */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
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
 * Per directory: its modification time when last listed and the modbtf temp
 * names it held then. A batch writing many files into one directory lists it
 * once, not once per file; any change to the directory by someone else (a new
 * temp file included) changes its mtime and makes it listed again.
 */
const tempListing = new Map<string, { mtimeNs: bigint; names: string[] }>();

function dirMtime(dir: string): bigint | null {
  try {
    return statSync(dir, { bigint: true }).mtimeNs;
  } catch {
    return null;
  }
}

function tempNamesIn(dir: string): string[] {
  const mtimeNs = dirMtime(dir);
  const known = tempListing.get(dir);
  if (known && mtimeNs !== null && known.mtimeNs === mtimeNs) return known.names;
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.tmp') && n.includes('.modbtf-'));
  } catch {
    return [];
  }
  if (mtimeNs !== null) tempListing.set(dir, { mtimeNs, names });
  return names;
}

function forgetTemp(dir: string, name: string): void {
  const known = tempListing.get(dir);
  if (known) known.names = known.names.filter((n) => n !== name);
  noteOwnChange(dir);
}

/**
 * After this process changed `dir` (its own temp file created or renamed, a
 * stale one removed), the listing of others' temp files still holds: note the new mtime.
 */
function noteOwnChange(dir: string): void {
  const known = tempListing.get(dir);
  if (!known) return;
  const mtimeNs = dirMtime(dir);
  if (mtimeNs === null) tempListing.delete(dir);
  else known.mtimeNs = mtimeNs;
}

/**
 * Remove the temp files earlier writes to `path` left behind when killed
 * (`.NAME.modbtf-PID-XXXXXXXX.tmp` whose PID is no longer running). A file
 * whose process is alive, or that cannot be checked, is left alone. Returns
 * the names removed.
 */
export function removeStaleTemps(path: string): string[] {
  const dir = dirname(path);
  const removed: string[] = [];
  const names = tempNamesIn(dir);
  // Usually none: then no pattern is compiled (one per target name, a cost in a batch).
  if (names.length === 0) return removed;
  const re = new RegExp(`^\\.${escapeRe(basename(path))}\\.modbtf-(\\d+)-[0-9a-f]+\\.tmp$`);
  for (const name of names) {
    const m = re.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    try {
      const st = lstatSync(join(dir, name));
      if (!st.isFile()) continue;
      rmSync(join(dir, name));
      removed.push(name);
      forgetTemp(dir, name);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
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
    // A symlink target is replaced by the file, not followed; the file takes the mode and owner
    // of the file the link pointed to, when there is one. (No target yet: undefined, not an
    // exception to build and catch, once per module of a batch.)
    let st = lstatSync(path, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) {
      try {
        st = statSync(path);
      } catch {
        // a dangling link: a new file
      }
    }
    if (st?.isDirectory()) throw new ModbtfError('E_WRITE', 'cannot write: is a directory', { file: path });
    if (st?.isFile()) {
      mode = st.mode & 0o7777;
      owner = { uid: st.uid, gid: st.gid };
    }
  } catch (e) {
    if (e instanceof ModbtfError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(path, e);
  }
  removeStaleTemps(path);
  const tmp = tempName(path, process.pid);
  let created = false;
  try {
    const fd = openSync(tmp, 'wx', mode);
    created = true;
    noteOwnChange(dir);
    try {
      writeAll(fd, data instanceof Uint8Array ? [data] : data);
      fchmodSync(fd, mode);
      opts.afterWrite?.();
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
    noteOwnChange(dir);
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
  return new ModbtfError('E_WRITE', `cannot write: ${ioReason(e, { ENOENT: 'directory does not exist' })}`, { file: path });
}

export interface WriteModuleOptions {
  compression: Compression;
  mode?: number;
  afterWrite?: () => void;
}

/** Compress as the input was, then write atomically. */
export async function writeModule(path: string, elf: Uint8Array, opts: WriteModuleOptions): Promise<void> {
  const data = compress(elf, opts.compression, path);
  await writeFileAtomic(path, data, { mode: opts.mode, afterWrite: opts.afterWrite });
}

