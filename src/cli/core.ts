/** `min-core` and `core-check`: CO-RE relocations of BPF objects against kernel BTF. */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readBpfObjects, type BpfObject } from '../bpfobj/object.js';
import type { Btf } from '../btf/btf.js';
import { loadBaseBtf } from '../btf/load.js';
import { minCoreBtf, splitMinCore, type MinCoreResult } from '../core/mincore.js';
import { loadModuleBtf, mergeKernel, type KernelModuleBtf } from '../core/modules.js';
import { CandidateIndex, resolveCoreRelocations, type CoreRelocationResult } from '../core/relo.js';
import { CoreReloKind } from '../bpfobj/object.js';
import { ModbtfError } from '../errors.js';
import { decompress, detectCompression, readInputFile, writeFileAtomic } from '../module/index.js';
import { describeError, jsonFailure, jsonSuccess, STDOUT, writeStdout, type Output } from './common.js';

/** Sizes as pretty-bytes writes them (1000-based, 3 significant digits), without loading Intl. */
function prettyBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let u = 0;
  let v = n;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  let r = u === 0 ? v : Number(v.toPrecision(3));
  if (r >= 1000 && u < units.length - 1) {
    r = Number((r / 1000).toPrecision(3));
    u++;
  }
  return `${r} ${units[u]}`;
}

const EXIT_OK = 0;
const EXIT_FAIL = 1;

/** The BPF objects in a file: a `.bpf.o` (compressed or not), or a program embedding objects. */
export async function loadBpfObjects(file: string): Promise<BpfObject[]> {
  let bytes = readInputFile(file);
  const c = detectCompression(bytes);
  if (c !== 'none') bytes = await decompress(bytes, c, file);
  const objs = readBpfObjects(bytes, file);
  if (objs.length === 0) {
    throw new ModbtfError('E_BPF_OBJECT', 'no BPF object: neither a BPF ELF file (e_machine 247) nor a program embedding one', { file });
  }
  return objs;
}

/** libbpf refuses the relocation: the program does not load. */
export function relocationRefused(r: CoreRelocationResult): boolean {
  return r.status === 'error';
}

/** The instruction is poisoned: the program loads only if it is never reached (guarded by an existence check). */
export function relocationPoisoned(r: CoreRelocationResult): boolean {
  return r.poison || r.failMemszAdjust;
}

/** One line per relocation: where, what, and what became of it. */
export function formatRelocation(r: CoreRelocationResult): string {
  const where = `${r.section}${r.func ? ` (${r.func})` : ''} insn #${r.insnOff / 8} relo #${r.index}`;
  const what = `${r.kindName} ${r.local.type}${r.local.path ? ` ${r.local.path}` : ''} [${r.local.access}]`;
  let result: string;
  if (r.status === 'error') result = `error: ${r.error!.message}`;
  else if (r.status === 'missing') {
    const why = r.candidates === 0 ? `no type named ${r.local.type.replace(/^(struct|union|enum) /, '')} in the kernel` : `${r.candidates} candidate type${r.candidates > 1 ? 's' : ''}, none matches`;
    result = r.poison ? `not found (${why}): instruction poisoned` : `not found (${why}): ${r.value}`;
  } else if (r.failMemszAdjust) result = `load/store size changes incompatibly (${r.target!.type}${r.target!.path}): instruction poisoned`;
  else result = `${r.kind === CoreReloKind.TYPE_ID_LOCAL ? '' : `${r.target!.type}${r.target!.path} `}= ${r.value}`;
  return `${where}: ${what}: ${result}`;
}

/** JSON view of a relocation result (bigints as numbers when exact, else strings). */
export function relocationJson(r: CoreRelocationResult): Record<string, unknown> {
  const num = (v: bigint | null): number | string | null => (v === null ? null : v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());
  return {
    section: r.section, func: r.func, index: r.index, insn: r.insnOff / 8, kind: r.kindName,
    local: r.local, candidates: r.candidates, target: r.target, status: r.status,
    value: num(r.value), origValue: num(r.origValue), poison: r.poison, failMemszAdjust: r.failMemszAdjust,
    ...(r.error ? { error: r.error } : {}),
  };
}

async function loadKernel(kernel: string, modules: readonly string[]): Promise<{ vmlinux: Btf; modules: KernelModuleBtf[] }> {
  const vmlinux = await loadBaseBtf(kernel);
  if (vmlinux.base) throw new ModbtfError('E_BTF_INVALID', 'is split BTF; --kernel takes vmlinux', { file: kernel });
  const mods: KernelModuleBtf[] = [];
  for (const m of modules) mods.push(await loadModuleBtf(m, vmlinux));
  const names = new Map<string, string>();
  for (const m of mods) {
    const other = names.get(m.name);
    if (other) throw new ModbtfError('E_USAGE', `--module: ${other} and ${m.file} are both module ${m.name}`);
    names.set(m.name, m.file);
  }
  return { vmlinux, modules: mods };
}

export interface MinCoreCliOptions {
  files: string[];
  kernel: string;
  modules: string[];
  output?: string;
  split: boolean;
  outDir?: string;
  report: boolean;
  json: boolean;
}

export async function cmdMinCore(o: MinCoreCliOptions, io: Output): Promise<number> {
  const { vmlinux, modules } = await loadKernel(o.kernel, o.modules);
  // Every input is read first: a bad one fails the run before anything is written (as bpftool).
  const objects: { file: string; objs: BpfObject[] }[] = [];
  let failed = false;
  for (const f of o.files) {
    try {
      objects.push({ file: f, objs: await loadBpfObjects(f) });
    } catch (e) {
      failed = true;
      if (o.json) io.out(jsonFailure(f, e));
      else io.err(`modbtf: min-core: ${describeError(e)}`);
    }
  }
  if (failed) return EXIT_FAIL;
  let r: MinCoreResult;
  try {
    r = minCoreBtf(vmlinux, objects.flatMap((x) => x.objs), { modules });
  } catch (e) {
    if (!(e instanceof ModbtfError)) throw e;
    const file = objects.find((x) => x.objs.some((ob) => ob.name === e.file))?.file ?? e.file ?? o.kernel;
    if (o.json) io.out(jsonFailure(file, e));
    else io.err(`modbtf: min-core: ${describeError(e)}`);
    return EXIT_FAIL;
  }
  const written: string[] = [];
  if (o.split) {
    const dir = resolve(o.outDir!);
    mkdirSync(dir, { recursive: true });
    const parts = splitMinCore(r);
    await writeFileAtomic(join(dir, 'vmlinux.btf'), parts.vmlinux.toBytes());
    written.push(join(dir, 'vmlinux.btf'));
    for (const m of parts.modules) {
      await writeFileAtomic(join(dir, `${m.name}.btf`), m.btf.toBytes());
      written.push(join(dir, `${m.name}.btf`));
    }
  } else if (o.output === STDOUT) {
    writeStdout(r.bytes);
  } else {
    await writeFileAtomic(resolve(o.output!), r.bytes);
    written.push(resolve(o.output!));
  }
  const say = o.output === STDOUT ? io.err : io.out;
  const kernelName = [o.kernel, ...modules.map((m) => m.name)].join(' + ');
  for (const { file, objs } of objects) {
    const reports = objs.map((ob) => r.objects.find((x) => x.name === ob.name)!);
    if (o.json) {
      io.out(jsonSuccess(file, {
        kernel: o.kernel, modules: modules.map((m) => m.file), output: o.split ? written : (o.output === STDOUT ? STDOUT : written[0]),
        objects: reports.map((x) => ({
          name: x.name, relocations: x.relocations.length,
          unresolved: x.relocations.filter((rr) => rr.status !== 'ok').map(relocationJson),
        })),
      }));
      continue;
    }
    if (!o.report) continue;
    for (const x of reports) {
      const bad = x.relocations.filter((rr) => rr.status !== 'ok');
      say(`${x.name}: ${x.relocations.length} relocation${x.relocations.length === 1 ? '' : 's'}, ${bad.length} without a target on ${kernelName}`);
      for (const rr of bad) say(`  ${formatRelocation(rr)}`);
    }
  }
  if (!o.json) {
    const rel = r.objects.reduce((n, x) => n + x.relocations.length, 0);
    const miss = r.objects.reduce((n, x) => n + x.relocations.filter((rr) => rr.status !== 'ok').length, 0);
    const dest = o.split ? `${written.length} files in ${o.outDir}` : o.output === STDOUT ? 'stdout' : o.output!;
    say(`${dest}: ${r.types} types (${prettyBytes(r.bytes.length)}) for ${r.objects.length} BPF object${r.objects.length === 1 ? '' : 's'}, ${rel} relocations${miss ? `, ${miss} without a target${o.report ? '' : ' (--report lists them)'}` : ''}`);
  }
  return EXIT_OK;
}

export interface CoreCheckCliOptions {
  files: string[];
  kernels: string[];
  modules: string[];
  verbose: boolean;
  strict: boolean;
  json: boolean;
}

export async function cmdCoreCheck(o: CoreCheckCliOptions, io: Output): Promise<number> {
  const kernels: { name: string; btf: Btf; index: CandidateIndex }[] = [];
  for (const k of o.kernels) {
    const { vmlinux, modules } = await loadKernel(k, o.modules);
    const merged = mergeKernel(vmlinux, modules);
    kernels.push({ name: [k, ...modules.map((m) => m.name)].join(' + '), btf: merged.btf, index: new CandidateIndex(merged.btf) });
  }
  let rc = EXIT_OK;
  for (const f of o.files) {
    let objs: BpfObject[];
    try {
      objs = await loadBpfObjects(f);
    } catch (e) {
      rc = EXIT_FAIL;
      if (o.json) io.out(jsonFailure(f, e));
      else io.err(`modbtf: core-check: ${describeError(e)}`);
      continue;
    }
    const results = kernels.map((k) => ({
      kernel: k.name,
      objects: objs.map((ob) => ({ name: ob.name, relocations: resolveCoreRelocations(ob, k.btf, { candidates: k.index }) })),
    }));
    const fails = (r: CoreRelocationResult): boolean => relocationRefused(r) || (o.strict && relocationPoisoned(r));
    const failing = results.flatMap((k) => k.objects.flatMap((ob) => ob.relocations.filter(fails)));
    if (failing.length) rc = EXIT_FAIL;
    if (o.json) {
      const body = {
        results: results.map((k) => ({
          kernel: k.kernel,
          objects: k.objects.map((ob) => ({
            name: ob.name, relocations: ob.relocations.length,
            refused: ob.relocations.filter(relocationRefused).length, poisoned: ob.relocations.filter(relocationPoisoned).length,
            ...(o.verbose ? { all: ob.relocations.map(relocationJson) } : { problems: ob.relocations.filter((r) => r.status !== 'ok' || r.failMemszAdjust).map(relocationJson) }),
          })),
        })),
      };
      if (failing.length) {
        io.out(JSON.stringify({ file: f, ok: false, error: { code: 'E_CORE', message: `${failing.length} relocation${failing.length > 1 ? 's' : ''} fail${failing.length > 1 ? '' : 's'}` }, ...body }));
      } else {
        io.out(jsonSuccess(f, body));
      }
      continue;
    }
    for (const k of results) {
      for (const ob of k.objects) {
        const refused = ob.relocations.filter(relocationRefused).length;
        const poisoned = ob.relocations.filter(relocationPoisoned).length;
        const missing = ob.relocations.filter((r) => r.status === 'missing' && !r.poison).length;
        const facts = [
          refused ? `${refused} REFUSED (the program does not load)` : '',
          poisoned ? `${poisoned} poisoned (loads only if never reached)` : '',
          missing ? `${missing} existence check${missing > 1 ? 's' : ''} false` : '',
        ].filter(Boolean);
        io.out(`${ob.name} on ${k.kernel}: ${ob.relocations.length} relocations, ${facts.length ? facts.join(', ') : 'all resolve'}`);
        for (const r of ob.relocations) {
          const tag = relocationRefused(r) ? 'REFUSED ' : relocationPoisoned(r) ? 'POISONED ' : '';
          if (o.verbose || r.status !== 'ok' || r.failMemszAdjust) io.out(`  ${tag}${formatRelocation(r)}`);
        }
      }
    }
  }
  return rc;
}
