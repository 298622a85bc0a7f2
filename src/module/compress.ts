/** Compressed modules: detected by magic, decompressed in-process, recompressed with the system tools kbuild uses. */
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { ModbtfError } from '../errors.js';

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

async function xzDecompress(data: Uint8Array): Promise<Uint8Array> {
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(data);
      controller.close();
    },
  });
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Loaded on first use: most runs never see an xz module, and the wasm costs start-up time.
  const mod = (await import('xz-decompress')) as unknown as XzModule;
  const Xz = mod.XzReadableStream ?? mod.default?.XzReadableStream;
  if (!Xz) throw new Error('xz-decompress has no XzReadableStream');
  const reader = new Xz(input).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.length;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Above this size the system tool (when present) is much faster than the in-process decoders. */
const SPAWN_THRESHOLD = 2 << 20;

function decompressWithTool(data: Uint8Array, kind: Exclude<Compression, 'none'>): Uint8Array | null {
  const r = spawnSync(TOOLS[kind].cmd, ['-dc'], { input: data, maxBuffer: 1 << 30 });
  if (r.error || r.status !== 0) return null;
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength);
}

export async function decompress(data: Uint8Array, kind: Compression, file?: string): Promise<Uint8Array> {
  if (kind !== 'none' && data.length > SPAWN_THRESHOLD) {
    const out = decompressWithTool(data, kind);
    if (out && out.length) return out;
  }
  try {
    switch (kind) {
      case 'none':
        return data;
      case 'xz': {
        const out = await xzDecompress(data);
        if (out.length === 0) throw new Error('no data');
        return out;
      }
      case 'zstd':
        return (await import('fzstd')).decompress(data);
      case 'gzip':
        return new Uint8Array(gunzipSync(data));
    }
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ModbtfError('E_DECOMPRESS', `${kind} data does not decompress: ${why}`, { file });
  }
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
  const r = spawnSync(t.cmd, t.args, { input: data, maxBuffer: 1 << 30 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ModbtfError('E_COMPRESS', missing
      ? `${t.cmd} not found: install ${t.pkg} to write ${kind}-compressed modules`
      : `${t.cmd} failed: ${r.error.message}`, { file });
  }
  if (r.status !== 0) {
    throw new ModbtfError('E_COMPRESS', `${t.cmd} failed (exit ${r.status}): ${r.stderr.toString().trim()}`, { file });
  }
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength);
}
