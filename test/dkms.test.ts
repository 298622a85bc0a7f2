/**
 * modbtf-dkms install and the post-install hook without DKMS itself: a module
 * that was signed is signed again with DKMS's key and certificate (read from
 * DKMS's framework configuration), or refused, untouched, when they are
 * missing. (test/kernel/dkms.test.ts runs the whole path through real DKMS.)
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, repoRoot } from './helpers.js';

const SIGN_FILE = '/usr/lib/linux-kbuild-6.1/scripts/sign-file';
const haveTools = spawnSync('openssl', ['version']).status === 0 && spawnSync('modinfo', ['--version']).status === 0;
const haveSignFile = existsSync(SIGN_FILE);
if (!haveTools || !haveSignFile) console.log(`note: ${haveTools ? SIGN_FILE : 'openssl or modinfo'} not found: the re-signing test is skipped (apt-get install linux-kbuild-6.1 openssl kmod)`);

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-dkms-unit-'));
const K = join(tmp, 'vmlinux.btf');
const conf = join(tmp, 'etc-dkms');
const bin = join(repoRoot, 'bin/modbtf');
const helper = join(repoRoot, 'scripts/dkms/modbtf-dkms');
const hook = join(repoRoot, 'scripts/dkms/modbtf-dkms-post-install');
const KVER = '6.12.117+deb13-cloud-amd64';

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, MODBTF: bin, MODBTF_KERNEL_BTF: K, MODBTF_DKMS_CONF_DIR: conf, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  writeFileSync(K, spawnSync('xz', ['-dc', fixture('k612/vmlinux.btf.xz')], { maxBuffer: 1 << 26 }).stdout);
  mkdirSync(join(conf, 'framework.conf.d'), { recursive: true });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('modbtf-dkms install', () => {
  it('refuses a signed module when DKMS\'s key is missing, leaving it untouched', () => {
    writeFileSync(join(conf, 'framework.conf'), `mok_signing_key=${tmp}/absent.key\nmok_certificate=${tmp}/absent.pub\n`);
    const m = join(tmp, 'refused.ko.xz');
    copyFileSync(fixture('k612/modules/tcp_bbr.ko.xz'), m);
    const r = run(helper, ['install', KVER, m]);
    expect(r).toEqual({
      code: 1, out: '',
      err: `modbtf-dkms: ${m}: signed, but DKMS's signing key ${tmp}/absent.key is missing: not rewritten, since that would drop the signature (set mok_signing_key, mok_certificate, sign_file in /etc/dkms/framework.conf, or MODBTF_DKMS_ALLOW_UNSIGNED=1)\n`,
    });
    expect(readFileSync(m).equals(readFileSync(fixture('k612/modules/tcp_bbr.ko.xz')))).toBe(true);
  });

  it('usage errors exit 2', () => {
    expect(run(helper, ['install', KVER])).toEqual({ code: 2, out: '', err: 'modbtf-dkms: install: KVER and at least one MODULE are required\n' });
    expect(run(helper, ['instal', KVER, 'x.ko'])).toEqual({ code: 2, out: '', err: "modbtf-dkms: unknown command 'instal' (build or install)\n" });
    expect(run(hook, [KVER])).toEqual({ code: 2, out: '', err: 'usage: modbtf-dkms-post-install KVER MODULE_NAME...\n' });
    const h = run(helper, ['--help']);
    expect([h.code, h.out.split('\n')[0]]).toEqual([0, 'usage: modbtf-dkms build KVER MODULE.ko...']);
  });

  it.skipIf(!haveTools || !haveSignFile)('re-signs a signed module with the key and certificate DKMS is configured with', () => {
    const key = join(tmp, 'mok.key');
    const cert = join(tmp, 'mok.der');
    const g = spawnSync('openssl', ['req', '-new', '-x509', '-nodes', '-days', '2', '-subj', '/CN=modbtf test MOK', '-newkey', 'rsa:2048', '-keyout', key, '-outform', 'DER', '-out', cert]);
    expect(g.status).toBe(0);
    writeFileSync(join(conf, 'framework.conf'), '# DKMS framework\n');
    writeFileSync(join(conf, 'framework.conf.d/mok.conf'), `mok_signing_key="${key}"\nmok_certificate="${cert}"\nsign_file=${SIGN_FILE}\n`);
    const dir = join(tmp, 'updates');
    mkdirSync(dir);
    const signed = join(dir, 'tcp_bbr.ko.xz');
    const unsigned = join(dir, 'crc7.ko.xz');
    // As DKMS leaves them: distilled, then signed (or not).
    expect(run(bin, ['distill', '-B', K, '--sign-key', key, '--sign-cert', cert, '--sign-tool', SIGN_FILE, '-o', signed, fixture('k612/modules/tcp_bbr.ko.xz')]).code).toBe(0);
    expect(run(bin, ['distill', '-B', K, '-o', unsigned, fixture('k612/modules/crc7.ko.xz')]).code).toBe(0);
    // The hook, as DKMS runs it (MODULE_DIR standing for /lib/modules/KVER/updates/dkms).
    const r = run(hook, [KVER, 'tcp_bbr', 'crc7'], { MODULE_DIR: dir, MODBTF_DKMS: helper });
    expect(r.err).toBe('');
    expect(r.out).toContain(`${signed}: reconciled onto ${K}`);
    expect(r.out).toContain(`${unsigned}: reconciled onto ${K}`);
    expect(r.code).toBe(0);
    const modinfo = (f: string, field: string) => spawnSync('modinfo', ['-F', field, f], { encoding: 'utf8' }).stdout.trim();
    expect([modinfo(signed, 'signer'), modinfo(signed, 'sig_hashalgo')]).toEqual(['modbtf test MOK', 'sha512']);
    expect(modinfo(unsigned, 'signer')).toBe('');
    const state = (f: string) => (JSON.parse(run(bin, ['inspect', '--json', f]).out) as { state: string; signed: boolean });
    expect(state(signed)).toMatchObject({ state: 'reconciled', signed: true });
    expect(state(unsigned)).toMatchObject({ state: 'reconciled', signed: false });
    // A name that is not installed is named.
    expect(run(hook, [KVER, 'nope'], { MODULE_DIR: dir, MODBTF_DKMS: helper })).toEqual({ code: 1, out: '', err: `modbtf-dkms-post-install: nope: not installed in ${dir}\n` });
  });
});
