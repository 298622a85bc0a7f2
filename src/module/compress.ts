/** Compressed modules: detected by magic, decompressed in-process, recompressed with the system tools kbuild uses. */
import { readSync } from 'node:fs';
import { ModbtfError, ioReason } from '../errors.js';
import { OutputBuffer, checkModuleHead, limitOf, tooLarge, type LimitOptions } from './limits.js';
import { childProcess, zlib } from '../lazy.js';

export type Compression = 'none' | 'xz' | 'zstd' | 'gzip';

export function detectCompression(b: Uint8Array): Compression {
  if (b.length >= 6 && b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0x00) return 'xz';
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  if (b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08) return 'gzip';
  return 'none';
}

type XzCtor = new (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
/** The CommonJS package seen through ESM: its exports sit on `default` under Node, named under some loaders. */
interface XzModule {
  XzReadableStream?: XzCtor;
  default?: { XzReadableStream?: XzCtor };
}

export interface DecompressOptions extends LimitOptions {
  /**
   * The output must be an ELF file or raw BTF (a module, vmlinux, kernel BTF):
   * its first bytes are checked as they arrive, and decoding stops there when
   * they are not one, or when the ELF header puts the section headers past
   * the limit.
   */
  moduleOnly?: boolean;
}

/** Decoder failures, in what they say about the file. */
function corrupt(kind: string, file: string | undefined, why = 'corrupt'): ModbtfError {
  return new ModbtfError('E_DECOMPRESS', `${why} ${kind} data`, { file });
}

/** xz-embedded's return codes (xz.h) as xz-decompress reports them, in what they say about the file. */
const XZ_CODES: Record<string, string> = {
  2: 'xz data with an unsupported integrity check',
  3: 'xz data needing more memory than the decoder has',
  4: 'xz data needing a dictionary larger than the decoder supports',
  5: 'corrupt xz data (bad stream header)',
  6: 'xz data with unsupported options',
  7: 'corrupt xz data',
  8: 'truncated xz data',
};

function xzError(e: unknown, file: string | undefined): ModbtfError {
  if (e instanceof ModbtfError) return e;
  const code = /error code (\d+)/.exec(e instanceof Error ? e.message : '')?.[1];
  return new ModbtfError('E_DECOMPRESS', (code && XZ_CODES[code]) || 'corrupt xz data', { file });
}

async function xzDecompress(data: Uint8Array, sink: OutputBuffer, file: string | undefined): Promise<void> {
  // Loaded on first use: most runs never see an xz module, and the wasm costs start-up time.
  const mod = (await import('xz-decompress')) as unknown as XzModule;
  const Xz = mod.XzReadableStream ?? mod.default?.XzReadableStream;
  if (!Xz) throw new ModbtfError('E_DECOMPRESS', 'the xz decoder (xz-decompress) failed to load', { file });
  let fed = false;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      // The whole input at the first pull, the end at the next.
      if (!fed) controller.enqueue(data);
      else controller.close();
      fed = true;
    },
  });
  const reader = new Xz(input).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      sink.push(value);
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw xzError(e, file);
  }
}

/** fzstd's error codes (ZstdErrorCode). */
function zstdError(e: unknown, file: string | undefined): ModbtfError {
  if (e instanceof ModbtfError) return e;
  const code = (e as { code?: unknown }).code;
  if (code === 5) return corrupt('zstd', file, 'truncated');
  if (code === 1) return new ModbtfError('E_DECOMPRESS', 'zstd data with a window larger than 2 GiB', { file });
  return corrupt('zstd', file);
}

/** The frame header's window size and content size (null when absent); null for a non-zstd frame. */
function zstdFrame(b: Uint8Array): { window: number; content: number | null } | null {
  if (b.length < 6 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) return null;
  const flg = b[4]!;
  const single = (flg >> 5) & 1;
  const fcf = flg >> 6;
  const dictBytes = [0, 1, 2, 4][flg & 3]!;
  let at = 5 + (single ? 0 : 1) + dictBytes;
  const sizeBytes = fcf ? 1 << fcf : single;
  if (at + sizeBytes > b.length) return null;
  let content: number | null = null;
  if (sizeBytes) {
    content = 0;
    for (let i = sizeBytes - 1; i >= 0; i--) content = content * 256 + b[at + i]!;
    if (sizeBytes === 2) content += 256;
  }
  at += sizeBytes;
  let window = content ?? 0;
  if (!single) {
    const wd = b[5]!;
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  return { window, content };
}

async function zstdDecompress(data: Uint8Array, sink: OutputBuffer, limit: number, file: string | undefined): Promise<void> {
  const frame = zstdFrame(data);
  if (!frame) throw new ModbtfError('E_DECOMPRESS', 'not zstd data: bad frame header', { file });
  if (frame.content !== null && frame.content > limit) {
    throw tooLarge(file, limit, `decompressed size (${frame.content} bytes, as the zstd frame header says)`);
  }
  const { Decompress } = await import('fzstd');
  try {
    const d = new Decompress((chunk) => sink.push(chunk));
    // Fed in slices so that a bomb is stopped early: each slice decodes to at most a few blocks' worth more.
    const step = 1 << 16;
    for (let o = 0; o < data.length; o += step) d.push(data.subarray(o, Math.min(data.length, o + step)), o + step >= data.length);
    if (data.length === 0) d.push(data, true);
  } catch (e) {
    throw zstdError(e, file);
  }
}

function zlibError(e: unknown, file: string | undefined): ModbtfError {
  if (e instanceof ModbtfError) return e;
  const err = e as NodeJS.ErrnoException & { errno?: number };
  if (err.code === 'Z_BUF_ERROR' || /unexpected end/i.test(err.message ?? '')) return corrupt('gzip', file, 'truncated');
  return corrupt('gzip', file);
}

/** Gunzip from bytes, or from an open file read in slices (the compressed bytes are then never all held). */
function gzipDecompress(source: Uint8Array | number, sink: OutputBuffer, file: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const z = zlib().createGunzip({ chunkSize: 1 << 18 });
    let failed = false;
    const fail = (e: unknown): void => {
      if (failed) return;
      failed = true;
      z.destroy();
      reject(zlibError(e, file));
    };
    z.on('data', (chunk: Buffer) => {
      try {
        sink.push(chunk);
      } catch (e) {
        fail(e);
      }
    });
    z.on('error', fail);
    z.on('end', () => {
      if (!failed) resolve();
    });
    if (typeof source !== 'number') {
      z.end(source);
      return;
    }
    let pos = 0;
    const feed = (): void => {
      for (;;) {
        if (failed) return;
        const slice = Buffer.allocUnsafe(1 << 20);
        let n: number;
        try {
          n = readSync(source, slice, 0, slice.length, pos);
        } catch (e) {
          fail(new ModbtfError('E_IO', `cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { file }));
          return;
        }
        if (n === 0) {
          z.end();
          return;
        }
        pos += n;
        if (!z.write(slice.subarray(0, n))) {
          z.once('drain', feed);
          return;
        }
      }
    };
    feed();
  });
}

/** Above this size the system tool (when present) is much faster than the in-process decoders. */
export const SPAWN_THRESHOLD = 2 << 20;

/** xz and zstd decode faster in the system tool for large inputs; gzip is decoded by Node's own zlib. */
export const usesTool = (kind: Compression, size: number): kind is 'xz' | 'zstd' =>
  (kind === 'xz' || kind === 'zstd') && size > SPAWN_THRESHOLD;

/** Read straight from the file by decompressFd: what the system tool decodes, and large gzip files. */
export const streamsFromFile = (kind: Compression, size: number): kind is 'xz' | 'zstd' | 'gzip' =>
  usesTool(kind, size) || (kind === 'gzip' && size > SPAWN_THRESHOLD);

/**
 * Decode with the system tool, reading from `input` (bytes, or an open file
 * descriptor) into `sink`. Resolves to false when the tool cannot be run or
 * fails (the in-process decoder then gives the verdict).
 */
function decompressWithTool(input: Uint8Array | number, kind: Exclude<Compression, 'none'>, sink: OutputBuffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = childProcess().spawn(TOOLS[kind].cmd, ['-dc'], { stdio: [typeof input === 'number' ? input : 'pipe', 'pipe', 'ignore'] });
    let stopped: unknown = null;
    child.on('error', () => resolve(false));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (stopped) return;
      try {
        sink.push(chunk);
      } catch (e) {
        stopped = e;
        child.kill('SIGKILL');
        child.stdout!.destroy();
      }
    });
    child.on('close', (status) => {
      if (stopped) reject(stopped);
      else resolve(status === 0);
    });
    if (typeof input !== 'number') {
      child.stdin!.on('error', () => undefined); // the tool stopped reading: its status says why
      child.stdin!.end(input);
    }
  });
}

/** A size hint from the format (gzip's ISIZE trailer): where the output buffer starts. */
function sizeHint(data: Uint8Array, kind: Compression): number {
  if (kind === 'gzip' && data.length >= 18) {
    const n = data.length;
    return (data[n - 4]! | (data[n - 3]! << 8) | (data[n - 2]! << 16) | (data[n - 1]! << 24)) >>> 0;
  }
  if (kind === 'zstd') return zstdFrame(data)?.content ?? 0;
  return 0;
}

function outputFor(kind: Compression, file: string | undefined, opts: DecompressOptions, hint: number, window = 0): OutputBuffer {
  const limit = limitOf(opts);
  const onHead = opts.moduleOnly ? (head: Uint8Array) => checkModuleHead(head, limit, kind, file) : null;
  // A small window is part of the ~100 MiB above the limit; a larger one is counted against it.
  // xz-embedded's dictionary is written as output is; fzstd's window is moved whole for each block.
  return new OutputBuffer(limit, file, onHead, hint, undefined, window > SMALL_WINDOW ? window : 0, kind === 'xz');
}

/** Decoder windows up to this size are not counted against the limit. */
const SMALL_WINDOW = 32 << 20;

/** The LZMA2 dictionary size of an xz stream's first block (what the in-process decoder allocates), or 0. */
function xzDictionary(b: Uint8Array): number {
  // Stream header (12 bytes), then the block header: size, flags, [compressed size], [uncompressed size], filters.
  let at = 12;
  const end = Math.min(b.length, at + (b[at]! + 1) * 4);
  const varint = (): number => {
    let v = 0;
    for (let i = 0; i < 9 && at < end; i++) {
      const x = b[at++]!;
      v += (x & 0x7f) * 2 ** (7 * i);
      if (!(x & 0x80)) return v;
    }
    return -1;
  };
  if (end > b.length || b.length < 16) return 0;
  const flags = b[at + 1]!;
  at += 2;
  if (flags & 0x40) varint();
  if (flags & 0x80) varint();
  let dict = 0;
  for (let f = 0; f <= (flags & 3); f++) {
    const id = varint();
    const size = varint();
    if (id < 0 || size < 0 || at + size > end) return 0;
    const p = b[at]! & 0x3f;
    if (id === 0x21 && size === 1) dict = p >= 40 ? 0xffffffff : (2 | (p & 1)) * 2 ** (Math.floor(p / 2) + 11);
    at += size;
  }
  return dict;
}

/**
 * Decompress `data` (a whole compressed file) into at most the limit's bytes
 * (`maxInputSize`, default 1 GiB): past it, an E_TOO_LARGE error. Corrupt or
 * truncated data is an E_DECOMPRESS error saying so.
 */
export async function decompress(data: Uint8Array, kind: Compression, file?: string, opts: DecompressOptions = {}): Promise<Uint8Array> {
  if (kind === 'none') return data;
  const hint = sizeHint(data, kind);
  if (usesTool(kind, data.length)) {
    const sink = outputFor(kind, file, opts, hint);
    if (await decompressWithTool(data, kind, sink)) return sink.finish();
  }
  const window = kind === 'zstd' ? zstdFrame(data)?.window ?? 0 : kind === 'xz' ? xzDictionary(data) : 0;
  if (kind === 'zstd' && window > SMALL_WINDOW && window > limitOf(opts)) throw tooLarge(file, limitOf(opts), `zstd window (${window} bytes)`);
  const sink = outputFor(kind, file, opts, hint, window);
  switch (kind) {
    case 'xz':
      await xzDecompress(data, sink, file);
      break;
    case 'zstd':
      await zstdDecompress(data, sink, limitOf(opts), file);
      break;
    case 'gzip':
      await gzipDecompress(data, sink, file);
      break;
  }
  return sink.finish();
}

/**
 * Decompress an open file, read directly by the system tool (xz, zstd) or
 * in slices (gzip): the compressed bytes are never all held. Null when the
 * tool cannot do it (the caller then reads the file and calls decompress).
 */
export async function decompressFd(fd: number, kind: Exclude<Compression, 'none'>, file?: string, opts: DecompressOptions = {}): Promise<Uint8Array | null> {
  const sink = outputFor(kind, file, opts, 0);
  if (kind === 'gzip') {
    await gzipDecompress(fd, sink, file);
    return sink.finish();
  }
  return (await decompressWithTool(fd, kind, sink)) ? sink.finish() : null;
}

const TOOLS: Record<Exclude<Compression, 'none'>, { cmd: string; args: string[]; pkg: string }> = {
  xz: { cmd: 'xz', args: ['--check=crc32', '--lzma2=dict=1MiB', '-T1', '-c'], pkg: 'xz-utils' },
  zstd: { cmd: 'zstd', args: ['-q', '-c'], pkg: 'zstd' },
  gzip: { cmd: 'gzip', args: ['-n', '-9', '-c'], pkg: 'gzip' },
};

/** Compress as kbuild does (xz --check=crc32 --lzma2=dict=1MiB, zstd, gzip -n). */
export function compress(data: Uint8Array, kind: Compression, file?: string): Uint8Array {
  if (kind === 'none') return data;
  const t = TOOLS[kind];
  const r = childProcess().spawnSync(t.cmd, t.args, { input: data, maxBuffer: 1 << 30 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ModbtfError('E_COMPRESS', missing
      ? `${t.cmd} not found: install ${t.pkg} to write ${kind}-compressed modules`
      : `${t.cmd} failed: ${ioReason(r.error)}`, { file });
  }
  if (r.status !== 0) {
    throw new ModbtfError('E_COMPRESS', `${t.cmd} failed (exit ${r.status}): ${r.stderr.toString().trim()}`, { file });
  }
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength);
}
