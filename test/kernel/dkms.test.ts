/**
 * The sample package through real DKMS (Debian's dkms): add, build (MAKE runs
 * modbtf-dkms build; DKMS strips and signs with its MOK key), install
 * (POST_INSTALL reconciles and signs again with DKMS's key). The installed
 * module must be signed by DKMS's key, verify, carry the reconciled BTF, match
 * DKMS's built copy (`dkms status` without a diff warning), and load on 6.1
 * with that BTF. DKMS runs on its own trees in a temp directory
 * (--dkmstree/--sourcetree/--installtree); only its MOK key pair lives where
 * DKMS keeps it (/var/lib/dkms, created by DKMS when missing, removed after if
 * this test created it).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openInput, splitSignature } from '../../src/module/index.js';
import { repoRoot } from '../helpers.js';
import { bootWithModules, kernelTestSetup, sha256 } from './harness.js';

const kernel = process.env.MODBTF_SAMPLE_KERNEL;
const kver = kernel ? basename(kernel).replace(/^vmlinuz-/, '') : '';
const headers = kver ? `/usr/src/linux-headers-${kver}` : '';
const MOK_KEY = '/var/lib/dkms/mok.key';
const MOK_CERT = '/var/lib/dkms/mok.pub';
let skip: string | undefined;
if (!kernel) skip = 'MODBTF_SAMPLE_KERNEL is not set (a Debian 6.1 vmlinuz: scripts/kernel/fetch-debian-kernel.sh)';
else if (!existsSync(kernel)) skip = `MODBTF_SAMPLE_KERNEL=${kernel} does not exist`;
else if (!existsSync(headers)) skip = `${headers} not found (apt-get install linux-headers-${kver})`;
else if (spawnSync('dkms', ['--version']).status !== 0) skip = 'dkms not found (apt-get install dkms)';
else if (spawnSync('pahole', ['--version']).status !== 0) skip = 'pahole not found (apt-get install dwarves)';
else if (process.getuid?.() !== 0) skip = 'dkms needs root';
if (skip) console.log(`DKMS test skipped: ${skip}`);
const boot = kernelTestSetup();
const bootSkip = boot.skip && !boot.skip.startsWith('MODBTF_TEST_KERNEL') ? boot.skip : undefined;

const bin = join(repoRoot, 'bin/modbtf');

function sh(cmd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return `${r.stdout}${r.stderr}`;
}

async function btfOf(path: string): Promise<Buffer> {
  const elf = (await openInput(path)).elf!;
  return Buffer.from(elf.data(elf.section('.BTF')!));
}

describe.skipIf(!!skip)('the sample package through real DKMS, signed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modbtf-dkms-'));
  const createdKey = !existsSync(MOK_KEY) && !existsSync(MOK_CERT);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    if (createdKey) for (const f of [MOK_KEY, MOK_CERT]) rmSync(f, { force: true });
  });

  const inst = join(dir, 'lib');
  const trees = ['--sourcetree', join(dir, 'src'), '--dkmstree', join(dir, 'dkms'), '--installtree', inst];
  const installed = join(inst, kver, 'updates/dkms/modbtf_sample.ko');
  const builtCopy = join(dir, 'dkms/modbtf_sample/1.0', kver, 'x86_64/module/modbtf_sample.ko');
  const shims = join(dir, 'bin');
  const env = { PATH: `${shims}:${process.env.PATH}`, MODBTF_KERNEL_BTF: kernel ?? '', MODULE_DIR: join(inst, kver, 'updates/dkms') };
  const dkms = (...args: string[]): string => sh('dkms', [...args, '-m', 'modbtf_sample', '-v', '1.0', ...trees], env);
  let distilled = '';

  it('dkms build: modbtf-dkms build gives the module distilled BTF, then DKMS signs it', async () => {
    cpSync(join(repoRoot, 'samples/modbtf_sample'), join(dir, 'src/modbtf_sample-1.0'), { recursive: true });
    mkdirSync(join(inst, kver), { recursive: true });
    mkdirSync(join(dir, 'dkms'));
    symlinkSync(headers, join(inst, kver, 'build'));
    mkdirSync(shims);
    // What `npm i -g modbtf` puts on PATH.
    symlinkSync(bin, join(shims, 'modbtf'));
    symlinkSync(join(repoRoot, 'scripts/dkms/modbtf-dkms'), join(shims, 'modbtf-dkms'));
    symlinkSync(join(repoRoot, 'scripts/dkms/modbtf-dkms-post-install'), join(shims, 'modbtf-dkms-post-install'));
    dkms('add');
    const out = dkms('build', '-k', kver);
    expect(out).toContain(`Signing key: ${MOK_KEY}`);
    expect(out).toMatch(/Signing module .*modbtf_sample\.ko/);
    const info = JSON.parse(sh(bin, ['inspect', '--json', builtCopy])) as { signed: boolean; state: string };
    expect(info).toMatchObject({ signed: true, state: 'distilled' });
    distilled = join(dir, 'distilled.ko');
    writeFileSync(distilled, readFileSync(builtCopy));
  });

  it('dkms install: POST_INSTALL reconciles, the installed module is signed with DKMS\'s key and carries the reconciled BTF', async () => {
    const out = dkms('install', '-k', kver, '--no-depmod');
    expect(out).toContain('Running the post_install script:');
    expect(out).toContain(`${installed}: reconciled onto ${kernel}`);
    // Signed by DKMS's certificate, with the kernel's hash.
    expect(sh('modinfo', ['-F', 'signer', installed]).trim()).toBe('DKMS module signing key');
    expect(sh('modinfo', ['-F', 'sig_hashalgo', installed]).trim()).toBe('sha256');
    const { elf, signature } = splitSignature(new Uint8Array(readFileSync(installed)), installed);
    expect(signature).not.toBeNull();
    const body = join(dir, 'body');
    const p7 = join(dir, 'sig.p7');
    writeFileSync(body, elf);
    // The PKCS#7 blob: before the 12-byte module_signature and the magic string.
    const sigLen = Buffer.from(signature!).readUInt32BE(signature!.length - 28 - 4);
    writeFileSync(p7, signature!.subarray(0, sigLen));
    expect(sh('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', p7, '-content', body, '-certfile', MOK_CERT, '-nointern', '-noverify', '-out', '/dev/null'])).toContain('Verification successful');
    // The reconciled BTF: what modbtf reconcile makes of DKMS's built (distilled) module.
    const expected = join(dir, 'expected.ko');
    sh(bin, ['reconcile', '--kernel', kernel!, '-o', expected, distilled]);
    expect((await btfOf(installed)).equals(await btfOf(expected))).toBe(true);
    expect((await btfOf(installed)).equals(await btfOf(distilled))).toBe(false);
    // DKMS's built copy is the installed module, so dkms status sees no difference.
    expect(readFileSync(builtCopy).equals(readFileSync(installed))).toBe(true);
    expect(dkms('status').trim()).toBe(`modbtf_sample/1.0, ${kver}, x86_64: installed`);
  });

  it.skipIf(!!bootSkip)('6.1 loads the installed module with that BTF', async () => {
    const btf = await btfOf(installed);
    const r = await bootWithModules(kernel!, [installed]);
    expect(r.done, r.serialLog.slice(-3000)).toBe(true);
    const v = r.modules.get('modbtf_sample')!;
    expect(v.insmodRc, `${v.insmodOutput.join('|')} ${v.klog.join('|')}`).toBe(0);
    expect(v.btf).toEqual({ size: btf.length, sha256: sha256(btf) });
  });

  it('dkms remove leaves nothing installed', () => {
    dkms('remove', '--all', '--no-depmod');
    expect(existsSync(installed)).toBe(false);
  });
});
