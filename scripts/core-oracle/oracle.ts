/**
 * Helpers around core-oracle (oracle.c): build it, run it, and make the target BTFs the
 * expectations are computed against. Used by gen-sample-expectations.ts and by the tests that
 * compute libbpf's values at test time (Debian's libbpf-tools objects).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openInput } from '../../src/module/index.js';
import { rawBtfOf } from '../../src/btf/load.js';
import { readBpfObject } from '../../src/bpfobj/object.js';

export const oracleDir = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(oracleDir, '../..');

/** One CO-RE relocation as libbpf computed it. */
export interface OracleRelo {
  sec: string;
  /** index of the record among its section's core_relo records in .BTF.ext */
  relo: number;
  prog: string;
  /** the record's insn_off: byte offset of the instruction in its ELF section */
  insn_off?: number;
  /** libbpf's name of the kind: byte_off, byte_sz, field_exists, signed, lshift_u64, rshift_u64,
   * local_type_id, target_type_id, type_exists, type_size, type_matches, enumval_exists,
   * enumval_value */
  kind: string;
  /** libbpf's text of the local spec, e.g. "<byte_off> [5] struct task_struct.pid (0:0 @ offset 0)" */
  local: string;
  /** the matching candidates' specs, in candidate order */
  candidates: string[];
  /** ok: patched with value; poison: no candidate, instruction poisoned; error: libbpf refused */
  result: 'ok' | 'poison' | 'error' | 'none';
  /** the new value; a decimal string when above 2^53 - 1 */
  value?: number | string;
  mem_sz?: number;
  error?: string;
}

/** libbpf's kind names, indexed by enum bpf_core_relo_kind. */
export const RELO_KIND_NAMES = [
  'byte_off', 'byte_sz', 'field_exists', 'signed', 'lshift_u64', 'rshift_u64',
  'local_type_id', 'target_type_id', 'type_exists', 'type_size',
  'enumval_exists', 'enumval_value', 'type_matches',
] as const;

function have(cmd: string, args: string[] = ['--version']): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/**
 * Path of a built core-oracle, building it when gcc, libbpf.a and libelf are there; undefined
 * (with the reason) when they are not.
 */
export function buildOracle(): { path?: string; reason?: string } {
  const bin = join(oracleDir, 'core-oracle');
  if (!have('gcc')) return { reason: 'gcc not installed' };
  const libbpf = spawnSync('gcc', ['-print-file-name=libbpf.a'], { encoding: 'utf8' }).stdout.trim();
  if (!libbpf.startsWith('/') || !existsSync(libbpf)) return { reason: 'libbpf.a not installed (apt-get install libbpf-dev libelf-dev zlib1g-dev)' };
  const r = spawnSync('make', ['-s', '-C', oracleDir, 'core-oracle'], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(bin)) return { reason: `building core-oracle failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}` };
  return { path: bin };
}

/** Run core-oracle over objects against one target BTF; relocations per object path. */
export function runOracle(oracle: string, target: string, objects: string[], env: NodeJS.ProcessEnv = {}): Map<string, OracleRelo[]> {
  const r = spawnSync(oracle, [target, ...objects], { encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`core-oracle ${target}: exit ${r.status}: ${r.stderr.trim()}`);
  const out = new Map<string, OracleRelo[]>(objects.map((o) => [o, []]));
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const rec = JSON.parse(line) as OracleRelo & { object: string };
    const { object, ...rest } = rec;
    out.get(object)!.push(rest);
  }
  for (const list of out.values()) list.sort((a, b) => (a.sec < b.sec ? -1 : a.sec > b.sec ? 1 : a.relo - b.relo));
  return out;
}

/** The standalone BTF libbpf needs for module types: base types + split types, base + split strings. */
export function mergeSplit(base: Uint8Array, split: Uint8Array): Uint8Array {
  const parse = (b: Uint8Array, what: string) => {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (b.length < 24 || dv.getUint16(0, true) !== 0xeb9f) throw new Error(`${what}: not little-endian raw BTF`);
    const hdr = dv.getUint32(4, true);
    const [to, tl, so, sl] = [8, 12, 16, 20].map((o) => dv.getUint32(o, true)) as [number, number, number, number];
    return { types: b.subarray(hdr + to, hdr + to + tl), strs: b.subarray(hdr + so, hdr + so + sl) };
  };
  const a = parse(base, 'base');
  const s = parse(split, 'split');
  const tl = a.types.length + s.types.length;
  const out = new Uint8Array(24 + tl + a.strs.length + s.strs.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0xeb9f, true);
  dv.setUint8(2, 1);
  dv.setUint32(4, 24, true);
  dv.setUint32(12, tl, true);
  dv.setUint32(16, tl, true);
  dv.setUint32(20, a.strs.length + s.strs.length, true);
  let o = 24;
  for (const part of [a.types, s.types, a.strs, s.strs]) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}

/** The raw .BTF of any file modbtf reads (raw BTF, vmlinux, boot image, module, compressed). */
export async function readBtf(path: string): Promise<Uint8Array> {
  return rawBtfOf(await openInput(path));
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/**
 * Debian bookworm's 6.1 cloud kernel BTF, from the boot image scripts/kernel/fetch-debian-kernel.sh
 * leaves in the cache (or MODBTF_VMLINUX61_BTF). Written once to the cache; undefined when absent.
 */
export async function debian61Btf(): Promise<string | undefined> {
  const env = process.env.MODBTF_VMLINUX61_BTF;
  if (env) return existsSync(env) ? env : undefined;
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'modbtf/kernels');
  const boot = join(cache, 'root/boot');
  if (!existsSync(boot)) return undefined;
  const vmlinuz = readdirSync(boot).find((f) => /^vmlinuz-6\.1\./.test(f));
  if (!vmlinuz) return undefined;
  const out = join(cache, `${vmlinuz.replace(/^vmlinuz-/, 'vmlinux-')}.btf`);
  if (!existsSync(out)) {
    mkdirSync(cache, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, await readBtf(join(boot, vmlinuz)));
    renameSync(tmp, out);
  }
  return out;
}

/**
 * BPF ELF objects embedded in a program binary (libbpf skeletons keep the object as bytes in
 * .rodata): every "\x7fELF" of class 64 with e_machine 247 (BPF), its size up to the end of its
 * section header table.
 */
export function embeddedBpfObjects(bin: Uint8Array): { offset: number; bytes: Uint8Array }[] {
  const out: { offset: number; bytes: Uint8Array }[] = [];
  const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  for (let i = bin.indexOf(0x7f, 1); i >= 0 && i + 64 <= bin.length; i = bin.indexOf(0x7f, i + 1)) {
    if (bin[i + 1] !== 0x45 || bin[i + 2] !== 0x4c || bin[i + 3] !== 0x46 || bin[i + 4] !== 2 || bin[i + 5] !== 1) continue;
    if (dv.getUint16(i + 18, true) !== 247) continue;
    const shoff = Number(dv.getBigUint64(i + 40, true));
    const end = shoff + dv.getUint16(i + 58, true) * dv.getUint16(i + 60, true);
    if (end > bin.length - i) continue;
    out.push({ offset: i, bytes: bin.subarray(i, i + end) });
    i += end - 1;
  }
  return out;
}

/** Debian's libbpf-tools: each tool's embedded objects, named `<tool>@0x<offset>.bpf.o`. */
export function libbpfToolsObjects(dir = '/usr/sbin'): { name: string; bytes: Uint8Array }[] {
  const r = spawnSync('dpkg', ['-L', 'libbpf-tools'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const tools = r.stdout.split('\n').filter((p) => p.startsWith(`${dir}/`)).sort();
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const t of tools) {
    let bin: Uint8Array;
    try {
      bin = readFileSync(t);
    } catch {
      continue;
    }
    for (const o of embeddedBpfObjects(bin)) out.push({ name: `${basename(t)}@0x${o.offset.toString(16)}.bpf.o`, bytes: o.bytes });
  }
  return out;
}

/**
 * Where libbpf stops before naming a relocation (no candidate search for an anonymous type), the
 * kind and the instruction offset are taken from the object's .BTF.ext record.
 */
export function fillFromBtfExt(relos: OracleRelo[], object: Uint8Array, name: string): void {
  const obj = readBpfObject(object, name);
  for (const r of relos) {
    const rec = obj.ext?.coreRelos.find((s) => s.name === r.sec)?.records[r.relo];
    if (!rec) throw new Error(`${name}: ${r.sec} #${r.relo}: no such .BTF.ext record`);
    if (!r.kind) r.kind = RELO_KIND_NAMES[rec.kind]!;
    if (r.insn_off === undefined) r.insn_off = rec.insnOff;
  }
}
