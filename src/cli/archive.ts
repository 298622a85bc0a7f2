/** `min-core -r`: every kernel BTF of a BTFHub-style tree minimized for the same BPF objects. */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import prettyBytes from 'pretty-bytes';
import { findKernelBtfs, minCoreArchive, reproducibleTarGz, type ArchiveInput, type ArchiveResult } from '../archive/btfhub.js';
import { ModbtfError } from '../errors.js';
import { writeFileAtomic } from '../module/index.js';
import { describeError, jsonFailure, jsonSuccess, type Output } from './common.js';
import { loadBpfObjects } from './core.js';
import { Progress } from './progress.js';

export interface MinCoreArchiveOptions {
  files: string[];
  /** root of the tree */
  kernel: string;
  outDir?: string;
  tar?: string;
  jobs: number;
  json: boolean;
}

function makeDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOTDIR' ? 'a parent is not a directory' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EEXIST' ? 'exists and is not a directory' : err.message;
    throw new ModbtfError('E_WRITE', `cannot create directory: ${why}`, { file: dir });
  }
}

export async function cmdMinCoreArchive(o: MinCoreArchiveOptions, io: Output, progress: boolean): Promise<number> {
  let isDir = false;
  try {
    isDir = statSync(o.kernel).isDirectory();
  } catch {
    throw new ModbtfError('E_IO', 'cannot read: no such directory', { file: o.kernel });
  }
  if (!isDir) throw new ModbtfError('E_USAGE', 'is not a directory (with -r, --kernel is a tree of <distro>/<version>/<arch>/<release>.btf[.tar.xz])', { file: o.kernel });

  // Every object is read first: a bad one fails the run before any kernel is touched.
  const inputs: ArchiveInput[] = [];
  let bad = false;
  for (const f of o.files) {
    try {
      for (const ob of await loadBpfObjects(f)) inputs.push({ name: ob.name, bytes: ob.bytes });
    } catch (e) {
      bad = true;
      if (o.json) io.out(jsonFailure(f, e));
      else io.err(`modbtf: min-core: ${describeError(e)}`);
    }
  }
  if (bad) return 1;

  const entries = findKernelBtfs(o.kernel);
  if (entries.length === 0) throw new ModbtfError('E_NOT_BTF', 'no kernel BTF (*.btf, *.btf.tar.xz) under this directory', { file: o.kernel });

  const outDir = o.outDir === undefined ? undefined : resolve(o.outDir);
  if (outDir) makeDir(outDir);
  const bar = await Progress.create(entries.length, progress && !o.json);
  // Reported in tree order whatever order the workers finish in.
  const pending: (ArchiveResult | undefined)[] = new Array(entries.length);
  const index = new Map(entries.map((e, i) => [e.rel, i]));
  let printed = 0;
  let failed = 0;
  let bytes = 0;
  const report = (r: ArchiveResult): void => {
    const out = outDir ? join(outDir, r.rel) : undefined;
    if (o.json) {
      if (r.ok) io.out(jsonSuccess(r.path, { kernel: r.rel, ...(out ? { output: out } : {}), size: r.bytes!.length, types: r.types, unresolved: r.missing }));
      else io.out(jsonFailure(r.path, r.error));
    } else if (!r.ok) {
      bar.clear();
      // the error names the object when a relocation failed: say which kernel too
      const where = r.error!.file === r.path ? '' : `${r.path}: `;
      io.err(`modbtf: min-core: ${where}${describeError(r.error)}`);
    }
  };
  const results = await minCoreArchive(entries, inputs, o.jobs, async (r, done) => {
    if (r.ok) {
      bytes += r.bytes!.length;
      if (outDir) {
        const dest = join(outDir, r.rel);
        makeDir(dirname(dest));
        await writeFileAtomic(dest, r.bytes!);
      }
    } else {
      failed++;
    }
    pending[index.get(r.rel)!] = r;
    while (printed < entries.length && pending[printed]) {
      report(pending[printed]!);
      pending[printed] = undefined;
      printed++;
    }
    bar.tick(done, r.rel);
  });
  bar.clear();

  const ok = results.filter((r) => r.ok);
  let tarSize = 0;
  if (o.tar !== undefined) {
    // ensure_core_btf() compares the 100-byte name field only (no ustar prefix, no pax)
    for (const r of ok) if (`./${r.rel}`.length > 99) io.err(`modbtf: min-core: ${r.path}: warning: ./${r.rel} is longer than 99 bytes: libbpf-tools' ensure_core_btf() cannot find it in the tar`);
    const tgz = await reproducibleTarGz(ok.map((r) => ({ rel: r.rel, data: r.bytes! })));
    await writeFileAtomic(resolve(o.tar), tgz);
    tarSize = tgz.length;
  }
  if (!o.json) {
    const dest = [outDir ? o.outDir! : '', o.tar !== undefined ? `${o.tar} (${prettyBytes(tarSize)})` : ''].filter(Boolean).join(' and ');
    io.out(`${dest}: ${ok.length} of ${entries.length} kernel${entries.length === 1 ? '' : 's'} minimized (${prettyBytes(bytes)}) for ${inputs.length} BPF object${inputs.length === 1 ? '' : 's'}${failed ? `, ${failed} failed` : ''}`);
  }
  return failed ? 1 : 0;
}
