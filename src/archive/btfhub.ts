/**
 * min-core over a BTFHub-style tree of kernel BTFs: `<distro>/<version>/<arch>/<release>.btf`
 * (or `.btf.tar.xz`, as btfhub-archive ships them), each minimized for the same BPF objects,
 * written as the same tree and/or as a gzipped tar laid out as bcc's `min_core_btfs.tar.gz`
 * (entries `./<distro>/<version>/<arch>/<release>.btf`, what libbpf-tools' ensure_core_btf()
 * looks up). Work is spread over worker threads; output is reproducible: entries sorted, mtime 0,
 * uid/gid 0, no owner names.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { readBpfObjects, type BpfObject } from '../bpfobj/object.js';
import { Btf } from '../btf/btf.js';
import { minCoreBtf } from '../core/mincore.js';
import { ModbtfError, ioReason } from '../errors.js';
import { decompress, detectCompression } from '../module/compress.js';
import { readInputFile } from '../module/open.js';
import { workerExecArgv } from '../workers.js';

/** One kernel BTF of the tree. */
export interface KernelBtfEntry {
  /** Path under the tree's root, always ending in `.btf`, with `/` separators. */
  rel: string;
  /** The file read: `<rel>` itself, or `<rel>.tar.xz`. */
  path: string;
}

const BTF_RE = /\.btf(\.tar\.xz)?$/;

/**
 * The kernel BTFs under `root`, sorted by `rel`. Where both `X.btf` and `X.btf.tar.xz` exist (a
 * tree where the archives were unpacked in place), `X.btf` is read.
 */
export function findKernelBtfs(root: string): KernelBtfEntry[] {
  let entries;
  try {
    entries = readdirSync(root, { recursive: true, withFileTypes: true });
  } catch (e) {
    throw new ModbtfError('E_IO', `cannot read directory: ${ioReason(e)}`, { file: root });
  }
  const byRel = new Map<string, string>();
  for (const d of entries) {
    if (!d.isFile() || !BTF_RE.test(d.name)) continue;
    const path = join(d.parentPath, d.name);
    const rel = relative(root, path).split(sep).join('/').replace(/\.tar\.xz$/, '');
    const seen = byRel.get(rel);
    if (!seen || seen.endsWith('.tar.xz')) byRel.set(rel, path);
  }
  return [...byRel.keys()].sort().map((rel) => ({ rel, path: byRel.get(rel)! }));
}

/** The raw BTF of one kernel: the file itself, or the one `.btf` member of a `.btf.tar.xz`. */
export async function readKernelBtf(path: string): Promise<Uint8Array> {
  const data = readInputFile(path);
  if (!path.endsWith('.tar.xz')) return data;
  if (detectCompression(data) !== 'xz') throw new ModbtfError('E_DECOMPRESS', 'not xz-compressed', { file: path });
  const tar = await decompress(data, 'xz', path);
  const members = await untar(tar, path);
  const btfs = members.filter((m) => m.name.endsWith('.btf'));
  if (btfs.length !== 1) {
    throw new ModbtfError('E_NOT_BTF', `expected one *.btf member in the archive, found ${btfs.length}`, { file: path });
  }
  return btfs[0]!.data;
}

async function untar(tar: Uint8Array, file: string): Promise<{ name: string; data: Uint8Array }[]> {
  const out: { name: string; data: Uint8Array }[] = [];
  const ex = tarExtract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (entry.header.type === 'file') out.push({ name: entry.header.name, data: Buffer.concat(chunks) });
    }
  })();
  ex.end(Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength));
  try {
    await done;
  } catch (e) {
    // tar-stream's own text names none of this: say what is wrong with the file.
    throw new ModbtfError('E_DECOMPRESS', e instanceof ModbtfError ? e.message : 'corrupt tar archive', { file });
  }
  return out;
}

/**
 * A gzipped tar of `files` (paths relative to the archive's root, `/`-separated) laid out as
 * `tar c --gz -C DIR .` does: `./`, then every directory and file as `./a/b/...`, parents
 * first, sorted; mode 0755/0644, mtime 0, uid/gid 0, no owner names; gzip with mtime 0.
 */
export async function reproducibleTarGz(files: readonly { rel: string; data: Uint8Array }[]): Promise<Uint8Array> {
  const names = new Map<string, Uint8Array | null>([['./', null]]);
  for (const f of files) {
    const parts = f.rel.split('/');
    for (let i = 1; i < parts.length; i++) names.set(`./${parts.slice(0, i).join('/')}/`, null);
    names.set(`./${f.rel}`, f.data);
  }
  const p = tarPack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  const base = { mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' };
  for (const name of [...names.keys()].sort()) {
    const data = names.get(name);
    if (data) p.entry({ ...base, name, type: 'file', mode: 0o644, size: data.length }, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    else p.entry({ ...base, name, type: 'directory', mode: 0o755 });
  }
  p.finalize();
  await collected;
  return new Uint8Array(gzipSync(Buffer.concat(chunks), { level: 9 }));
}

/** What min-core made of one kernel of the tree. */
export interface ArchiveResult {
  rel: string;
  path: string;
  ok: boolean;
  /** The minimized BTF. */
  bytes?: Uint8Array;
  types?: number;
  /** Relocations that found no target on this kernel (existence checks give 0, others poison). */
  missing?: number;
  error?: ModbtfError;
}

/** One BPF input (an object or a program embedding objects), as bytes, named for messages. */
export interface ArchiveInput {
  name: string;
  bytes: Uint8Array;
}

export function readArchiveInputs(inputs: readonly ArchiveInput[]): BpfObject[] {
  return inputs.flatMap((i) => readBpfObjects(i.bytes, i.name));
}

/** Minimize one kernel for the objects, in this thread. */
export async function minimizeKernel(entry: KernelBtfEntry, objects: BpfObject[]): Promise<ArchiveResult> {
  try {
    const raw = await readKernelBtf(entry.path);
    const kernel = Btf.parse(raw, { file: entry.path });
    const r = minCoreBtf(kernel, objects);
    const missing = r.objects.reduce((n, o) => n + o.relocations.filter((x) => x.status === 'missing').length, 0);
    return { ...entry, ok: true, bytes: r.bytes, types: r.types, missing };
  } catch (e) {
    const err = e instanceof ModbtfError ? e : new ModbtfError('E_CORE', `internal error: ${(e as Error).message}`);
    return { ...entry, ok: false, error: err.at({ file: entry.path }) };
  }
}

/** A worker's answer; errors travel as plain data. */
export interface WorkerAnswer {
  index: number;
  ok: boolean;
  bytes?: Uint8Array;
  types?: number;
  missing?: number;
  error?: { code: ModbtfError['code']; message: string; file?: string; section?: string; typeId?: number };
}

export function toAnswer(index: number, r: ArchiveResult): WorkerAnswer {
  if (r.ok) return { index, ok: true, bytes: r.bytes!, types: r.types!, missing: r.missing! };
  const e = r.error!;
  return { index, ok: false, error: { code: e.code, message: e.message, file: e.file, section: e.section, typeId: e.typeId } };
}

function fromAnswer(entry: KernelBtfEntry, a: WorkerAnswer): ArchiveResult {
  if (a.ok) return { ...entry, ok: true, bytes: a.bytes!, types: a.types!, missing: a.missing! };
  const e = a.error!;
  return { ...entry, ok: false, error: new ModbtfError(e.code, e.message, { file: e.file, section: e.section, typeId: e.typeId }) };
}

/**
 * Minimize every kernel of `entries` for `inputs` with up to `jobs` worker threads (the objects
 * are parsed once per worker). `onResult` sees each kernel as it completes, in completion order;
 * the resolved array is in `entries` order.
 */
export async function minCoreArchive(
  entries: readonly KernelBtfEntry[],
  inputs: readonly ArchiveInput[],
  jobs: number,
  onResult?: (r: ArchiveResult, done: number) => void | Promise<void>,
): Promise<ArchiveResult[]> {
  const results: ArchiveResult[] = new Array(entries.length);
  let done = 0;
  const finish = async (i: number, r: ArchiveResult): Promise<void> => {
    results[i] = r;
    done++;
    await onResult?.(r, done);
  };
  // dist/archive/worker.js, next to this module, or below the bundled CLI (dist/modbtf.cjs).
  const workerUrl = [new URL('./worker.js', import.meta.url), new URL('./archive/worker.js', import.meta.url)]
    .find((u) => existsSync(fileURLToPath(u)));
  const n = Math.min(jobs, entries.length);
  if (n <= 1 || !workerUrl) {
    const objects = readArchiveInputs(inputs);
    for (let i = 0; i < entries.length; i++) await finish(i, await minimizeKernel(entries[i]!, objects));
    return results;
  }
  let next = 0;
  const execArgv = workerExecArgv();
  const workers: Worker[] = [];
  // On a failure (a write that fails, a worker that dies) every worker is stopped, so none is
  // left waiting for work that will not come.
  try {
    await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve, reject) => {
      const w = new Worker(workerUrl, { workerData: { inputs }, execArgv });
      workers.push(w);
      const feed = (): void => {
        if (next >= entries.length) {
          void w.terminate();
          resolve();
          return;
        }
        const i = next++;
        w.postMessage({ index: i, entry: entries[i] });
      };
      w.on('message', (a: WorkerAnswer) => {
        finish(a.index, fromAnswer(entries[a.index]!, a)).then(feed, reject);
      });
      w.on('error', reject);
      feed();
    })));
  } finally {
    for (const w of workers) void w.terminate();
  }
  return results;
}
