/** What `npm pack` ships, and that `npm i -g` of the tarball gives working commands. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, repoRoot } from './helpers.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string; version: string; license: string; bin: Record<string, string>;
};
const tmp = mkdtempSync(join(tmpdir(), 'modbtf-pack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function npm(args: string[], cwd = repoRoot) {
  return spawnSync('npm', args, { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
}

describe('npm package', () => {
  it('npm pack ships the built CLI, library, DKMS helpers, sample, README and LICENSE, nothing else', () => {
    const r = npm(['pack', '--dry-run', '--json', '--ignore-scripts']);
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string; mode: number }[] }[])[0]!.files;
    const paths = files.map((f) => f.path);
    for (const p of [
      'package.json', 'README.md', 'LICENSE', 'bin/modbtf', 'bin/package.json', 'dist/modbtf.cjs', 'dist/modbtf.cjs.cache', 'dist/cli/launch.cjs', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/worker.js',
      'scripts/dkms/modbtf-dkms', 'scripts/dkms/modbtf-dkms-post-install',
      'samples/modbtf_sample/dkms.conf', 'samples/modbtf_sample/modbtf-dkms-post-install', 'samples/modbtf_sample/modbtf_sample.c',
      'samples/modbtf_sample/Makefile', 'samples/modbtf_sample/Kbuild',
    ]) expect(paths, p).toContain(p);
    const outside = paths.filter((p) => !/^(package\.json|README\.md|LICENSE|bin\/modbtf|bin\/package\.json|dist\/.+|scripts\/dkms\/modbtf-dkms(-post-install)?|samples\/modbtf_sample\/.+)$/.test(p));
    expect(outside).toEqual([]);
    // Every command is shipped, executable.
    for (const target of Object.values(pkg.bin)) {
      expect(files.find((f) => f.path === target)?.mode, target).toBe(0o755);
    }
    expect(Object.keys(pkg.bin).sort()).toEqual(['modbtf', 'modbtf-dkms', 'modbtf-dkms-post-install']);
  });

  it('LICENSE is the MIT license package.json names', () => {
    expect(pkg.license).toBe('MIT');
    const text = readFileSync(join(repoRoot, 'LICENSE'), 'utf8');
    expect(text.split('\n')[0]).toBe('MIT License');
    expect(text).toContain('Permission is hereby granted, free of charge');
  });

  it('npm i -g of the packed tarball: modbtf --version, modbtf-dkms and its hook work from anywhere', () => {
    const p = npm(['pack', '--ignore-scripts', '--pack-destination', tmp]);
    expect(p.status, p.stderr).toBe(0);
    const tarball = join(tmp, `${pkg.name}-${pkg.version}.tgz`);
    const prefix = join(tmp, 'prefix');
    const i = npm(['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], tmp);
    expect(i.status, i.stderr).toBe(0);
    const env = { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}` };
    const sh = (cmd: string, args: string[], extra: Record<string, string> = {}) =>
      spawnSync(cmd, args, { cwd: tmpdir(), env: { ...env, ...extra }, encoding: 'utf8' });
    expect(sh('which', ['modbtf']).stdout.trim()).toBe(join(prefix, 'bin/modbtf'));
    expect(sh('modbtf', ['--version'])).toMatchObject({ status: 0, stdout: `${pkg.version}\n`, stderr: '' });
    expect(sh('modbtf-dkms', ['--help']).stdout.split('\n')[0]).toBe('usage: modbtf-dkms build KVER MODULE.ko...');
    expect(sh('modbtf-dkms-post-install', ['--help']).stdout.split('\n')[0]).toBe('modbtf-dkms-post-install: a DKMS POST_INSTALL hook. Reconciles the modules DKMS just installed');
    // The installed helper finds the installed modbtf on PATH: distill (build) then reconcile (install).
    const k = join(tmp, 'vmlinux.btf');
    writeFileSync(k, spawnSync('xz', ['-dc', fixture('k612/vmlinux.btf.xz')], { maxBuffer: 1 << 26 }).stdout);
    const m = join(tmp, 'crc7.ko');
    writeFileSync(m, spawnSync('xz', ['-dc', fixture('k612/modules/crc7.ko.xz')]).stdout);
    const b = sh('modbtf-dkms', ['build', '6.12.117+deb13-cloud-amd64', m], { MODBTF_KERNEL_BTF: k });
    expect(b.status, b.stderr).toBe(0);
    const d = join(tmp, 'updates');
    spawnSync('mkdir', [d]);
    copyFileSync(m, join(d, 'crc7.ko'));
    const h = sh('modbtf-dkms-post-install', ['6.12.117+deb13-cloud-amd64', 'crc7'], { MODBTF_KERNEL_BTF: k, MODULE_DIR: d });
    expect([h.status, h.stdout, h.stderr]).toEqual([0, `${join(d, 'crc7.ko')}: reconciled onto ${k}: .BTF 275 B, 12 types on 108407 kernel types\n`, '']);
  });
});
