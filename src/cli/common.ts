/** What every module-rewriting command shares: opening, output paths, signing, writing, reporting. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { ElfFile, elfBytes, type ElfPieces } from '../elf/index.js';
import { ModbtfError, ioReason } from '../errors.js';
import { compress, openInput, releaseInput, writeFileAtomic, writeModule, type InputFile } from '../module/index.js';
import { describeError, writeFd } from './io.js';
import { childProcess } from '../lazy.js';

export { describeError, stdio, type Output } from './io.js';

/** The warning for one module whose signature a rewrite dropped. */
export const signatureDroppedLine = (file: string): string =>
  `modbtf: ${file}: module signature dropped (rewriting invalidates it; re-sign with --sign-key/--sign-cert)`;

/** `-o -`: the output goes to stdout. */
export const STDOUT = '-';

/** Write bytes to stdout (fd 1), whole. */
export function writeStdout(data: Uint8Array): void {
  try {
    writeFd(1, data);
  } catch (e) {
    throw new ModbtfError('E_WRITE', `cannot write to stdout: ${ioReason(e)}`, { file: STDOUT });
  }
}

export interface SignOptions {
  key: string;
  cert: string;
  tool?: string;
  hash?: string;
}

export interface OutputOptions {
  /** -o: one output file (one module only). */
  output?: string;
  /** --out-dir: outputs go there under their own base names. */
  outDir?: string;
}

/** Where the rewritten `input` goes: in place, `-o`, or `--out-dir/<basename>`. */
export function outputPath(input: string, opts: OutputOptions): string {
  if (opts.output === STDOUT) return STDOUT;
  if (opts.output !== undefined) return resolve(opts.output);
  if (opts.outDir !== undefined) {
    const name = basename(input);
    if (name === '' || name === '.' || name === '..') {
      throw new ModbtfError('E_USAGE', `cannot derive an output name from '${input}'`, { file: input });
    }
    return join(resolve(opts.outDir), name);
  }
  return resolve(input);
}

/** Open a module (any container) and require an ELF inside. */
export async function openModule(path: string): Promise<{ input: InputFile; elf: ElfFile }> {
  const input = await openInput(path);
  if (input.kind !== 'elf' || !input.elf) {
    throw new ModbtfError('E_ELF', 'not an ELF module (raw BTF cannot be rewritten in place)', { file: path });
  }
  return { input, elf: input.elf };
}

/**
 * Open a module for one task and release its bytes (releaseInput) once `fn`
 * is done with them, whatever the outcome: in a batch, buffers of finished
 * modules would otherwise set the peak memory.
 */
export async function withModule<T>(path: string, fn: (m: { input: InputFile; elf: ElfFile }) => Promise<T>): Promise<T> {
  const m = await openModule(path);
  try {
    return await fn(m);
  } finally {
    releaseInput(m.input);
  }
}

/** Find the kernel's sign-file: --sign-tool, then the build trees Debian's linux-kbuild ships. */
function findSignTool(explicit?: string): string {
  if (explicit) return explicit;
  const rel = childProcess().spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim();
  const candidates = [
    `/lib/modules/${rel}/build/scripts/sign-file`,
    ...listKbuild(),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (found) return found;
  throw new ModbtfError('E_USAGE', 'no sign-file found: pass --sign-tool (Debian ships it in linux-kbuild-*: /usr/lib/linux-kbuild-*/scripts/sign-file)');
}

function listKbuild(): string[] {
  const r = childProcess().spawnSync('sh', ['-c', 'ls -d /usr/lib/linux-kbuild-*/scripts/sign-file 2>/dev/null'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).sort().reverse();
}

/** Append a module signature with the kernel's sign-file (which edits a file in place). */
export function signModule(elf: Uint8Array, sign: SignOptions, file: string): Uint8Array {
  const tool = findSignTool(sign.tool);
  const dir = mkdtempSync(join(tmpdir(), 'modbtf-sign-'));
  try {
    const tmp = join(dir, 'module.ko');
    writeFileSync(tmp, elf);
    const r = childProcess().spawnSync(tool, [sign.hash ?? 'sha512', sign.key, sign.cert, tmp], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      const why = r.error ? ioReason(r.error, { ENOENT: `${tool} not found` }) : (r.stderr || r.stdout).trim().split('\n')[0] || `exit ${r.status}`;
      throw new ModbtfError('E_SIGNATURE', `sign-file failed: ${why}`, { file });
    }
    return new Uint8Array(readFileSync(tmp));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface WriteResult {
  dest: string;
  signatureDropped: boolean;
  signed: boolean;
}

/**
 * Sign (optionally), recompress as the input was, and write atomically. The input's bytes are
 * released (releaseInput) once written: nothing may read them afterwards.
 */
export async function finishModule(input: InputFile, elf: ElfPieces, dest: string, sign: SignOptions | undefined): Promise<WriteResult> {
  let signed = false;
  let bytes: Uint8Array | null = null;
  if (sign) {
    bytes = signModule(elfBytes(elf), sign, input.path);
    signed = true;
  }
  if (dest === STDOUT) {
    writeStdout(compress(bytes ?? elfBytes(elf), input.compression, input.path));
  } else if (!bytes && input.compression === 'none') {
    // Unchanged ranges go from the input's buffer straight to the file; once there, the input is
    // freed (releaseInput) while the fsync waits on the disk.
    await writeFileAtomic(dest, elf.pieces, { afterWrite: () => releaseInput(input) });
  } else {
    await writeModule(dest, bytes ?? elfBytes(elf), { compression: input.compression, afterWrite: () => releaseInput(input) });
  }
  return { dest, signatureDropped: input.signature !== null && !signed, signed };
}

export interface JsonError {
  code: string;
  /** The error line without the file: `SECTION: type [ID]: what is wrong`. */
  message: string;
  section?: string;
  typeId?: number;
}

/** The JSON object for an input that failed: `{"file", "ok": false, "error": {"code", "message"}}`. */
export function jsonFailure(file: string, e: unknown): string {
  let error: JsonError;
  if (e instanceof ModbtfError) {
    const parts: string[] = [];
    if (e.file !== undefined && e.file !== file) parts.push(e.file);
    if (e.section !== undefined) parts.push(e.section);
    if (e.typeId !== undefined) parts.push(`type [${e.typeId}]`);
    parts.push(e.message);
    error = { code: e.code, message: parts.join(': ') };
    if (e.section !== undefined) error.section = e.section;
    if (e.typeId !== undefined) error.typeId = e.typeId;
  } else {
    error = { code: 'E_INTERNAL', message: describeError(e) };
  }
  return JSON.stringify({ file, ok: false, error });
}

/** The JSON object for an input done: `{"file", "ok": true, ...facts}`. */
export function jsonSuccess(file: string, facts: object): string {
  return JSON.stringify({ file, ok: true, ...facts });
}

export function checkOutputOptions(files: readonly string[], opts: OutputOptions): void {
  if (opts.output !== undefined && opts.outDir !== undefined) {
    throw new ModbtfError('E_USAGE', '-o and --out-dir cannot be used together');
  }
  if (opts.output !== undefined && files.length !== 1) {
    throw new ModbtfError('E_USAGE', '-o takes exactly one module; use --out-dir for several');
  }
  if (opts.outDir !== undefined) {
    const seen = new Map<string, string>();
    for (const f of files) {
      const b = basename(f);
      const other = seen.get(b);
      if (other !== undefined) throw new ModbtfError('E_USAGE', `--out-dir: ${other} and ${f} would both be written as ${b}`);
      seen.set(b, f);
    }
  }
}
