/**
 * Running a command over many modules: directories expanded with -r, work
 * spread over worker threads (the base BTF parsed once per worker), output
 * printed in input order, one failure never stopping the others.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModbtfError } from '../errors.js';
import { defaultMaxInputSize } from '../module/limits.js';
import { dropReadAheads, readAhead } from '../module/readahead.js';
import { workerExecArgv } from '../workers.js';
import { distillOne, mapOne, reconcileOne, type DistillCliOptions, type MapCliOptions, type ReconcileCliOptions } from './commands.js';
import { signatureDroppedLine, type Output } from './common.js';
import { Progress } from './progress.js';

export type TaskKind = 'distill' | 'reconcile' | 'map';
export type TaskOptions = DistillCliOptions | ReconcileCliOptions | MapCliOptions;

export interface TaskResult {
  rc: number;
  out: string[];
  err: string[];
  /** The module was written without the signature it had. */
  signatureDropped: boolean;
}

const MODULE_RE = /\.ko(\.(xz|zst|gz))?$/;

/**
 * Files as given, directories (with -r) replaced by the modules under them,
 * sorted. A directory without modules is reported on `io`.
 */
export function expandInputs(paths: readonly string[], recursive: boolean, io?: Output): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let dir = false;
    try {
      dir = statSync(p).isDirectory();
    } catch {
      dir = false; // a missing file is reported when it is opened
    }
    if (!dir) {
      out.push(p);
      continue;
    }
    if (!recursive) throw new ModbtfError('E_USAGE', 'is a directory (use -r to process the modules under it)', { file: p });
    const found = readdirSync(p, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile() && MODULE_RE.test(d.name))
      .map((d) => join(d.parentPath ?? (d as unknown as { path: string }).path, d.name))
      .sort();
    if (found.length === 0) io?.err(`modbtf: ${p}: no modules (*.ko, *.ko.xz, *.ko.zst, *.ko.gz) under this directory`);
    out.push(...found);
  }
  return out;
}

/** One module, in this thread, with its messages collected. */
export async function runTask(kind: TaskKind, opts: TaskOptions, file: string): Promise<TaskResult> {
  const out: string[] = [];
  const err: string[] = [];
  let signatureDropped = false;
  const io: Output = { out: (l) => out.push(l), err: (l) => err.push(l), signatureDropped: () => { signatureDropped = true; } };
  const rc = kind === 'distill'
    ? await distillOne(file, opts as DistillCliOptions, io)
    : kind === 'map'
      ? await mapOne(file, opts as MapCliOptions, io)
      : await reconcileOne(file, opts as ReconcileCliOptions, io);
  return { rc, out, err, signatureDropped };
}

/**
 * Modules a thread keeps in flight: computing one while up to this many minus
 * one wait for their fsyncs on the thread pool (4 threads by default).
 */
const IN_FLIGHT = 4;

/**
 * Input bytes a worker thread must have to pay for itself: a worker starts
 * cold (its own Node context, its own parse of the kernel BTF, code not yet
 * optimized), which costs a fraction of a second of CPU. Measured on 2 cores:
 * one thread finishes the 53 corpus modules (45 MB) and the 1,121 modules of
 * a Debian cloud kernel (91 MB) at least as fast as two workers.
 */
const BYTES_PER_WORKER = 128 * 2 ** 20;
/** Compressed modules cost more per byte read (decompression, recompression). */
const COMPRESSED_WEIGHT = 4;

/** Each file's size in bytes; 0 for one that cannot be stat'ed (it is reported when opened). */
export function fileSizes(files: readonly string[]): Float64Array {
  const sizes = new Float64Array(files.length);
  for (let i = 0; i < files.length; i++) {
    try {
      sizes[i] = statSync(files[i]!).size;
    } catch {
      sizes[i] = 0;
    }
  }
  return sizes;
}

/**
 * Threads for a batch when --jobs is not given: one, unless the input is big
 * enough for more to pay off, and never more than the cores not already busy.
 */
export function defaultJobs(files: readonly string[] = [], sizes = fileSizes(files)): number {
  const cores = availableParallelism();
  let work = 0;
  for (let i = 0; i < files.length; i++) work += sizes[i]! * (MODULE_RE.exec(files[i]!)?.[1] ? COMPRESSED_WEIGHT : 1);
  const idle = Math.max(1, Math.round(cores - loadavg()[0]!));
  return Math.max(1, Math.min(cores, idle, Math.floor(work / BYTES_PER_WORKER)));
}

/**
 * The order to process files of these sizes in (fileSizes): smallest first,
 * ties in the order given. The small modules' records reach V8 before it
 * optimizes the loops that the big ones run for long: the optimized code has
 * seen every kind of record and is not thrown away when a big module brings a
 * new one. On the 53 corpus modules, one thread: 626 ms in the order given,
 * 559 ms smallest first, 685 ms largest first. Messages are still printed in
 * the order given.
 */
export function smallestFirst(sizes: Float64Array): Uint32Array {
  const order = Uint32Array.from(sizes.keys());
  // (a typed array's sort is not stable: ties are ordered by index)
  return order.sort((a, b) => sizes[a]! - sizes[b]! || a - b);
}

/**
 * Run `kind` over `files` with up to `jobs` workers (defaultJobs when not
 * given); print each module's messages in input order; a summary line when
 * several modules were given and any failed. Resolves to 0, or 1 if any
 * module failed.
 */
export async function runBatch(kind: TaskKind, opts: TaskOptions, files: string[], jobs: number | undefined, io: Output, progress = false): Promise<number> {
  const sizes = fileSizes(files);
  const results: (TaskResult | undefined)[] = new Array(files.length);
  let printed = 0;
  let failed = 0;
  let unsigned = 0;
  const bar = await Progress.create(files.length, progress);
  const flush = (): void => {
    while (printed < files.length && results[printed]) {
      const r = results[printed]!;
      if (r.out.length || r.err.length) bar.clear();
      r.out.forEach((l) => io.out(l));
      r.err.forEach((l) => io.err(l));
      if (r.signatureDropped) {
        // One module: its own warning; several: one summary line at the end.
        if (files.length === 1) io.err(signatureDroppedLine(files[printed]!));
        else unsigned++;
      }
      if (r.rc !== 0) failed++;
      results[printed] = undefined;
      printed++;
      bar.tick(printed, files[printed - 1]!);
    }
  };
  // dist/cli/worker.js, next to this module, or below the bundled CLI (dist/modbtf.cjs).
  const workerUrl = [new URL('./worker.js', import.meta.url), new URL('./cli/worker.js', import.meta.url)]
    .find((u) => existsSync(fileURLToPath(u)));
  const n = Math.min(jobs ?? defaultJobs(files, sizes), files.length);
  const order = smallestFirst(sizes);
  if (n <= 1 || !workerUrl) {
    // Several modules in flight: while one waits on its fsync (thread pool), the next is computed.
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < files.length) {
        const k = next++;
        const i = order[k]!;
        // The next module is read on the thread pool while this one is computed.
        if (k + 1 < files.length) readAhead(files[order[k + 1]!]!);
        results[i] = await runTask(kind, opts, files[i]!);
        flush();
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, files.length) }, lane));
  } else {
    dropReadAheads(); // each worker reads its own inputs
    const { Worker } = await import('node:worker_threads'); // loaded only when workers run
    let next = 0;
    await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve, reject) => {
      const w = new Worker(workerUrl, { workerData: { kind, opts, maxInputSize: defaultMaxInputSize() }, execArgv: workerExecArgv() });
      let busy = 0;
      const feed = (): void => {
        if (next >= files.length) {
          if (busy === 0) {
            void w.terminate();
            resolve();
          }
          return;
        }
        busy++;
        const i = order[next++]!;
        w.postMessage({ index: i, file: files[i] });
      };
      w.on('message', (m: { index: number; result: TaskResult }) => {
        busy--;
        results[m.index] = m.result;
        flush();
        feed();
      });
      w.on('error', reject);
      for (let k = 0; k < IN_FLIGHT; k++) feed();
    })));
  }
  bar.clear();
  if (unsigned) io.err(`modbtf: ${unsigned} module signature${unsigned > 1 ? 's' : ''} dropped (rewriting invalidates them; re-sign with --sign-key/--sign-cert)`);
  if (files.length > 1 && failed) io.err(`modbtf: ${failed} of ${files.length} modules failed`);
  return failed ? 1 : 0;
}
