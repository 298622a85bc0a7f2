/** Never a half-written module: failed writes leave the input byte-identical and no temp file. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { setBeforeRenameHook } from '../src/module/index.js';
import { fixture, repoRoot } from './helpers.js';
import { workerExecArgv } from '../src/workers.js';

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-atomic-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const VMLINUX = fixture('k612/vmlinux.btf.xz');
const mod = (m: string): string => fixture('k612/modules', `${m}.ko.xz`);

async function modbtf(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

afterEach(() => setBeforeRenameHook(null));

describe('atomic writes', () => {
  it('an I/O error before the rename leaves the module untouched and no temp file', async () => {
    const d = mkdtempSync(join(tmp, 'inject-'));
    const f = join(d, 'tcp_bbr.ko.xz');
    copyFileSync(mod('tcp_bbr'), f);
    setBeforeRenameHook(() => {
      throw Object.assign(new Error('injected'), { code: 'ENOSPC' });
    });
    const r = await modbtf('distill', '-B', VMLINUX, f);
    expect(r.code).toBe(1);
    expect(r.err.at(-1)).toBe(`modbtf: ${f}: cannot write: no space left on device`);
    expect(readFileSync(f).equals(readFileSync(mod('tcp_bbr')))).toBe(true);
    expect(readdirSync(d)).toEqual(['tcp_bbr.ko.xz']);
  });

  it('-o into a missing directory fails cleanly', async () => {
    const r = await modbtf('reconcile', '-k', VMLINUX, '-o', join(tmp, 'no/such/dir/x.ko'), mod('crc7'));
    // crc7 is not distilled: nothing to write, so nothing fails
    expect(r.code).toBe(0);
    const d = await modbtf('distill', '-B', VMLINUX, '-o', join(tmp, 'no/such/dir/x.ko'), mod('crc7'));
    expect(d.code).toBe(1);
    expect(d.err.at(-1)).toBe(`modbtf: ${join(tmp, 'no/such/dir/x.ko')}: cannot write: directory does not exist`);
  });

  const canMount = process.getuid?.() === 0 && spawnSync('sh', ['-c', `mkdir -p ${tmp}/probe && mount -t tmpfs -o size=64k tmpfs ${tmp}/probe && umount ${tmp}/probe`]).status === 0;
  if (!canMount) console.log('note: cannot mount a tmpfs here: the disk-full test is skipped');
  it.skipIf(!canMount)('a full disk (64 KiB tmpfs) leaves the module untouched', async () => {
    const d = join(tmp, 'full');
    mkdirSync(d);
    spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', d]);
    try {
      const f = join(d, 'af_key.ko.xz');
      copyFileSync(mod('af_key'), f);
      writeFileSync(join(d, 'filler'), Buffer.alloc(64 * 1024 - readFileSync(f).length - 8192));
      const r = await modbtf('distill', '-B', VMLINUX, f);
      expect(r.code).toBe(1);
      expect(r.err.at(-1)).toBe(`modbtf: ${f}: cannot write: no space left on device`);
      expect(readFileSync(f).equals(readFileSync(mod('af_key')))).toBe(true);
      expect(readdirSync(d).sort()).toEqual(['af_key.ko.xz', 'filler']);
    } finally {
      spawnSync('umount', [d]);
    }
  });
});

describe('batch isolation', () => {
  it('one corrupt module among good ones: the good ones are rewritten, the bad one reported, exit 1', async () => {
    const d = mkdtempSync(join(tmp, 'batch-'));
    const good = ['crc7', 'tcp_bbr', 'af_key'].map((m) => {
      const f = join(d, `${m}.ko.xz`);
      copyFileSync(mod(m), f);
      return f;
    });
    const bad = join(d, 'broken.ko.xz');
    writeFileSync(bad, readFileSync(mod('af_key')).subarray(0, 3000));
    const r = await modbtf('distill', '-B', VMLINUX, good[0]!, bad, good[1]!, good[2]!);
    expect(r.code).toBe(1);
    expect(r.out.length).toBe(3);
    expect(r.err.filter((l) => l.includes('broken'))).toEqual([`modbtf: ${bad}: truncated xz data`]);
    for (const f of good) {
      const i = await modbtf('inspect', '--json', f);
      expect(JSON.parse(i.out[0]!).state).toBe('distilled');
    }
  });
});

describe('batch runs through bin/modbtf (worker threads)', () => {
  it('a worker gets the Node options it accepts: not the main script\'s, not the process-wide ones', () => {
    expect(workerExecArgv(['--max-semi-space-size=1', '--input-type=module', '--eval', 'x', '--enable-source-maps',
      '--max-old-space-size', '64', '--expose-gc', '--import=tsx', '--stack-size=900', '--no-turbo-inlining', '--turbo-filter=*', '--no-warnings']))
      .toEqual(['--enable-source-maps', '--import=tsx', '--no-warnings']);
  });

  it('-r over a directory, -j 2: output in input order, failures summarised, exit 1', () => {
    const d = mkdtempSync(join(tmp, 'tree-'));
    mkdirSync(join(d, 'net'));
    copyFileSync(mod('tcp_bbr'), join(d, 'net', 'tcp_bbr.ko.xz'));
    copyFileSync(mod('af_key'), join(d, 'af_key.ko.xz'));
    copyFileSync(mod('crc7'), join(d, 'crc7.ko.xz'));
    writeFileSync(join(d, 'broken.ko'), 'not a module');
    writeFileSync(join(d, 'README'), 'ignored');
    const out = mkdtempSync(join(tmp, 'out-'));
    const bin = join(repoRoot, 'bin', 'modbtf');
    // Run as installed: through the launcher's #! line and the Node options it sets.
    const r = spawnSync(bin, ['distill', '-r', '-j', '2', '--json', '-B', VMLINUX, '--out-dir', out, d], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    const objs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; ok: boolean });
    expect(objs.map((o) => [o.file, o.ok])).toEqual([
      [join(d, 'af_key.ko.xz'), true], [join(d, 'broken.ko'), false], [join(d, 'crc7.ko.xz'), true], [join(d, 'net', 'tcp_bbr.ko.xz'), true],
    ]);
    expect(r.stderr.trim().split('\n')).toEqual([
      `modbtf: ${join(d, 'broken.ko')}: not an ELF file, raw BTF, or compressed module`,
      'modbtf: 3 module signatures dropped (rewriting invalidates them; re-sign with --sign-key/--sign-cert)',
      'modbtf: 1 of 4 modules failed',
    ]);
    expect(readdirSync(out).sort()).toEqual(['af_key.ko.xz', 'crc7.ko.xz', 'tcp_bbr.ko.xz']);
  });

  it('--out-dir refuses two inputs with the same name', async () => {
    const d = mkdtempSync(join(tmp, 'dup-'));
    mkdirSync(join(d, 'a'));
    mkdirSync(join(d, 'b'));
    copyFileSync(mod('crc7'), join(d, 'a', 'crc7.ko.xz'));
    copyFileSync(mod('crc7'), join(d, 'b', 'crc7.ko.xz'));
    const r = await modbtf('distill', '-r', '-B', VMLINUX, '--out-dir', tmp, d);
    expect(r).toEqual({ code: 2, out: [], err: [`modbtf: --out-dir: ${join(d, 'a', 'crc7.ko.xz')} and ${join(d, 'b', 'crc7.ko.xz')} would both be written as crc7.ko.xz`] });
  });

  it('a directory without -r is a usage error', async () => {
    const r = await modbtf('distill', '-B', VMLINUX, tmp);
    expect(r.code).toBe(2);
    expect(r.err).toEqual([`modbtf: ${tmp}: is a directory (use -r to process the modules under it)`]);
  });
});
