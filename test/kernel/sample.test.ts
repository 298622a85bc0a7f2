/**
 * The case modbtf exists for: an out-of-tree module built against Debian's
 * 6.1 headers (which have no vmlinux, so kbuild skips BTF), given BTF by
 * pahole, distilled and reconciled through the DKMS helper, then loaded by
 * the real 6.1 kernel, which knows nothing of .BTF.base.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInput } from '../../src/module/index.js';
import { repoRoot } from '../helpers.js';
import { bootWithModules, kernelTestSetup, sha256 } from './harness.js';

const kernel = process.env.MODBTF_SAMPLE_KERNEL;
const kver = kernel ? basename(kernel).replace(/^vmlinuz-/, '') : '';
const headers = kver ? `/usr/src/linux-headers-${kver}` : '';
const base = kernelTestSetup();
let skip: string | undefined;
if (!kernel) skip = 'MODBTF_SAMPLE_KERNEL is not set (a Debian 6.1 vmlinuz: scripts/kernel/fetch-debian-kernel.sh)';
else if (!existsSync(kernel)) skip = `MODBTF_SAMPLE_KERNEL=${kernel} does not exist`;
else if (!existsSync(headers)) skip = `${headers} not found (apt-get install linux-headers-${kver})`;
else if (spawnSync('pahole', ['--version']).status !== 0) skip = 'pahole not found (apt-get install dwarves)';
else if (base.skip && !base.skip.startsWith('MODBTF_TEST_KERNEL')) skip = base.skip;
if (skip) console.log(`sample module test skipped: ${skip}`);

const bin = join(repoRoot, 'bin/modbtf');
const dkms = join(repoRoot, 'scripts/dkms/modbtf-dkms');

function sh(cmd: string, args: string[], env: Record<string, string> = {}, cwd?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd, env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return `${r.stdout}${r.stderr}`;
}

describe.skipIf(!!skip)('sample out-of-tree module on Debian 6.1 through the DKMS helper', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modbtf-sample-'));
  const env = { MODBTF: bin, MODBTF_KERNEL_BTF: kernel ?? '' };
  let installed = '';
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(() => {
    cpSync(join(repoRoot, 'samples/modbtf_sample'), join(dir, 'src'), { recursive: true });
    const out = sh('make', [`KDIR=${headers}`], {}, join(dir, 'src'));
    expect(out).toMatch(/Skipping BTF generation/);
    cpSync(join(dir, 'src/modbtf_sample.ko'), join(dir, 'src/modbtf_sample.ko.orig'));
  });

  it('build: pahole gives it split BTF, modbtf distills it', async () => {
    const ko = join(dir, 'src/modbtf_sample.ko');
    sh(dkms, ['build', kver, ko], env);
    const elf = (await openInput(ko)).elf!;
    expect(elf.section('.BTF')).toBeDefined();
    expect(elf.section('.BTF.base_minimal')).toBeDefined();
    // DKMS installs it compressed, as the distribution does.
    installed = join(dir, 'modbtf_sample.ko.xz');
    writeFileSync(installed, spawnSync('xz', ['--check=crc32', '-c', ko]).stdout);
  });

  it('install (the sample\'s POST_INSTALL hook): reconciled onto 6.1, loaded by 6.1 with its BTF byte for byte', async () => {
    // The hook as DKMS runs it: kernelver in the environment, modbtf and modbtf-dkms on PATH.
    const shims = join(dir, 'bin');
    mkdirSync(shims);
    symlinkSync(bin, join(shims, 'modbtf'));
    symlinkSync(dkms, join(shims, 'modbtf-dkms'));
    symlinkSync(join(repoRoot, 'scripts/dkms/modbtf-dkms-post-install'), join(shims, 'modbtf-dkms-post-install'));
    const out = sh(join(repoRoot, 'samples/modbtf_sample/modbtf-dkms-post-install'), [], {
      ...env, kernelver: kver, MODULE_DIR: dir, PATH: `${shims}:${process.env.PATH}`,
    });
    expect(out).toContain('reconciled onto');
    const elf = (await openInput(installed)).elf!;
    const btf = Buffer.from(elf.data(elf.section('.BTF')!));
    expect(elf.section('.BTF.base')).toBeUndefined();
    const boot = await bootWithModules(kernel!, [installed]);
    expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
    const v = boot.modules.get('modbtf_sample')!;
    expect(v.insmodRc, `${v.insmodOutput.join('|')} ${v.klog.join('|')}`).toBe(0);
    expect(v.btf).toEqual({ size: btf.length, sha256: sha256(btf) });
    expect(v.klog.join('\n')).toContain('modbtf_sample: 4 entries');
  });

  it('standalone BTF (pahole -J, no base): distill maps it onto vmlinux, reconcile, 6.1 loads it with BTF', async () => {
    const ko = join(dir, 'standalone.ko');
    cpSync(join(dir, 'src/modbtf_sample.ko.orig'), ko);
    sh('pahole', ['-J', ko]);
    const before = await openInput(ko);
    expect(spawnSync(bin, ['inspect', ko], { encoding: 'utf8' }).stdout).toContain('standalone BTF (no base)');
    const d = sh(bin, ['distill', '--base', kernel!, ko]);
    expect(d).toMatch(/standalone BTF mapped onto the base: \d+ types are the kernel's, \d+ kept/);
    sh(bin, ['reconcile', '--kernel', kernel!, ko]);
    const elf = (await openInput(ko)).elf!;
    const btf = Buffer.from(elf.data(elf.section('.BTF')!));
    expect(btf.length).toBeLessThan(before.elf!.section('.BTF')!.size);
    const boot = await bootWithModules(kernel!, [ko]);
    expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
    const v = boot.modules.get('modbtf_sample')!;
    expect(v.insmodRc, `${v.insmodOutput.join('|')} ${v.klog.join('|')}`).toBe(0);
    expect(v.btf).toEqual({ size: btf.length, sha256: sha256(btf) });
  });
});

