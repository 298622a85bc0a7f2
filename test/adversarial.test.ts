/**
 * Hostile inputs and hostile conditions, each run as a real `modbtf` process:
 * decompression bombs (peak RSS measured), kill -9 mid-write, concurrent
 * writers, read-only directories, links, FIFOs, devices, a full stdout.
 * Each case checks the exit code, the message and that the input is untouched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync, chownSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, closeSync,
  readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, ftruncateSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { elfHeader, haveXz, writeGzipBomb, writeXzBomb, writeZstdBomb, zstdBomb } from './bombs.js';
import { decompress, type Compression } from '../src/module/index.js';
import { ModbtfError } from '../src/errors.js';
import { run } from '../src/cli/main.js';
import { fixture, repoRoot } from './helpers.js';

const BIN = join(repoRoot, 'bin/modbtf');
const VMLINUX = fixture('k612/vmlinux.btf.xz');
const mod = (m: string): string => fixture('k612/modules', `${m}.ko.xz`);
const tmp = mkdtempSync(join(tmpdir(), 'modbtf-adv-'));
afterAll(() => {
  spawnSync('chmod', ['-R', 'u+w', tmp]);
  rmSync(tmp, { recursive: true, force: true });
});

const MiB = 1 << 20;
const GiB = 1 << 30;
/** What a bomb may cost above the limit: Node itself, the decoder, garbage not yet collected. */
const SLACK = 100 * MiB;
const haveProc = existsSync('/proc/self/status');

// Records the child's peak RSS (VmHWM) when it exits, in a directory any user can write (see the read-only test).
const hwmDir = join(tmp, 'hwm');
mkdirSync(hwmDir, { mode: 0o1777 });
chmodSync(hwmDir, 0o1777);
const hwmHook = join(tmp, 'hwm.cjs');
writeFileSync(hwmHook, `process.on('exit', () => {
  const m = /VmHWM:\\s*(\\d+) kB/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'));
  if (m && process.env.MODBTF_HWM) require('fs').writeFileSync(process.env.MODBTF_HWM, m[1]);
});\n`);

interface Run { code: number | null; signal: NodeJS.Signals | null; out: string; err: string; peakRss: number }

/** Run the built CLI; peak RSS in bytes (0 without /proc). */
function modbtf(args: string[], opts: { stdout?: number; uid?: number; timeout?: number } = {}): Promise<Run> {
  const hwm = join(hwmDir, Math.random().toString(36).slice(2));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(haveProc ? ['--require', hwmHook] : []), BIN, ...args], {
      stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'],
      env: { ...process.env, MODBTF_HWM: hwm },
      uid: opts.uid,
      gid: opts.uid,
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const peakRss = existsSync(hwm) ? Number(readFileSync(hwm, 'utf8')) * 1024 : 0;
      rmSync(hwm, { force: true });
      resolve({ code, signal, out, err, peakRss });
    });
  });
}

const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');

// Concurrent: each case is its own process, and most of the time is the decoding.
describe.concurrent('decompression bombs: 3000 MiB of zeros after a 64-byte ELF header', () => {
  const TOTAL = 3000 * MiB;
  const makers: [string, (p: string, head: Uint8Array, total: number) => void, boolean][] = [
    ['xz', writeXzBomb, haveXz],
    ['zst', (p, h, t) => writeZstdBomb(p, h, t), true],
    ['gz', writeGzipBomb, true],
  ];
  if (!haveXz) console.log('note: xz not installed: the xz bombs are skipped');

  for (const [ext, make, can] of makers) {
    it.skipIf(!can)(`${ext}: a zeroed header (no section headers) is refused after its first 64 bytes`, async ({ expect }) => {
      const f = join(tmp, `zero.ko.${ext}`);
      make(f, elfHeader(0), TOTAL);
      const before = sha(f);
      const r = await modbtf(['inspect', f]);
      expect(r.err).toBe(`modbtf: ${f}: no section header table\n`);
      expect(r.code).toBe(1);
      expect(sha(f)).toBe(before);
      if (haveProc) expect(r.peakRss).toBeLessThan(GiB + SLACK);
      rmSync(f);
    });

    it.skipIf(!can)(`${ext}: a plausible header is decoded up to --max-input-size 64M, then refused`, async ({ expect }) => {
      const f = join(tmp, `plausible.ko.${ext}`);
      make(f, elfHeader(32 * MiB), TOTAL);
      const before = sha(f);
      const r = await modbtf(['inspect', '--max-input-size', '64M', f]);
      expect(r.err).toBe(`modbtf: ${f}: decompressed size exceeds the 64 MiB limit (--max-input-size)\n`);
      expect(r.code).toBe(1);
      expect(sha(f)).toBe(before);
      if (haveProc) expect(r.peakRss).toBeLessThan(64 * MiB + SLACK);
      rmSync(f);
    });
  }

  // Mostly the cost of committing 1 GiB of pages: slow on a loaded machine.
  it('zst: the default limit (1 GiB) holds a plausible bomb to 1 GiB + 100 MiB of memory', { timeout: 300_000 }, async ({ expect }) => {
    const f = join(tmp, 'plausible-default.ko.zst');
    writeZstdBomb(f, elfHeader(32 * MiB), TOTAL);
    const before = sha(f);
    const r = await modbtf(['inspect', f], { timeout: 280_000 });
    expect(r.err).toBe(`modbtf: ${f}: decompressed size exceeds the 1 GiB limit (--max-input-size)\n`);
    expect(r.code).toBe(1);
    expect(sha(f)).toBe(before);
    if (haveProc) expect(r.peakRss).toBeLessThan(GiB + SLACK);
    rmSync(f);
  });

  it('zst: a frame header declaring 3000 MiB is refused before decoding', async ({ expect }) => {
    const f = join(tmp, 'declared.ko.zst');
    writeZstdBomb(f, elfHeader(32 * MiB), TOTAL, { contentSize: true });
    const r = await modbtf(['inspect', '--json', f]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual({
      file: f, ok: false,
      error: { code: 'E_TOO_LARGE', message: `decompressed size (${TOTAL} bytes, as the zstd frame header says) exceeds the 1 GiB limit (--max-input-size)` },
    });
    if (haveProc) expect(r.peakRss).toBeLessThan(SLACK);
  });

  it('gz: section headers placed past the limit are refused from the ELF header', async ({ expect }) => {
    const f = join(tmp, 'far.ko.gz');
    writeGzipBomb(f, elfHeader(2 * GiB), 64 * MiB);
    const r = await modbtf(['inspect', f]);
    expect(r.err).toBe(`modbtf: ${f}: decompressed size (at least ${2 * GiB + 128} bytes: the ELF header puts the section headers there) exceeds the 1 GiB limit (--max-input-size)\n`);
    expect(r.code).toBe(1);
  });

  it('an uncompressed file larger than the limit is refused without being read', async ({ expect }) => {
    const f = join(tmp, 'sparse.ko');
    const fd = openSync(f, 'w');
    ftruncateSync(fd, 2 * GiB);
    closeSync(fd);
    const r = await modbtf(['inspect', f]);
    expect(r.err).toBe(`modbtf: ${f}: file size (${2 * GiB} bytes) exceeds the 1 GiB limit (--max-input-size)\n`);
    expect(r.code).toBe(1);
    if (haveProc) expect(r.peakRss).toBeLessThan(SLACK);
    rmSync(f);
  });

  it('--max-input-size is checked before anything is read', async ({ expect }) => {
    for (const [v, why] of [['12Q', "'12Q' is not a size (bytes, or with K, M, G: 64M, 2G)"], ['0', "'0' is not a size above zero"], ['5G', "'5G' is more than 4G, the largest buffer Node holds"]]) {
      const err: string[] = [];
      const code = await run(['inspect', '--max-input-size', v!, mod('crc7')], { out: () => undefined, err: (l) => err.push(l) });
      expect(err).toEqual([`modbtf: inspect: --max-input-size: ${why}`]);
      expect(code).toBe(2);
    }
    const ok = await modbtf(['--max-input-size', '300K', 'inspect', mod('crc7'), '--max-input-size', '4096']);
    expect(ok.err).toBe('modbtf: inspect: --max-input-size given more than once\n');
    expect(ok.code).toBe(2);
    const before = await modbtf(['--max-input-size', '300K', 'inspect', mod('crc7')]);
    expect(before.err).toBe('');
    expect(before.code).toBe(0);
    const small = await modbtf(['inspect', '--max-input-size', '4096', mod('crc7')]);
    expect(small.err).toBe(`modbtf: ${mod('crc7')}: decompressed size exceeds the 4 KiB limit (--max-input-size)\n`);
    expect(small.code).toBe(1);
  });
});

describe('decoders in the library: windows count against the limit, failures in modbtf\'s words', () => {
  const bytes = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
  const failure = async (data: Uint8Array, kind: Compression, maxInputSize?: number): Promise<string> => {
    try {
      await decompress(data, kind, 'm.ko', { maxInputSize, moduleOnly: true });
    } catch (e) {
      expect(e).toBeInstanceOf(ModbtfError);
      return `${(e as ModbtfError).code}: ${(e as ModbtfError).describe()}`;
    }
    return 'no error';
  };

  it('a zstd window larger than the limit is refused before decoding; a large one is counted against it', async () => {
    const wide = bytes(zstdBomb(elfHeader(4096), 40 * MiB, { windowLog: 26 }));
    expect(await failure(wide, 'zstd', 48 * MiB)).toBe('E_TOO_LARGE: m.ko: zstd window (67108864 bytes) exceeds the 48 MiB limit (--max-input-size)');
    expect(await failure(wide, 'zstd', 72 * MiB)).toBe('E_TOO_LARGE: m.ko: decompressed size (with the decoder\'s 64 MiB window) exceeds the 72 MiB limit (--max-input-size)');
    // A small window is not counted: 40 MiB of output under a 40 MiB limit.
    const out = await decompress(bytes(zstdBomb(elfHeader(4096), 40 * MiB)), 'zstd', 'm.ko', { maxInputSize: 40 * MiB });
    expect(out.length).toBe(40 * MiB);
  });

  it('corrupt and truncated data, in words', async () => {
    const good = bytes(zstdBomb(elfHeader(4096), 1 * MiB));
    expect(await failure(good.subarray(0, good.length - 3), 'zstd')).toBe('E_DECOMPRESS: m.ko: truncated zstd data');
    const bad = good.slice();
    bad[6 + 3 + 64] = 0xff; // the first RLE block header: a reserved block type
    bad[6 + 3 + 64 + 1] = 0xff;
    expect(await failure(bad, 'zstd')).toMatch(/^E_DECOMPRESS: m\.ko: (corrupt|truncated) zstd data$/);
    expect(await failure(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x08, 0), 'zstd')).toMatch(/^E_DECOMPRESS: m\.ko: (corrupt|truncated) zstd data$/);
    const gz = new Uint8Array(gzipSync(Buffer.concat([elfHeader(4096), Buffer.alloc(100000)])));
    expect(await failure(gz.subarray(0, 40), 'gzip')).toBe('E_DECOMPRESS: m.ko: truncated gzip data');
    const gzBad = gz.slice();
    gzBad[10] = 0xff; // the first deflate block header: a reserved block type
    expect(await failure(gzBad, 'gzip')).toBe('E_DECOMPRESS: m.ko: corrupt gzip data');
    if (haveXz) {
      const xz = new Uint8Array(spawnSync('xz', ['-c', '--check=crc32'], { input: Buffer.concat([elfHeader(4096), Buffer.alloc(100000)]) }).stdout);
      expect(await failure(xz.subarray(0, xz.length - 30), 'xz')).toBe('E_DECOMPRESS: m.ko: truncated xz data');
      const xzBad = xz.slice();
      xzBad[xz.length - 20] ^= 0xff; // inside the index
      expect(await failure(xzBad, 'xz')).toMatch(/^E_DECOMPRESS: m\.ko: corrupt xz data/);
    }
  });
});

describe('inputs that are not files', () => {
  it('/dev/zero is refused at once', async () => {
    const r = await modbtf(['inspect', '/dev/zero'], { timeout: 20_000 });
    expect(r.err).toBe('modbtf: /dev/zero: cannot read: a character device, not a regular file\n');
    expect(r.code).toBe(1);
  });

  const haveMkfifo = spawnSync('mkfifo', ['--version']).status === 0;
  it.skipIf(!haveMkfifo)('a FIFO without a writer reads as empty (no hang); one fed a module is read; an endless one stops at the limit', async () => {
    const fifo = join(tmp, 'fifo');
    spawnSync('mkfifo', [fifo]);
    const r = await modbtf(['inspect', fifo], { timeout: 20_000 });
    expect(r.err).toBe(`modbtf: ${fifo}: not an ELF file, raw BTF, or compressed module\n`);
    expect(r.code).toBe(1);

    const feed = (src: string): ChildProcess => spawn('sh', ['-c', `exec cat ${src} > ${fifo}`], { stdio: 'ignore' });
    const w = feed(mod('crc7'));
    const ok = await modbtf(['inspect', '--json', fifo], { timeout: 20_000 });
    w.kill();
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ file: fifo, ok: true });

    const z = feed('/dev/zero');
    const big = await modbtf(['inspect', '--max-input-size', '8M', fifo], { timeout: 20_000 });
    z.kill();
    expect(big.err).toBe(`modbtf: ${fifo}: input size exceeds the 8 MiB limit (--max-input-size)\n`);
    expect(big.code).toBe(1);
  });
});

describe('stdout that cannot be written', () => {
  const haveFull = existsSync('/dev/full');
  it.skipIf(!haveFull)('/dev/full: one clear error, exit 1', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const x = await modbtf(['extract', mod('crc7'), '-o', '-'], { stdout: full });
      expect(x.err).toBe('modbtf: -: cannot write to stdout: no space left on device\n');
      expect(x.code).toBe(1);
      const d = await modbtf(['dump', VMLINUX], { stdout: full });
      expect(d.err).toBe('modbtf: cannot write to stdout: no space left on device\n');
      expect(d.code).toBe(1);
    } finally {
      closeSync(full);
    }
  });
});

describe('writes under attack', () => {
  let distilled: Buffer;
  const original = readFileSync(mod('tcp_bbr'));
  beforeAll(async () => {
    const f = join(tmp, 'expected.ko.xz');
    copyFileSync(mod('tcp_bbr'), f);
    const r = await modbtf(['distill', '-B', VMLINUX, f]);
    expect(r.code).toBe(0);
    distilled = readFileSync(f);
    expect(distilled.equals(original)).toBe(false);
  });
  const temps = (d: string): string[] => readdirSync(d).filter((n) => n.endsWith('.tmp'));

  it('kill -9 at random points: the target is always the old or the new module; stale temp files go on the next write', async () => {
    const d = mkdtempSync(join(tmp, 'kill-'));
    const f = join(d, 'tcp_bbr.ko.xz');
    let seed = 12345;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let leftovers = 0;
    for (let i = 0; i < 6; i++) {
      copyFileSync(mod('tcp_bbr'), f);
      const child = spawn(process.execPath, [BIN, 'distill', '-B', VMLINUX, f], { stdio: 'ignore' });
      const done = new Promise<void>((res) => child.on('close', () => res()));
      if (i % 2 === 1) {
        // The moment the temp file appears: mid-write for sure.
        for (let t = 0; t < 2000 && temps(d).length === 0 && child.exitCode === null; t++) await new Promise((r) => setTimeout(r, 2));
      } else {
        await new Promise((r) => setTimeout(r, 100 + rand() * 1500));
      }
      child.kill('SIGKILL');
      await done;
      const now = readFileSync(f);
      expect(now.equals(original) || now.equals(distilled), `iteration ${i}: target is neither old nor new`).toBe(true);
      // A later run removes what an earlier killed one left: count the runs that left one.
      if (temps(d).length) leftovers++;
    }
    expect(leftovers).toBeGreaterThan(0);
    // A temp file of a live process (this one) is never touched.
    const live = join(d, `.tcp_bbr.ko.xz.modbtf-${process.pid}-0badf00d.tmp`);
    writeFileSync(live, 'in progress');
    copyFileSync(mod('tcp_bbr'), f);
    const r = await modbtf(['distill', '-B', VMLINUX, f]);
    expect(r.code).toBe(0);
    expect(readFileSync(f).equals(distilled)).toBe(true);
    expect(temps(d)).toEqual([`.tcp_bbr.ko.xz.modbtf-${process.pid}-0badf00d.tmp`]);
    expect(readFileSync(live, 'utf8')).toBe('in progress');
  }, 60_000);

  it('a stale temp file of a dead process is removed by the next write, a live one kept', async () => {
    const d = mkdtempSync(join(tmp, 'stale-'));
    const f = join(d, 'tcp_bbr.ko.xz');
    copyFileSync(mod('tcp_bbr'), f);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const stale = `.tcp_bbr.ko.xz.modbtf-${dead}-12345678.tmp`;
    const live = `.tcp_bbr.ko.xz.modbtf-${process.pid}-87654321.tmp`;
    const other = `.crc7.ko.xz.modbtf-${dead}-12345678.tmp`;
    for (const n of [stale, live, other]) writeFileSync(join(d, n), 'x');
    const r = await modbtf(['distill', '-B', VMLINUX, f]);
    expect(r.code).toBe(0);
    expect(readdirSync(d).sort()).toEqual([other, live, 'tcp_bbr.ko.xz'].sort());
  });

  it('two writers on one file at once: the result is the distilled module, no temp file left', async () => {
    const d = mkdtempSync(join(tmp, 'race-'));
    const f = join(d, 'tcp_bbr.ko.xz');
    copyFileSync(mod('tcp_bbr'), f);
    const [a, b] = await Promise.all([modbtf(['distill', '-B', VMLINUX, f]), modbtf(['distill', '-B', VMLINUX, f])]);
    // The one that read the module after the other renamed it finds it distilled already.
    for (const r of [a, b]) {
      if (r.code !== 0) expect(r.err).toMatch(/already distilled/);
    }
    expect([a.code, b.code]).toContain(0);
    expect(readFileSync(f).equals(distilled)).toBe(true);
    expect(temps(d)).toEqual([]);
  });

  const root = process.getuid?.() === 0;
  it('a read-only directory: cannot write, input untouched, no temp file', async () => {
    const d = mkdtempSync(join(tmp, 'ro-'));
    const f = join(d, 'tcp_bbr.ko.xz');
    copyFileSync(mod('tcp_bbr'), f);
    chmodSync(f, 0o644);
    // root writes anywhere: run as nobody then.
    let uid: number | undefined;
    if (root) {
      uid = 65534;
      chownSync(d, uid, uid);
      chmodSync(tmp, 0o755);
    }
    chmodSync(d, 0o555);
    const r = await modbtf(['distill', '-B', VMLINUX, f], { uid });
    expect(r.err).toBe(`modbtf: ${f}: cannot write: permission denied\n`);
    expect(r.code).toBe(1);
    expect(readFileSync(f).equals(original)).toBe(true);
    expect(readdirSync(d)).toEqual(['tcp_bbr.ko.xz']);
    chmodSync(d, 0o755);
  });

  it('a symlinked target: the link is replaced by the new module, the file it pointed to is untouched', async () => {
    const d = mkdtempSync(join(tmp, 'symlink-'));
    const real = join(d, 'real.ko.xz');
    const link = join(d, 'tcp_bbr.ko.xz');
    copyFileSync(mod('tcp_bbr'), real);
    symlinkSync(real, link);
    const r = await modbtf(['distill', '-B', VMLINUX, link]);
    expect(r.code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(false);
    expect(readFileSync(link).equals(distilled)).toBe(true);
    expect(readFileSync(real).equals(original)).toBe(true);
  });

  it('a hard-linked target: the name given gets a new file; the other link keeps the old module', async () => {
    const d = mkdtempSync(join(tmp, 'hardlink-'));
    const a = join(d, 'tcp_bbr.ko.xz');
    const b = join(d, 'other.ko.xz');
    copyFileSync(mod('tcp_bbr'), a);
    linkSync(a, b);
    const r = await modbtf(['distill', '-B', VMLINUX, a]);
    expect(r.code).toBe(0);
    expect(readFileSync(a).equals(distilled)).toBe(true);
    expect(readFileSync(b).equals(original)).toBe(true);
    expect(statSync(a).ino).not.toBe(statSync(b).ino);
    expect(statSync(b).nlink).toBe(1);
  });

  it('a directory given as -o target is refused, nothing written', async () => {
    const d = mkdtempSync(join(tmp, 'dir-'));
    mkdirSync(join(d, 'x.ko.xz'));
    const r = await modbtf(['distill', '-B', VMLINUX, '-o', join(d, 'x.ko.xz'), mod('tcp_bbr')]);
    expect(r.err).toBe(`modbtf: ${join(d, 'x.ko.xz')}: cannot write: is a directory\n`);
    expect(r.code).toBe(1);
    expect(sha(mod('tcp_bbr'))).toBe(createHash('sha256').update(original).digest('hex'));
  });
});
