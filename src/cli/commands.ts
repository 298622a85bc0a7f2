/** The modbtf commands, each a function over parsed options returning an exit code. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import prettyBytes from 'pretty-bytes';
import { Btf } from '../btf/btf.js';
import { BTF_IDS_SECTION, btfIdsLayout } from '../btf/btfids.js';
import { dumpJson, dumpRaw, toJsonText } from '../btf/dump.js';
import { KIND_NAMES } from '../btf/kinds.js';
import { loadBaseBtf, rawBtfOf } from '../btf/load.js';
import { moduleKernelRelease, parseModinfo } from '../btf/modinfo.js';
import {
  SEC_BASE_MINIMAL, SEC_BASE_NATIVE, SEC_BTF, SEC_BTF_IDS_MINIMAL, SEC_SPLIT_MINIMAL, baseSectionOf,
  type BtfState,
} from '../btf/sections.js';
import { isStandalone } from '../btf/standalone.js';
import { distillModule, mapModuleOnto } from '../distill/module.js';
import { editElf } from '../elf/index.js';
import { ElfFile } from '../elf/index.js';
import { ModbtfError } from '../errors.js';
import { openInput, writeFileAtomic, type InputFile } from '../module/index.js';
import { checkModule, reconcileModule } from '../reconcile/module.js';
import {
  describeError, finishModule, openModule, outputPath, type Output,
  type OutputOptions, type SignOptions, type WriteResult,
} from './common.js';

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;

// ---------------------------------------------------------------- dump

export interface DumpOptions {
  file: string;
  base?: string;
  format: 'raw' | 'json';
}

export async function cmdDump(o: DumpOptions, io: Output): Promise<number> {
  const base = o.base ? await loadBaseBtf(o.base) : null;
  const input = await openInput(o.file);
  const raw = rawBtfOf(input);
  const where = { base, file: o.file, section: input.kind === 'elf' ? SEC_BTF : undefined };
  let btf: Btf;
  try {
    btf = Btf.parse(raw, where);
  } catch (e) {
    if (!base && e instanceof ModbtfError && e.code === 'E_BTF_STRING' && !isStandalone(raw)) {
      e.message += ' (split BTF? pass --base)';
    }
    throw e;
  }
  btf.checkReferences();
  if (o.format === 'json') {
    io.out(toJsonText(dumpJson(btf)));
  } else if (io.raw) {
    const write = io.raw;
    let chunk: string[] = [];
    dumpRaw(btf, (t) => {
      chunk.push(t);
      if (chunk.length === 4096) {
        write(`${chunk.join('\n')}\n`);
        chunk = [];
      }
    });
    if (chunk.length) write(`${chunk.join('\n')}\n`);
  } else {
    dumpRaw(btf, io.out);
  }
  return EXIT_OK;
}

// ---------------------------------------------------------------- extract

/** Write a BTF section (default `.BTF`) of any input as raw BTF: what `pahole --btf_base` and `bpftool` read. */
export async function cmdExtract(o: { file: string; section: string; output: string }, io: Output): Promise<number> {
  const input = await openInput(o.file);
  let raw: Uint8Array;
  if (input.kind === 'btf') {
    raw = input.btf!;
  } else {
    const sec = input.elf!.section(o.section);
    if (!sec) throw new ModbtfError('E_NO_BTF', `no ${o.section} section`, { file: o.file, section: o.section });
    raw = input.elf!.data(sec);
  }
  Btf.parse(raw, { detached: true, file: o.file, section: o.section });
  await writeFileAtomic(resolve(o.output), raw);
  io.out(`${o.file}: ${o.section} (${prettyBytes(raw.length)}) -> ${o.output}`);
  return EXIT_OK;
}

// ---------------------------------------------------------------- inspect

interface SectionInfo {
  name: string;
  size: number;
  types?: number;
  kinds?: Record<string, number>;
  slots?: number;
}

export interface InspectInfo {
  file: string;
  format: 'elf' | 'btf';
  compression: string;
  signed: boolean;
  state: BtfState;
  kernelRelease: string | null;
  sections: SectionInfo[];
}

function kindCounts(raw: Uint8Array, where: { file: string; section?: string }): { types: number; kinds: Record<string, number> } {
  const btf = Btf.parse(raw, { detached: true, ...where });
  const kinds: Record<string, number> = {};
  for (let id = btf.startId; id < btf.typeCount; id++) {
    const k = KIND_NAMES[btf.kind(id)]!;
    kinds[k] = (kinds[k] ?? 0) + 1;
  }
  return { types: btf.nrTypes, kinds };
}

export function inspectInput(input: InputFile): InspectInfo {
  const file = input.path;
  if (input.kind === 'btf') {
    const raw = input.btf!;
    const { types, kinds } = kindCounts(raw, { file });
    return {
      file, format: 'btf', compression: input.compression, signed: false,
      state: isStandalone(raw) ? 'standalone' : 'split', kernelRelease: null,
      sections: [{ name: '(raw BTF)', size: raw.length, types, kinds }],
    };
  }
  const elf = input.elf!;
  const has = (n: string): boolean => elf.section(n) !== undefined;
  const sections: SectionInfo[] = [];
  for (const name of [SEC_BTF, SEC_BASE_NATIVE, SEC_BASE_MINIMAL, SEC_SPLIT_MINIMAL]) {
    const sec = elf.section(name);
    if (!sec) continue;
    sections.push({ name, size: sec.size, ...kindCounts(elf.data(sec), { file, section: name }) });
  }
  for (const name of [BTF_IDS_SECTION, SEC_BTF_IDS_MINIMAL]) {
    const sec = elf.section(name);
    if (!sec) continue;
    const idsSec = elf.section(BTF_IDS_SECTION);
    const layout = idsSec ? btfIdsLayout(elf.data(idsSec), idsSec.index, elf.symbols(), elf.littleEndian, { file }) : null;
    sections.push({ name, size: sec.size, slots: layout?.slots.length ?? 0 });
  }
  let state: BtfState;
  if (!has(SEC_BTF)) state = 'none';
  else if (has(SEC_SPLIT_MINIMAL) && baseSectionOf({ has })) state = 'reconciled';
  else if (baseSectionOf({ has })) state = 'distilled';
  else state = isStandalone(elf.data(elf.section(SEC_BTF)!)) ? 'standalone' : 'split';
  const modinfo = elf.section('.modinfo');
  return {
    file, format: 'elf', compression: input.compression, signed: input.signature !== null, state,
    kernelRelease: modinfo ? moduleKernelRelease(parseModinfo(elf.data(modinfo))) : null,
    sections,
  };
}

const STATE_TEXT: Record<BtfState, string> = {
  none: 'no BTF',
  standalone: 'standalone BTF (no base)',
  split: 'split BTF on the vmlinux it was built against',
  distilled: 'distilled (split BTF on a minimal base it carries)',
  reconciled: 'reconciled (split BTF on a target kernel, distilled pair kept)',
};

export function formatInspect(info: InspectInfo): string[] {
  const lines: string[] = [];
  const attrs = [info.format === 'elf' ? 'ELF' : 'raw BTF'];
  if (info.compression !== 'none') attrs.push(`${info.compression}-compressed`);
  if (info.format === 'elf') attrs.push(info.signed ? 'signed' : 'unsigned');
  if (info.kernelRelease) attrs.push(`built for ${info.kernelRelease}`);
  lines.push(`${info.file}: ${attrs.join(', ')}`);
  lines.push(`  BTF: ${STATE_TEXT[info.state]}`);
  for (const s of info.sections) {
    let detail = '';
    if (s.types !== undefined) {
      const kinds = Object.entries(s.kinds ?? {}).map(([k, n]) => `${k} ${n}`).join(', ');
      detail = `${s.types} types${kinds ? ` (${kinds})` : ''}`;
    } else if (s.slots !== undefined) {
      detail = `${s.slots} id slots`;
    }
    lines.push(`  ${s.name.padEnd(20)} ${prettyBytes(s.size).padStart(9)}  ${detail}`);
  }
  return lines;
}

export async function cmdInspect(o: { files: string[]; json: boolean }, io: Output): Promise<number> {
  let rc = EXIT_OK;
  for (const f of o.files) {
    try {
      const info = inspectInput(await openInput(f));
      if (o.json) io.out(JSON.stringify(info));
      else for (const l of formatInspect(info)) io.out(l);
    } catch (e) {
      io.err(`modbtf: ${describeError(e)}`);
      rc = EXIT_FAIL;
    }
  }
  return rc;
}

// ---------------------------------------------------------------- base discovery

/**
 * The base for a module when --base is not given: the build tree's vmlinux of
 * the kernel named in its vermagic, else the running kernel's BTF when that
 * is the same kernel.
 */
export function defaultBasePath(elf: ElfFile, file: string): string {
  const modinfo = elf.section('.modinfo');
  const rel = modinfo ? moduleKernelRelease(parseModinfo(elf.data(modinfo))) : null;
  if (!rel) {
    throw new ModbtfError('E_NO_BASE', 'no vermagic in .modinfo to find the kernel it was built for: pass --base VMLINUX', { file });
  }
  const build = `/lib/modules/${rel}/build/vmlinux`;
  if (existsSync(build)) return build;
  const running = spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim();
  if (running === rel && existsSync('/sys/kernel/btf/vmlinux')) return '/sys/kernel/btf/vmlinux';
  throw new ModbtfError('E_NO_BASE',
    `built for ${rel}, but neither ${build} exists nor is ${rel} the running kernel: pass --base VMLINUX`, { file });
}

// ---------------------------------------------------------------- module commands

/** Write a rewritten module where `o` says, telling about a dropped signature. */
async function writeOutput(input: InputFile, elf: Uint8Array, f: string, o: OutputOptions & { sign?: SignOptions }, io: Output): Promise<WriteResult & { elsewhere: string }> {
  const w = await finishModule(input, elf, outputPath(f, o), o.sign);
  if (w.signatureDropped) io.err(`modbtf: ${f}: module signature dropped (rewriting invalidates it; re-sign with --sign-key/--sign-cert)`);
  return { ...w, elsewhere: w.dest !== resolve(f) ? ` -> ${w.dest}` : '' };
}

/** Run one module's work: a ModbtfError becomes its one error line and exit code 1. */
async function perModule(io: Output, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    io.err(`modbtf: ${describeError(e)}`);
    return EXIT_FAIL;
  }
}

// ---------------------------------------------------------------- distill

export interface DistillCliOptions extends OutputOptions {
  base?: string;
  section: string;
  force: boolean;
  json: boolean;
  sign?: SignOptions;
}

/** Distill one module; messages go to `io`; resolves to its exit code. */
export async function distillOne(f: string, o: DistillCliOptions, io: Output): Promise<number> {
  return perModule(io, async () => {
    const { input, elf } = await openModule(f);
    const base = await loadBaseBtf(o.base ?? defaultBasePath(elf, f));
    const r = distillModule(elf, base, { section: o.section, force: o.force, file: f });
    if (r.report.mappedStandalone && !o.json) {
      io.out(`${f}: standalone BTF mapped onto the base: ${r.report.mappedStandalone.mapped} types are the kernel's, ${r.report.mappedStandalone.kept} kept`);
    }
    const w = await writeOutput(input, r.elf, f, o, io);
    const rep = r.report;
    if (o.json) {
      io.out(JSON.stringify({ ...rep, file: f, output: w.dest, signatureDropped: w.signatureDropped, signed: w.signed }));
    } else {
      io.out(`${f}: distilled: .BTF ${prettyBytes(rep.btfBefore)} -> ${prettyBytes(rep.btfAfter)} (${rep.moduleTypes} -> ${rep.splitTypes} types), ${rep.section} ${prettyBytes(rep.baseSize)} (${rep.baseTypes} types)${rep.btfIdsSlots ? `, ${rep.btfIdsSlots} .BTF_ids slots renumbered` : ''}${w.elsewhere}`);
    }
    return EXIT_OK;
  });
}

// ---------------------------------------------------------------- map

export interface MapCliOptions extends OutputOptions {
  base: string;
  json: boolean;
  sign?: SignOptions;
}

/** Replace a module's standalone `.BTF` by split BTF on `o.base`, mapped by type-graph equivalence. */
export async function mapOne(f: string, o: MapCliOptions, io: Output): Promise<number> {
  return perModule(io, async () => {
    const base = await loadBaseBtf(o.base);
    const { input, elf } = await openModule(f);
    const sec = elf.section(SEC_BTF);
    if (!sec) throw new ModbtfError('E_NO_BTF', 'no .BTF section to map (generate it with `pahole -J`)', { file: f, section: SEC_BTF });
    if (!isStandalone(elf.data(sec))) {
      throw new ModbtfError('E_MAP', '.BTF is not standalone BTF (it is split already): nothing to map', { file: f, section: SEC_BTF });
    }
    const m = mapModuleOnto(elf, base, f);
    const bytes = m.split.toBytes();
    const replace = new Map<string, Uint8Array>([[SEC_BTF, bytes]]);
    if (m.ids) replace.set('.BTF_ids', m.ids);
    const w = await writeOutput(input, editElf(elf, { replace }), f, o, io);
    const st = m.mappedStandalone!;
    if (o.json) io.out(JSON.stringify({ file: f, output: w.dest, mapped: st.mapped, kept: st.kept, btfAfter: bytes.length }));
    else io.out(`${f}: mapped onto ${o.base}: ${st.mapped} types are the kernel's, ${st.kept} kept as split BTF (${prettyBytes(sec.size)} -> ${prettyBytes(bytes.length)})${w.elsewhere}`);
    return EXIT_OK;
  });
}

// ---------------------------------------------------------------- reconcile

export interface ReconcileCliOptions extends OutputOptions {
  kernel: string;
  strip: boolean;
  dedup?: boolean;
  strict: boolean;
  json: boolean;
  sign?: SignOptions;
}

/** Reconcile one module onto `o.kernel`; resolves to its exit code. */
export async function reconcileOne(f: string, o: ReconcileCliOptions, io: Output): Promise<number> {
  return perModule(io, async () => {
    const target = await loadBaseBtf(o.kernel);
    const { input, elf } = await openModule(f);
    const r = reconcileModule(elf, target, { strip: o.strip, dedup: o.dedup, file: f });
    if (r.status === 'not-distilled') {
      if (o.json) io.out(JSON.stringify({ file: f, status: 'not-distilled' }));
      else io.out(`${f}: not distilled (no ${SEC_BASE_MINIMAL} or ${SEC_BASE_NATIVE}): nothing to do`);
      return o.strict ? EXIT_FAIL : EXIT_OK;
    }
    const w = await writeOutput(input, r.elf, f, o, io);
    const rep = r.report;
    if (o.json) {
      io.out(JSON.stringify({ status: 'reconciled', ...rep, file: f, kernel: o.kernel, output: w.dest, signatureDropped: w.signatureDropped, signed: w.signed }));
    } else {
      io.out(`${f}: reconciled onto ${o.kernel}: .BTF ${prettyBytes(rep.btfAfter)}, ${rep.splitTypes} types on ${rep.targetTypes} kernel types${rep.btfIdsSlots ? `, ${rep.btfIdsSlots} .BTF_ids slots remapped` : ''}${rep.stripped ? ', distilled pair stripped' : ''}${rep.dedup ? `, ${rep.dedup.folded} types folded into the kernel's (${prettyBytes(rep.dedup.bytesSaved)} saved)` : ''}${w.elsewhere}`);
    }
    return EXIT_OK;
  });
}

// ---------------------------------------------------------------- check

export async function cmdCheck(o: { files: string[]; kernels: string[]; json: boolean }, io: Output): Promise<number> {
  const targets: Btf[] = [];
  for (const k of o.kernels) targets.push(await loadBaseBtf(k));
  let rc = EXIT_OK;
  const rows: { file: string; cells: { kernel: string; status: string; problems: string[] }[] }[] = [];
  for (const f of o.files) {
    const cells: { kernel: string; status: string; problems: string[] }[] = [];
    try {
      const { elf } = await openModule(f);
      targets.forEach((t, i) => {
        const c = checkModule(elf, t, { file: f });
        if (c.status === 'fail') rc = EXIT_FAIL;
        cells.push({ kernel: o.kernels[i]!, status: c.status, problems: c.lines });
      });
    } catch (e) {
      rc = EXIT_FAIL;
      for (const k of o.kernels) cells.push({ kernel: k, status: 'error', problems: [describeError(e)] });
    }
    rows.push({ file: f, cells });
    if (o.json) io.out(JSON.stringify({ file: f, results: cells }));
  }
  if (!o.json) for (const l of formatMatrix(rows, o.kernels)) io.out(l);
  return rc;
}

function formatMatrix(rows: { file: string; cells: { kernel: string; status: string; problems: string[] }[] }[], kernels: string[]): string[] {
  const lines: string[] = [];
  const w = Math.max(6, ...rows.map((r) => r.file.length));
  const cw = kernels.map((k) => Math.max(k.length, 13));
  lines.push(['module'.padEnd(w), ...kernels.map((k, i) => k.padEnd(cw[i]!))].join('  ').trimEnd());
  for (const r of rows) {
    const cells = r.cells.map((c, i) => {
      const s = c.status === 'fail' ? `FAIL (${c.problems.length})` : c.status === 'not-distilled' ? 'not distilled' : c.status;
      return s.padEnd(cw[i]!);
    });
    lines.push([r.file.padEnd(w), ...cells].join('  ').trimEnd());
  }
  const details = rows.flatMap((r) => r.cells.filter((c) => c.problems.length).map((c) => ({ r, c })));
  if (details.length) lines.push('');
  for (const { r, c } of details) {
    lines.push(`${r.file} on ${c.kernel}:`);
    for (const p of c.problems) lines.push(`  ${p}`);
  }
  return lines;
}
