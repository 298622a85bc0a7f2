/** The modbtf commands, each a function over parsed options returning an exit code. */
import { closeSync, constants, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { release } from 'node:os';
import prettyBytes from 'pretty-bytes';
import { Btf } from '../btf/btf.js';
import { BTF_IDS_SECTION, btfIdsLayout } from '../btf/btfids.js';
import { kindName } from '../btf/kinds.js';
import { loadBaseBtf, rawBtfOf } from '../btf/load.js';
import { moduleKernelRelease, parseModinfo } from '../btf/modinfo.js';
import {
  SEC_BASE_MINIMAL, SEC_BASE_NATIVE, SEC_BTF, SEC_BTF_IDS_MINIMAL, SEC_SPLIT_MINIMAL, baseSectionOf,
  type BtfState,
} from '../btf/sections.js';
import { isStandalone } from '../btf/standalone.js';
import { distillModule, mapModuleOnto } from '../distill/module.js';
import { editElfPieces, type ElfPieces } from '../elf/index.js';
import { ElfFile } from '../elf/index.js';
import { ModbtfError } from '../errors.js';
import { BOOT_IMAGE_PROBE_LEN, bootImageFormat, openInput, writeFileAtomic, type InputFile } from '../module/index.js';
import { checkModule, distilledParts, reconcileModule, verdictsDiffer } from '../reconcile/module.js';
import { relocate } from '../reconcile/relocate.js';
import {
  STDOUT, describeError, finishModule, jsonFailure, jsonSuccess, openModule, outputPath, signatureDroppedLine, withModule,
  writeStdout, type Output, type OutputOptions, type SignOptions, type WriteResult,
} from './common.js';

import { EXIT_FAIL, EXIT_OK } from './io.js';

export { EXIT_FAIL, EXIT_OK, EXIT_USAGE } from './io.js';

// ---------------------------------------------------------------- dump

export interface DumpOptions {
  file: string;
  base?: string;
  format: 'raw' | 'json' | 'c';
}

export async function cmdDump(o: DumpOptions, io: Output): Promise<number> {
  if (o.format !== 'json') return dumpOne(o, io);
  try {
    return await dumpOne(o, io);
  } catch (e) {
    io.out(jsonFailure(o.file, e));
    throw e;
  }
}

async function dumpOne(o: DumpOptions, io: Output): Promise<number> {
  const base = o.base ? await loadBaseBtf(o.base) : null;
  const input = await openInput(o.file);
  const btf = input.elf ? distilledBtf(input.elf, base, o) : null;
  // The C printer checks every type id and string offset it reads itself.
  return await printDump(btf ?? parseWithBase(input, base, o.file, o.format !== 'c'), o, io);
}

/**
 * A distilled (or reconciled) module's own split BTF: on its distilled base,
 * or, given a base, relocated onto it as reconcile would (a base it cannot be
 * relocated onto is refused). Null for any other input.
 */
function distilledBtf(elf: ElfFile, base: Btf | null, o: DumpOptions): Btf | null {
  const parts = distilledParts(elf, o.file);
  if (!parts) return null;
  if (!base) return parts.split;
  try {
    return relocate(parts.split, base).btf;
  } catch (e) {
    if (e instanceof ModbtfError && e.code === 'E_RELOCATE') {
      e.message = `distilled module does not fit --base ${o.base} (${e.message}); dump it without --base to see it on its distilled base`;
    }
    throw e;
  }
}

function parseWithBase(input: InputFile, base: Btf | null, file: string, checkRefs: boolean): Btf {
  const raw = rawBtfOf(input);
  const where = { base, file, section: input.kind === 'elf' ? SEC_BTF : undefined };
  let btf: Btf;
  try {
    btf = Btf.parse(raw, where);
  } catch (e) {
    if (!base && e instanceof ModbtfError && e.code === 'E_BTF_STRING' && !isStandalone(raw)) {
      e.message += ' (split BTF? pass --base)';
    }
    throw e;
  }
  if (checkRefs) btf.checkReferences();
  return btf;
}

// The printers are loaded only by `dump` (the other commands share this module).
async function printDump(btf: Btf, o: DumpOptions, io: Output): Promise<number> {
  if (o.format === 'c') {
    const { dumpCTo } = await import('../btf/dumpc.js');
    if (io.raw) {
      dumpCTo(btf, io.raw);
    } else {
      const parts: string[] = [];
      dumpCTo(btf, (c) => parts.push(c));
      io.out(parts.join('').replace(/\n$/, ''));
    }
    return EXIT_OK;
  }
  const { dumpJson, dumpRaw, toJsonText } = await import('../btf/dump.js');
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
export async function cmdExtract(o: { file: string; section: string; output: string; json?: boolean }, io: Output): Promise<number> {
  try {
    return await extractOne(o, io);
  } catch (e) {
    if (o.json) io.out(jsonFailure(o.file, e));
    throw e;
  }
}

async function extractOne(o: { file: string; section: string; output: string; json?: boolean }, io: Output): Promise<number> {
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
  const toStdout = o.output === STDOUT;
  if (toStdout) writeStdout(raw);
  else await writeFileAtomic(resolve(o.output), raw);
  if (o.json) io.out(jsonSuccess(o.file, { section: o.section, size: raw.length, output: toStdout ? STDOUT : resolve(o.output) }));
  else (toStdout ? io.err : io.out)(`${o.file}: ${o.section} (${prettyBytes(raw.length)}) -> ${o.output}`);
  return EXIT_OK;
}

// ---------------------------------------------------------------- inspect

export interface SectionInfo {
  name: string;
  size: number;
  types?: number;
  kinds?: Record<string, number>;
  /** The kind layout section of 2026-format BTF (absent when there is none). */
  layout?: { hdr_len: number; kinds: { info_sz: number; elem_sz: number; flags: number }[] };
  slots?: number;
}

/** What a file is, as inspect names it. */
export type InputKind = 'module' | 'vmlinux' | 'boot-image' | 'kernel-btf' | 'btf' | 'bpf-object' | 'elf';

export interface InspectInfo {
  file: string;
  kind: InputKind;
  format: 'elf' | 'btf';
  compression: string;
  signed: boolean;
  state: BtfState;
  kernelRelease: string | null;
  /** Byte order of the BTF shown (null when there is none). */
  byteOrder: 'little-endian' | 'big-endian' | null;
  sections: SectionInfo[];
}

const EM_BPF = 247;
const ET_REL = 1;
const ET_EXEC = 2;
const FUNC_KIND = 12;

function kindCounts(raw: Uint8Array, where: { file: string; section?: string }): { types: number; kinds: Record<string, number>; layout?: SectionInfo['layout']; kernel: boolean; le: boolean } {
  const btf = Btf.parse(raw, { detached: true, ...where });
  const kinds: Record<string, number> = {};
  for (let id = btf.startId; id < btf.typeCount; id++) {
    const k = kindName(btf.kind(id));
    kinds[k] = (kinds[k] ?? 0) + 1;
  }
  const layout = btf.layout
    ? { hdr_len: btf.header.hdrLen, kinds: btf.layoutEntries().map((e) => ({ info_sz: e.infoSz, elem_sz: e.elemSz, flags: e.flags })) }
    : undefined;
  return { types: btf.nrTypes, kinds, ...(layout ? { layout } : {}), kernel: isKernelBtf(btf), le: btf.littleEndian };
}

/**
 * The kernel's own BTF defines the core kernel functions; a module's BTF only
 * its own. Standalone BTF with FUNCs `schedule` and `do_exit` is the kernel's.
 */
function isKernelBtf(btf: Btf): boolean {
  if (btf.isSplit() || btf.findString('do_exit') < 0 || btf.findString('schedule') < 0) return false;
  let found = 0;
  for (let id = btf.startId; id < btf.typeCount && found < 2; id++) {
    if (btf.kind(id) !== FUNC_KIND) continue;
    const n = btf.name(id);
    if (n === 'schedule' || n === 'do_exit') found++;
  }
  return found === 2;
}

/** Whether the file starts as a boot image (bzImage, arm64/RISC-V Image, EFI zboot, s390x, zImage); reads only its header. */
export function isBootImage(path: string): boolean {
  try {
    // Non-blocking, regular files only: a FIFO read once already must not be waited on again.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile()) return false;
      const head = new Uint8Array(BOOT_IMAGE_PROBE_LEN);
      const n = readSync(fd, head, 0, head.length, 0);
      return bootImageFormat(head.subarray(0, n)) !== null;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

export function inspectInput(input: InputFile, opts: { bootImage?: boolean } = {}): InspectInfo {
  const file = input.path;
  if (input.kind === 'btf') {
    const raw = input.btf!;
    const { kernel, le, ...counts } = kindCounts(raw, { file });
    return {
      file, kind: opts.bootImage ? 'boot-image' : kernel ? 'kernel-btf' : 'btf', format: 'btf', compression: input.compression, signed: false,
      state: isStandalone(raw) ? 'standalone' : 'split', kernelRelease: null, byteOrder: byteOrder(le),
      sections: [{ name: '(raw BTF)', size: raw.length, ...counts }],
    };
  }
  const elf = input.elf!;
  const has = (n: string): boolean => elf.section(n) !== undefined;
  const sections: SectionInfo[] = [];
  let le: boolean | null = null;
  for (const name of [SEC_BTF, SEC_BASE_NATIVE, SEC_BASE_MINIMAL, SEC_SPLIT_MINIMAL]) {
    const sec = elf.section(name);
    if (!sec) continue;
    const { kernel: _k, le: secLe, ...counts } = kindCounts(elf.data(sec), { file, section: name });
    le ??= secLe;
    sections.push({ name, size: sec.size, ...counts });
  }
  for (const name of [BTF_IDS_SECTION, SEC_BTF_IDS_MINIMAL]) {
    const sec = elf.section(name);
    if (!sec) continue;
    const idsSec = elf.section(BTF_IDS_SECTION);
    const layout = idsSec ? btfIdsLayout(elf.data(idsSec), idsSec.index, elf.symbolsIn(idsSec.index), elf.littleEndian, { file }) : null;
    sections.push({ name, size: sec.size, slots: layout?.slots.length ?? 0 });
  }
  let state: BtfState;
  if (!has(SEC_BTF)) state = 'none';
  else if (has(SEC_SPLIT_MINIMAL) && baseSectionOf({ has })) state = 'reconciled';
  else if (baseSectionOf({ has })) state = 'distilled';
  else state = isStandalone(elf.data(elf.section(SEC_BTF)!)) ? 'standalone' : 'split';
  const modinfo = elf.section('.modinfo');
  let kind: InputKind;
  if (opts.bootImage) kind = 'boot-image';
  else if (elf.machine === EM_BPF) kind = 'bpf-object';
  else if (elf.type === ET_REL && (modinfo || has('.gnu.linkonce.this_module'))) kind = 'module';
  else if (elf.type === ET_EXEC && (has(SEC_BTF) || has('__ksymtab'))) kind = 'vmlinux';
  else kind = 'elf';
  return {
    file, kind, format: 'elf', compression: input.compression, signed: input.signature !== null, state,
    kernelRelease: modinfo && kind === 'module' ? moduleKernelRelease(parseModinfo(elf.data(modinfo))) : null,
    byteOrder: le === null ? null : byteOrder(le),
    sections,
  };
}

const byteOrder = (le: boolean): 'little-endian' | 'big-endian' => (le ? 'little-endian' : 'big-endian');

const STATE_TEXT: Record<BtfState, string> = {
  none: 'no BTF',
  standalone: 'standalone BTF (no base)',
  split: 'split BTF on the vmlinux it was built against',
  distilled: 'distilled (split BTF on a minimal base it carries)',
  reconciled: 'reconciled (split BTF on a target kernel, distilled pair kept)',
};

const ELF_TYPE_TEXT: Record<number, string> = { 1: 'relocatable object', 2: 'executable', 3: 'shared object', 4: 'core file' };

function whatItIs(info: InspectInfo, elfType: number | undefined): string {
  switch (info.kind) {
    case 'module': return 'kernel module';
    case 'vmlinux': return 'kernel image (vmlinux ELF)';
    case 'boot-image': return info.format === 'elf' ? 'boot image (bzImage; the vmlinux inside is shown)' : 'boot image (raw kernel inside; its .BTF is shown)';
    case 'kernel-btf': return 'kernel BTF (raw, as /sys/kernel/btf/vmlinux)';
    case 'btf': return 'raw BTF';
    case 'bpf-object': return 'BPF object (ELF, machine BPF), not a kernel module';
    case 'elf': return `ELF ${ELF_TYPE_TEXT[elfType ?? 0] ?? 'file'}, not a kernel module (no .modinfo)`;
  }
}

function btfText(info: InspectInfo): string {
  if (info.state !== 'none' && (info.kind === 'vmlinux' || info.kind === 'boot-image' || info.kind === 'kernel-btf')) {
    return 'kernel BTF (the base of module BTF)';
  }
  if (info.state !== 'none' && info.kind === 'bpf-object') return 'BPF program BTF';
  return STATE_TEXT[info.state];
}

export function formatInspect(info: InspectInfo, elfType?: number): string[] {
  const lines: string[] = [];
  const attrs = [whatItIs(info, elfType)];
  if (info.compression !== 'none') attrs.push(`${info.compression}-compressed`);
  if (info.kind === 'module') attrs.push(info.signed ? 'signed' : 'unsigned');
  if (info.kernelRelease) attrs.push(`built for ${info.kernelRelease}`);
  lines.push(`${info.file}: ${attrs.join(', ')}`);
  lines.push(`  BTF: ${btfText(info)}${info.byteOrder ? `, ${info.byteOrder}` : ''}`);
  for (const s of info.sections) {
    let detail = '';
    if (s.types !== undefined) {
      const kinds = Object.entries(s.kinds ?? {}).map(([k, n]) => `${k} ${n}`).join(', ');
      detail = `${s.types} types${kinds ? ` (${kinds})` : ''}`;
      if (s.layout) detail += `; kind layout for ${s.layout.kinds.length} kinds (2026 format, ${s.layout.hdr_len}-byte header)`;
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
      const input = await openInput(f);
      const info = inspectInput(input, { bootImage: isBootImage(f) });
      if (o.json) io.out(jsonSuccess(f, info));
      else for (const l of formatInspect(info, input.elf?.type)) io.out(l);
    } catch (e) {
      io.err(`modbtf: ${describeError(e)}`);
      if (o.json) io.out(jsonFailure(f, e));
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
  const running = release(); // uname -r
  if (running === rel && existsSync('/sys/kernel/btf/vmlinux')) return '/sys/kernel/btf/vmlinux';
  throw new ModbtfError('E_NO_BASE',
    `built for ${rel}, but neither ${build} exists nor is ${rel} the running kernel: pass --base VMLINUX`, { file });
}

// ---------------------------------------------------------------- module commands

/**
 * Write a rewritten module where `o` says, telling about a dropped signature.
 * `say` is where its one-line report goes: stdout, or stderr when the module
 * itself is written to stdout.
 */
async function writeOutput(input: InputFile, elf: ElfPieces, f: string, o: OutputOptions & { sign?: SignOptions }, io: Output): Promise<WriteResult & { elsewhere: string; say: (line: string) => void }> {
  const w = await finishModule(input, elf, outputPath(f, o), o.sign);
  if (w.signatureDropped) {
    if (io.signatureDropped) io.signatureDropped(f);
    else io.err(signatureDroppedLine(f));
  }
  const toStdout = w.dest === STDOUT;
  return { ...w, elsewhere: toStdout ? ' -> stdout' : w.dest !== resolve(f) ? ` -> ${w.dest}` : '', say: toStdout ? io.err : io.out };
}

/** The facts every module-rewriting command reports in JSON, under the same names. */
function writeFacts(w: WriteResult): { output: string; signed: boolean; signatureDropped: boolean } {
  return { output: w.dest, signed: w.signed, signatureDropped: w.signatureDropped };
}

/** Run one module's work: an error becomes its one line (and its JSON object) and exit code 1. */
async function perModule(io: Output, f: string, json: boolean, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    io.err(`modbtf: ${describeError(e)}`);
    if (json) io.out(jsonFailure(f, e));
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
  return perModule(io, f, o.json, async () => {
    return withModule(f, async ({ input, elf }) => {
      const basePath = o.base ?? defaultBasePath(elf, f);
      const base = await loadBaseBtf(basePath);
      const r = distillModule(elf, base, { section: o.section, force: o.force, file: f });
      const toStdout = o.output === STDOUT;
      if (r.report.mappedStandalone && !o.json) {
        (toStdout ? io.err : io.out)(`${f}: standalone BTF mapped onto the base: ${r.report.mappedStandalone.mapped} types are the kernel's, ${r.report.mappedStandalone.kept} kept`);
      }
      const w = await writeOutput(input, r.pieces, f, o, io);
      const rep = r.report;
      if (rep.section === SEC_BASE_NATIVE && rep.baseFwds.length) io.err(`modbtf: ${f}: ${fwdWarning(rep.baseFwds)}`);
      if (o.json) {
        const { file: _file, ...facts } = rep;
        io.out(jsonSuccess(f, { status: 'distilled', kernel: basePath, ...facts, ...writeFacts(w) }));
      } else {
        w.say(`${f}: distilled: .BTF ${prettyBytes(rep.btfBefore)} -> ${prettyBytes(rep.btfAfter)} (${rep.moduleTypes} -> ${rep.splitTypes} types), ${rep.section} ${prettyBytes(rep.baseSize)} (${rep.baseTypes} types)${rep.btfIdsSlots ? `, ${rep.btfIdsSlots} .BTF_ids slots renumbered` : ''}${w.elsewhere}`);
      }
      return EXIT_OK;
    });
  });
}

/**
 * The warning for a `.BTF.base` holding FWD types: the kernel relocates it at
 * load with libbpf's rule, which reads the target's kind_flag (bitfield
 * encoding) as the FWD's flavour.
 */
export function fwdWarning(fwds: { name: string; flavour: string }[]): string {
  const list = fwds.map((x) => `FWD '${x.name}' (${x.flavour})`).join(', ');
  return `warning: ${SEC_BASE_NATIVE} holds ${list}: the kernel's own relocation at load matches a FWD by the target's kind_flag, `
    + 'not by its struct/union flavour, and refuses it on a kernel that defines the struct with bitfields (or the union without); '
    + '`modbtf check` names those kernels, `modbtf reconcile` maps it';
}

// ---------------------------------------------------------------- map

export interface MapCliOptions extends OutputOptions {
  base: string;
  /** Keep the module's FUNC records the kernel has too (see MapOptions). */
  keepModuleFuncs?: boolean;
  json: boolean;
  sign?: SignOptions;
}

/** Replace a module's standalone `.BTF` by split BTF on `o.base`, mapped by type-graph equivalence. */
export async function mapOne(f: string, o: MapCliOptions, io: Output): Promise<number> {
  return perModule(io, f, o.json, async () => {
    const base = await loadBaseBtf(o.base);
    return withModule(f, async ({ input, elf }) => {
      const sec = elf.section(SEC_BTF);
      if (!sec) throw new ModbtfError('E_NO_BTF', 'no .BTF section to map (generate it with `pahole -J`)', { file: f, section: SEC_BTF });
      if (!isStandalone(elf.data(sec))) {
        throw new ModbtfError('E_MAP', '.BTF is not standalone BTF (it is split already): nothing to map', { file: f, section: SEC_BTF });
      }
      const keep = o.keepModuleFuncs === true;
      const m = mapModuleOnto(elf, base, f, { keepModuleFuncs: keep });
      const bytes = m.split.toBytes();
      const replace = new Map<string, Uint8Array>([[SEC_BTF, bytes]]);
      if (m.ids) replace.set('.BTF_ids', m.ids);
      const w = await writeOutput(input, editElfPieces(elf, { replace }), f, o, io);
      const st = m.mappedStandalone!;
      const funcs = keep ? { moduleFuncsKept: m.funcsKept ?? 0 } : {};
      const nf = m.funcsKept ?? 0;
      const funcsSaid = keep ? `; --keep-module-funcs: ${nf} function${nf === 1 ? '' : 's'} the kernel also has kept as the module's own` : '';
      if (o.json) io.out(jsonSuccess(f, { status: 'mapped', kernel: o.base, btfBefore: sec.size, btfAfter: bytes.length, mapped: st.mapped, kept: st.kept, ...funcs, ...writeFacts(w) }));
      else w.say(`${f}: mapped onto ${o.base}: ${st.mapped} types are the kernel's, ${st.kept} kept as split BTF (${prettyBytes(sec.size)} -> ${prettyBytes(bytes.length)})${funcsSaid}${w.elsewhere}`);
      return EXIT_OK;
    });
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
  return perModule(io, f, o.json, async () => {
    const target = await loadBaseBtf(o.kernel);
    return withModule(f, async ({ input, elf }) => {
      const r = reconcileModule(elf, target, { strip: o.strip, dedup: o.dedup, file: f });
      if (r.status === 'not-distilled') {
        const msg = `not distilled (no ${SEC_BASE_MINIMAL} or ${SEC_BASE_NATIVE}): nothing to do`;
        if (o.json) {
          io.out(o.strict
            ? jsonFailure(f, new ModbtfError('E_NOT_DISTILLED', msg))
            : jsonSuccess(f, { status: 'not-distilled', kernel: o.kernel, output: null, signed: input.signature !== null, signatureDropped: false }));
        } else (o.output === STDOUT ? io.err : io.out)(`${f}: ${msg}`);
        return o.strict ? EXIT_FAIL : EXIT_OK;
      }
      const w = await writeOutput(input, r.pieces, f, o, io);
      const rep = r.report;
      if (o.json) {
        const { file: _file, ...facts } = rep;
        io.out(jsonSuccess(f, { status: 'reconciled', kernel: o.kernel, ...facts, ...writeFacts(w) }));
      } else {
        w.say(`${f}: reconciled onto ${o.kernel}: .BTF ${prettyBytes(rep.btfAfter)}, ${rep.splitTypes} types on ${rep.targetTypes} kernel types${rep.btfIdsSlots ? `, ${rep.btfIdsSlots} .BTF_ids slots remapped` : ''}${rep.stripped ? ', distilled pair stripped' : ''}${rep.dedup ? `, ${rep.dedup.folded} types folded into the kernel's (${prettyBytes(rep.dedup.bytesSaved)} saved)` : ''}${w.elsewhere}`);
      }
      return EXIT_OK;
    });
  });
}

// ---------------------------------------------------------------- check

interface CheckCell {
  kernel: string;
  status: string;
  problems: string[];
  /** The kernel's own relocation of the distilled base at load (libbpf's rules). */
  kernelRelocation?: { status: string; problems: string[] };
}

interface CheckRow {
  file: string;
  baseSection?: string;
  cells: CheckCell[];
}

export async function cmdCheck(o: { files: string[]; kernels: string[]; json: boolean }, io: Output): Promise<number> {
  const targets: Btf[] = [];
  for (const k of o.kernels) targets.push(await loadBaseBtf(k));
  let rc = EXIT_OK;
  const rows: CheckRow[] = [];
  for (const f of o.files) {
    const cells: CheckCell[] = [];
    let baseSection: string | undefined;
    try {
      const { elf } = await openModule(f);
      targets.forEach((t, i) => {
        const c = checkModule(elf, t, { file: f });
        if (c.status === 'fail') rc = EXIT_FAIL;
        baseSection = c.baseSection;
        const cell: CheckCell = { kernel: o.kernels[i]!, status: c.status, problems: c.lines };
        if (c.kernelRelocation) cell.kernelRelocation = { status: c.kernelRelocation.status, problems: c.kernelRelocation.lines };
        cells.push(cell);
      });
    } catch (e) {
      rc = EXIT_FAIL;
      for (const k of o.kernels) cells.push({ kernel: k, status: 'error', problems: [describeError(e)] });
      rows.push({ file: f, cells });
      if (o.json) io.out(jsonFailure(f, e));
      continue;
    }
    rows.push({ file: f, baseSection, cells });
    if (o.json) {
      const failed = cells.filter((c) => c.status === 'fail').length;
      const extra = baseSection ? { baseSection } : {};
      if (!failed) io.out(jsonSuccess(f, { ...extra, results: cells }));
      else {
        const error = { code: 'E_RELOCATE', message: `cannot be reconciled onto ${failed} of ${cells.length} kernel${cells.length > 1 ? 's' : ''}` };
        io.out(JSON.stringify({ file: f, ok: false, error, ...extra, results: cells }));
      }
    }
  }
  if (!o.json) for (const l of formatMatrix(rows, o.kernels)) io.out(l);
  return rc;
}

/** The kernel's verdict on a cell when it says something reconcile's does not. */
function kernelDiffers(c: CheckCell): { status: string; problems: string[] } | null {
  const k = c.kernelRelocation;
  if (!k) return null;
  return verdictsDiffer({ status: c.status, lines: c.problems }, { status: k.status, lines: k.problems }) ? k : null;
}

const cellText = (status: string, problems: string[]): string =>
  status === 'fail' ? `FAIL (${problems.length})` : status === 'not-distilled' ? 'not distilled' : status;

function formatMatrix(rows: CheckRow[], kernels: string[]): string[] {
  const lines: string[] = [];
  const w = Math.max(6, ...rows.map((r) => r.file.length));
  const cw = kernels.map((k) => Math.max(k.length, 13));
  lines.push(['module'.padEnd(w), ...kernels.map((k, i) => k.padEnd(cw[i]!))].join('  ').trimEnd());
  for (const r of rows) {
    const cells = r.cells.map((c, i) => {
      const k = kernelDiffers(c);
      const s = cellText(c.status, c.problems) + (k ? `, at load ${cellText(k.status, k.problems)}` : '');
      return s.padEnd(cw[i]!);
    });
    lines.push([r.file.padEnd(w), ...cells].join('  ').trimEnd());
  }
  const details: string[] = [];
  for (const r of rows) {
    for (const c of r.cells) {
      const k = kernelDiffers(c);
      if (c.problems.length) {
        details.push(k ? `${r.file} on ${c.kernel}, modbtf reconcile:` : `${r.file} on ${c.kernel}:`);
        for (const p of c.problems) details.push(`  ${p}`);
      }
      if (k) {
        // Only where the kernel's verdict differs: what it refuses besides, and what it maps that reconcile refuses.
        const where = r.baseSection === SEC_BASE_NATIVE ? `of ${SEC_BASE_NATIVE} at load` : `at load (were the distilled base in ${SEC_BASE_NATIVE})`;
        const mine = new Set(c.problems);
        const theirs = new Set(k.problems);
        const also = c.problems.length ? ', besides the above' : '';
        details.push(`${r.file} on ${c.kernel}, the kernel's own relocation ${where}: ${cellText(k.status, k.problems)}${also}`);
        for (const p of k.problems) if (!mine.has(p)) details.push(`  ${p}`);
        for (const p of c.problems) if (!theirs.has(p)) details.push(`  ${p} (the kernel's relocation maps it)`);
      }
    }
  }
  if (details.length) lines.push('', ...details);
  return lines;
}
