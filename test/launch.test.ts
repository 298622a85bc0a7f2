/** bin/modbtf's start-up: the bundle compiled with the code cache the build made for it (src/cli/launch.cts). */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';

const bundle = join(repoRoot, 'dist/modbtf.cjs');
const launch = join(repoRoot, 'dist/cli/launch.cjs');
const tmp = mkdtempSync(join(tmpdir(), 'modbtf-launch-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The V8 flags of bin/modbtf's #! line (the cache is made with them, and V8 checks them). */
const shebangFlags = (): string[] => {
  const line = readFileSync(join(repoRoot, 'bin/modbtf'), 'utf8').split('\n')[0]!;
  return line.slice(line.indexOf(' node ') + 6).split(' ').filter((f) => f.startsWith('--'));
};

/** Load `file` through launch.cjs in a fresh Node with `flags`: whether the cache was used, and `modbtf --version`. */
function load(file: string, flags: string[]): { cacheUsed: boolean; version: string } {
  const code = `const l = require(${JSON.stringify(launch)}).loadBundle(${JSON.stringify(file)});
const lines = []; l.exports.run(['--version'], { out: (s) => lines.push(s), err: (s) => lines.push(s) })
  .then(() => console.log(JSON.stringify({ cacheUsed: l.cacheUsed, version: lines.join('\\n') })));`;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(process.execPath, [...flags, '-e', code], { encoding: 'utf8', env });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { cacheUsed: boolean; version: string };
}

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

describe('the CLI bundle and its code cache', () => {
  it('the bundle names its build on its first line, and the cache beside it starts with that id', () => {
    const first = readFileSync(bundle, 'utf8').split('\n')[0]!;
    expect(first).toMatch(/^\/\/modbtf-build:[0-9a-f]{16}$/);
    const cache = readFileSync(`${bundle}.cache`);
    expect(cache.toString('latin1', 0, 16)).toBe(first.slice('//modbtf-build:'.length));
    expect(cache.length).toBeGreaterThan(100_000); // bytecode of the commands the build ran, not just the top level
  });

  it('with the #! line\'s V8 flags, V8 takes the cache; with others it compiles from source, and both run', () => {
    expect(load(bundle, shebangFlags())).toEqual({ cacheUsed: true, version });
    expect(load(bundle, [])).toEqual({ cacheUsed: false, version });
  });

  it('a cache made for another build is not used', () => {
    const other = join(tmp, 'modbtf.cjs');
    const text = readFileSync(bundle, 'utf8');
    // the same length, another build id: V8 alone would take the cache (it checks the length)
    writeFileSync(other, text.replace(/^\/\/modbtf-build:[0-9a-f]{16}/, '//modbtf-build:0123456789abcdef'));
    copyFileSync(`${bundle}.cache`, `${other}.cache`);
    expect(load(other, shebangFlags())).toEqual({ cacheUsed: false, version });
    rmSync(`${other}.cache`);
    expect(load(other, shebangFlags())).toEqual({ cacheUsed: false, version });
  });

  it('the bundle makes no import() (a compiled script could only through an experimental hook)', () => {
    expect(readFileSync(bundle, 'utf8')).not.toMatch(/\bimport\(/);
  });

  it('bin/modbtf runs a command that loads a module on demand (xz) quietly', () => {
    const r = spawnSync(join(repoRoot, 'bin/modbtf'), ['inspect', join(repoRoot, 'test/fixtures/k612/modules/crc7.ko.xz')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('crc7.ko.xz');
  });
});

describe('standard output and error, written without Node\'s streams', () => {
  const bin = join(repoRoot, 'bin/modbtf');
  const mods = ['crc7', 'tcp_bbr'].map((m) => join(repoRoot, 'test/fixtures/k612/modules', `${m}.ko.xz`));
  const vmlinux = join(tmp, 'vmlinux.btf');
  writeFileSync(vmlinux, spawnSync('xz', ['-dc', join(repoRoot, 'test/fixtures/k612/vmlinux.btf.xz')], { maxBuffer: 1 << 26 }).stdout);

  it('a full stdout is an error said on stderr, exit 1', () => {
    const r = spawnSync('sh', ['-c', `'${bin}' --version > /dev/full`], { encoding: 'utf8' });
    expect([r.status, r.stdout, r.stderr]).toEqual([1, '', 'modbtf: cannot write to stdout: no space left on device\n']);
  });

  it.skipIf(!existsSync('/usr/bin/script'))('a batch draws its progress bar on a terminal, and only there', () => {
    const out = join(tmp, 'bar');
    const cmd = `'${bin}' distill -B '${vmlinux}' --out-dir '${tmp}' ${mods.map((m) => `'${m}'`).join(' ')}`;
    // a pseudo-terminal (script), stdout to a file
    const t = spawnSync('script', ['-qfec', `${cmd} > '${out}'`, '/dev/null'], { encoding: 'latin1' });
    expect(t.status).toBe(0);
    expect(t.stdout).toContain(`] 1/2 ${mods[0]!.slice(-40).padEnd(40)}`);
    expect(t.stdout).toContain(`] 2/2 ${mods[1]!.slice(-40).padEnd(40)}`);
    expect(t.stdout).toContain('modbtf: 2 module signatures dropped');
    expect(readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => l.slice(0, l.indexOf(':')))).toEqual(mods);
    // stderr a pipe: the same lines, no bar
    const p = spawnSync('sh', ['-c', `${cmd} > /dev/null`], { encoding: 'latin1' });
    expect([p.status, p.stderr]).toEqual([0, 'modbtf: 2 module signatures dropped (rewriting invalidates them; re-sign with --sign-key/--sign-cert)\n']);
  });
});
