/**
 * `modbtf min-core -r`: a BTFHub-style tree minimized kernel by kernel, written as the same tree
 * and as bcc's min_core_btfs.tar.gz layout, reproducibly. The tree's kernels are min-core BTFs of
 * the samples (test/fixtures/core/mincore/<kernel>/all.btf, made by bpftool): minimizing one again
 * for the same objects gives it back unchanged (checked against bpftool where it is installed).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findKernelBtfs, readKernelBtf } from '../src/archive/btfhub.js';
import { modbtf } from './cli-run.js';
import { fixture, repoRoot } from './helpers.js';


const tmp = mkdtempSync(join(tmpdir(), 'modbtf-mincore-archive-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const TREE = join(tmp, 'btfhub-archive');
const OBJECTS = ['enums', 'fields', 'missing', 'tcp_bbr', 'types', 'xfs'].map((o) => join(repoRoot, 'samples/bpf', `${o}.bpf.o`));
const min = (k: string): string => fixture('core/mincore', k, 'all.btf');
/** rel path in the output tree -> the kernel BTF it was made from (= what it must equal) */
const KERNELS: Record<string, string> = {
  'centos/8/x86_64/6.1.0-1.el8.x86_64.btf': min('deb61'),
  'fedora/39/x86_64/6.18.0-1.fc39.x86_64.btf': min('host618'),
  'ubuntu/22.04/x86_64/6.12.0-1-generic.btf': min('k612cloud'),
};

beforeAll(() => {
  for (const [rel, src] of Object.entries(KERNELS)) {
    const dest = join(TREE, rel);
    mkdirSync(dirname(dest), { recursive: true });
    // fedora as btfhub-archive ships it: the .btf in a .btf.tar.xz
    if (rel.startsWith('fedora/')) copyFileSync(fixture('btfhub/6.18.0-1.fc39.x86_64.btf.tar.xz'), `${dest}.tar.xz`);
    else copyFileSync(src, dest);
  }
  writeFileSync(join(TREE, 'README.md'), 'not a kernel\n');
});

/** The members of a .tar.gz: every header field bcc's reader and reproducibility care about. */
function tarMembers(tgz: Uint8Array): { name: string; type: string; mode: number; uid: number; gid: number; mtime: number; uname: string; gname: string; data: Buffer }[] {
  const tar = gunzipSync(tgz);
  const out = [];
  const str = (o: number, n: number) => tar.subarray(o, o + n).toString('latin1').replace(/\0.*$/s, '');
  const oct = (o: number, n: number) => parseInt(str(o, n).trim() || '0', 8);
  for (let p = 0; p + 512 <= tar.length && tar[p] !== 0; ) {
    const size = oct(p + 124, 12);
    out.push({
      name: str(p, 100), mode: oct(p + 100, 8), uid: oct(p + 108, 8), gid: oct(p + 116, 8), mtime: oct(p + 136, 12),
      type: String.fromCharCode(tar[p + 156]!), uname: str(p + 265, 32), gname: str(p + 297, 32),
      data: tar.subarray(p + 512, p + 512 + size),
    });
    p += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('min-core -r: BTFHub trees', () => {
  it('finds the kernels of a tree, .btf and .btf.tar.xz, sorted', async () => {
    const found = findKernelBtfs(TREE);
    expect(found.map((e) => e.rel)).toEqual(Object.keys(KERNELS).sort());
    expect(found[1]!.path).toBe(join(TREE, 'fedora/39/x86_64/6.18.0-1.fc39.x86_64.btf.tar.xz'));
    expect(Buffer.from(await readKernelBtf(found[1]!.path)).equals(readFileSync(min('host618')))).toBe(true);
  });

  it('writes the minimized tree and a bcc-style tar, and says so', async () => {
    const out = join(tmp, 'out');
    const tgz = join(tmp, 'min_core_btfs.tar.gz');
    const r = await modbtf('min-core', '-r', '--kernel', TREE, '--out-dir', out, '--tar', tgz, '-j', '1', ...OBJECTS);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([`${out} and ${tgz} (${(readFileSync(tgz).length / 1000).toFixed(2)} kB): 3 of 3 kernels minimized (13.6 kB) for 6 BPF objects`]);
    for (const [rel, src] of Object.entries(KERNELS)) {
      expect(Buffer.from(readFileSync(join(out, rel))).equals(readFileSync(src)), rel).toBe(true);
    }
    const members = tarMembers(readFileSync(tgz));
    expect(members.map((m) => m.name)).toEqual([
      './', './centos/', './centos/8/', './centos/8/x86_64/', './centos/8/x86_64/6.1.0-1.el8.x86_64.btf',
      './fedora/', './fedora/39/', './fedora/39/x86_64/', './fedora/39/x86_64/6.18.0-1.fc39.x86_64.btf',
      './ubuntu/', './ubuntu/22.04/', './ubuntu/22.04/x86_64/', './ubuntu/22.04/x86_64/6.12.0-1-generic.btf',
    ]);
    for (const m of members) {
      expect({ uid: m.uid, gid: m.gid, mtime: m.mtime, uname: m.uname, gname: m.gname }).toEqual({ uid: 0, gid: 0, mtime: 0, uname: '', gname: '' });
      expect(m.mode).toBe(m.type === '5' ? 0o755 : 0o644);
      if (m.type === '0') expect(m.data.equals(readFileSync(join(out, m.name.slice(2)))), m.name).toBe(true);
    }
    // gzip header: no name, mtime 0
    const gz = readFileSync(tgz);
    expect([...gz.subarray(0, 8)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
  });

  it('the tar is what libbpf-tools\' ensure_core_btf() reads: ./ID/VERSION_ID/ARCH/RELEASE.btf by header name', () => {
    const tgz = readFileSync(join(tmp, 'min_core_btfs.tar.gz'));
    // btf_helpers.c walks 512-byte headers comparing the 100-byte name field
    const tar = gunzipSync(tgz);
    const want = './ubuntu/22.04/x86_64/6.12.0-1-generic.btf';
    let found: Buffer | undefined;
    for (let p = 0; tar[p] !== 0; ) {
      const size = parseInt(tar.subarray(p + 124, p + 136).toString('latin1'), 8);
      if (tar.subarray(p, p + 100).toString('latin1').replace(/\0.*$/s, '') === want) found = tar.subarray(p + 512, p + 512 + size);
      p += 512 * (1 + Math.ceil(size / 512));
    }
    expect(found && found.equals(readFileSync(min('k612cloud')))).toBe(true);
  });

  it('two runs, with and without worker threads, give identical bytes', async () => {
    const a = join(tmp, 'a.tar.gz');
    const b = join(tmp, 'b.tar.gz');
    expect((await modbtf('min-core', '-r', '-k', TREE, '--tar', a, '-j', '1', ...OBJECTS)).code).toBe(0);
    const bin = join(repoRoot, 'bin/modbtf');
    if (existsSync(join(repoRoot, 'dist/archive/worker.js'))) {
      const r = spawnSync(process.execPath, [bin, 'min-core', '-r', '-k', TREE, '--tar', b, '-j', '3', ...OBJECTS], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe(''); // not a TTY: no progress bar
    } else {
      expect((await modbtf('min-core', '-r', '-k', TREE, '--tar', b, ...OBJECTS)).code).toBe(0);
    }
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(readFileSync(a).equals(readFileSync(join(tmp, 'min_core_btfs.tar.gz')))).toBe(true);
  });

  it.skipIf(spawnSync('bpftool', ['version'], { stdio: 'ignore' }).status !== 0)('each kernel equals bpftool gen min_core_btf of it', () => {
    for (const [rel, src] of Object.entries(KERNELS)) {
      const o = join(tmp, 'bpftool.btf');
      const r = spawnSync('bpftool', ['gen', 'min_core_btf', src, o, ...OBJECTS], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(o).equals(readFileSync(join(tmp, 'out', rel))), rel).toBe(true);
    }
  });

  it('a kernel that cannot be read fails alone: named, the others written, exit 1; --json per kernel', async () => {
    const tree = join(tmp, 'tree-bad');
    const good = join(tree, 'ubuntu/22.04/x86_64/6.12.0-1-generic.btf');
    mkdirSync(dirname(good), { recursive: true });
    copyFileSync(min('k612cloud'), good);
    const bad = join(tree, 'ubuntu/22.04/arm64/6.12.0-1-generic.btf');
    mkdirSync(dirname(bad), { recursive: true });
    writeFileSync(bad, Buffer.from('not BTF at all, really'));
    const out = join(tmp, 'out-bad');
    const r = await modbtf('min-core', '-r', '-k', tree, '--out-dir', out, ...OBJECTS);
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(new RegExp(`^modbtf: min-core: ${bad.replace(/[.]/g, '\\.')}: `));
    expect(r.out).toEqual([`${out}: 1 of 2 kernels minimized (4.35 kB) for 6 BPF objects, 1 failed`]);
    expect(readdirSync(join(out, 'ubuntu/22.04'))).toEqual(['x86_64']);

    const j = await modbtf('min-core', '-r', '-k', tree, '--out-dir', out, '--json', ...OBJECTS);
    expect(j.code).toBe(1);
    const lines = j.out.map((l) => JSON.parse(l) as { file: string; ok: boolean; kernel?: string; size?: number; error?: { code: string } });
    expect(lines.map((l) => [l.file, l.ok])).toEqual([[bad, false], [good, true]]);
    expect(lines[0]!.error!.code).toMatch(/^E_BTF/);
    expect(lines[1]).toMatchObject({ kernel: 'ubuntu/22.04/x86_64/6.12.0-1-generic.btf', output: join(out, 'ubuntu/22.04/x86_64/6.12.0-1-generic.btf'), size: 4354 });
  });

  it('a write that fails mid-run stops every worker: one line, exit 1, no hang', async () => {
    const out = join(tmp, 'out-blocked');
    mkdirSync(out);
    writeFileSync(join(out, 'fedora'), 'a file where a directory must go');
    const argv = ['min-core', '-r', '-k', TREE, '--out-dir', out, '-j', '3', ...OBJECTS];
    const msg = `modbtf: ${join(out, 'fedora/39/x86_64')}: cannot create directory: a parent is not a directory`;
    if (existsSync(join(repoRoot, 'dist/archive/worker.js'))) {
      const r = spawnSync(process.execPath, [join(repoRoot, 'bin/modbtf'), ...argv], { encoding: 'utf8', timeout: 60_000 });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 1, stderr: `${msg}\n` });
    } else {
      expect(await modbtf(...argv)).toMatchObject({ code: 1, err: [msg] });
    }
  });

  it('usage errors: one line, exit 2, nothing written', async () => {
    const cases: [string[], string][] = [
      [['-r', '-k', TREE], 'modbtf: min-core: -r needs --out-dir DIR and/or --tar FILE'],
      [['-k', TREE, '--tar', join(tmp, 'x.tar.gz')], 'modbtf: min-core: --tar goes with -r'],
      [['-r', '-k', TREE, '--tar', join(tmp, 'x.tar.gz'), '-o', join(tmp, 'x.btf')], 'modbtf: min-core: -o does not go with -r (the tree\'s kernels are written under --out-dir and/or to --tar)'],
      [['-r', '-k', TREE, '--out-dir', join(tmp, 'x'), '--split'], 'modbtf: min-core: --split does not go with -r'],
      [['-r', '-k', min('k612cloud'), '--out-dir', join(tmp, 'x')], `modbtf: ${min('k612cloud')}: is not a directory (with -r, --kernel is a tree of <distro>/<version>/<arch>/<release>.btf[.tar.xz])`],
    ];
    for (const [args, msg] of cases) {
      const r = await modbtf('min-core', ...args, OBJECTS[0]!);
      expect({ code: r.code, err: r.err, out: r.out }, args.join(' ')).toEqual({ code: 2, err: [msg], out: [] });
    }
    expect(existsSync(join(tmp, 'x.tar.gz')) || existsSync(join(tmp, 'x'))).toBe(false);
  });

  it('--tar warns about paths libbpf-tools cannot look up (100 bytes or more)', async () => {
    const tree = join(tmp, 'tree-long');
    const rel = `ubuntu/22.04/x86_64/${'6.12.0-1-'.padEnd(90, 'x')}.btf`;
    mkdirSync(dirname(join(tree, rel)), { recursive: true });
    copyFileSync(min('k612cloud'), join(tree, rel));
    const tgz = join(tmp, 'long.tar.gz');
    const r = await modbtf('min-core', '-r', '-k', tree, '--tar', tgz, ...OBJECTS);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([`modbtf: min-core: ${join(tree, rel)}: warning: ./${rel} is longer than 99 bytes: libbpf-tools' ensure_core_btf() cannot find it in the tar`]);
    expect(tarMembers(readFileSync(tgz)).some((m) => m.type === '0' && m.data.equals(readFileSync(min('k612cloud'))))).toBe(true);
  });

  it('a tree without kernels is an error naming it', async () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    const r = await modbtf('min-core', '-r', '-k', empty, '--tar', join(tmp, 'e.tar.gz'), OBJECTS[0]!);
    expect(r).toEqual({ code: 1, out: [], err: [`modbtf: ${empty}: no kernel BTF (*.btf, *.btf.tar.xz) under this directory`] });
  });
});
