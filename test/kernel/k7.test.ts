/**
 * A 7.x kernel (Debian's 7.3.4 cloud-amd64 from trixie-backports) loads what
 * modbtf writes for its own modules: distilled with .BTF.base (the kernel
 * relocates them itself, to exactly libbpf's btf__relocate() bytes) and
 * reconciled (plain split BTF, exposed as written).
 *
 * MODBTF_TEST_KERNEL7: the vmlinuz of an unpacked linux-binary/linux-modules
 * pair (`scripts/kernel/fetch-debian-kernel.sh --arch amd64 --version 7.3.4
 * --modules DIR`); the modules are read from the directory it sits in.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { openInput } from '../../src/module/index.js';
import { bootWithModules, btfSection, expectLoaded, findModule as findKernelModule, kernelTestSetup, quiet, sha256 } from './harness.js';

const setup = kernelTestSetup('MODBTF_TEST_KERNEL7');
const kdir = setup.kernel ? dirname(setup.kernel) : '';
const kver = basename(kdir);
let skip = setup.skip;
if (!skip && kver !== '7.3.4+deb13-cloud-amd64') skip = `MODBTF_TEST_KERNEL7 is ${kver}, the expectations here are for 7.3.4+deb13-cloud-amd64`;
if (!skip && !existsSync(join(kdir, 'kernel'))) skip = `${kdir}/kernel not found (fetch with --modules)`;
if (skip) console.log(`7.x kernel load tests skipped: ${skip}`);

/**
 * What libbpf 1.5's btf__relocate() makes of each module distilled, relocated onto the kernel's
 * own BTF (scripts/goldens/make-goldens.sh on these modules and `modbtf extract` of the vmlinuz).
 */
const RELOCATED: Record<string, { size: number; sha256: string }> = {
  tcp_bbr: { size: 2955, sha256: '6f5bae27b8191989c9864f710b7cda8d55afa80b9cc0f0aa3a8623846b445da9' },
  af_key: { size: 10549, sha256: 'e27aea7fe5fa6d036ccaffd49dba7a432de7abaa8c9a0a9796646e172b71f924' },
  overlay: { size: 24378, sha256: 'fc87e143c0637d96803db1a6300753e0debff33197df7a9bb6256a258631e13f' },
};
const MODS = Object.keys(RELOCATED);
const DEPS = ['xfrm_algo'];

function findModule(name: string): string {
  const f = findKernelModule(kdir, name);
  if (!f) throw new Error(`${name} not found under ${kdir}/kernel`);
  return f;
}



describe.skipIf(!!skip)('a 7.x kernel accepts modbtf output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modbtf-k7-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const deps: string[] = [];

  beforeAll(async () => {
    // The kernel's BTF straight out of its vmlinuz (a bzImage): what reconcile targets.
    const vmlinux = join(dir, 'vmlinux.btf');
    expect(await run(['extract', setup.kernel!, '-o', vmlinux], quiet)).toBe(0);
    for (const d of DEPS) deps.push(findModule(d));
    for (const m of MODS) {
      const stock = findModule(m);
      expect(await run(['distill', '-B', setup.kernel!, '--section', '.BTF.base', '-o', join(dir, `${m}.native.ko.xz`), stock], quiet)).toBe(0);
      copyFileSync(join(dir, `${m}.native.ko.xz`), join(dir, `${m}.reconciled.ko.xz`));
      expect(await run(['reconcile', '-k', vmlinux, join(dir, `${m}.reconciled.ko.xz`)], quiet)).toBe(0);
    }
  });

  it('distilled with .BTF.base: the kernel relocates to exactly btf__relocate()\'s bytes', async () => {
    const boot = await bootWithModules(setup.kernel!, [...deps, ...MODS.map((m) => join(dir, `${m}.native.ko.xz`))]);
    expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
    expect(boot.serialLog).toContain(`@@BOOTED ${kver}`);
    for (const m of MODS) {
      expectLoaded(boot, m);
      expect(boot.modules.get(m)!.btf, m).toEqual(RELOCATED[m]);
    }
  });

  it('reconciled: plain split BTF, exposed byte for byte as written, the same bytes as the kernel\'s own relocation', async () => {
    const boot = await bootWithModules(setup.kernel!, [...deps, ...MODS.map((m) => join(dir, `${m}.reconciled.ko.xz`))]);
    expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
    for (const m of MODS) {
      expectLoaded(boot, m);
      const written = await btfSection(join(dir, `${m}.reconciled.ko.xz`));
      expect(boot.modules.get(m)!.btf, m).toEqual({ size: written.length, sha256: sha256(written) });
      expect({ size: written.length, sha256: sha256(written) }, m).toEqual(RELOCATED[m]);
    }
    expect(readFileSync(join(dir, 'vmlinux.btf')).length).toBeGreaterThan(1 << 20);
  });

  it('nf_conntrack, whose .BTF_ids names struct nf_conn___init that its BTF does not use, loads distilled and reconciled', async () => {
    const stock = findModule('nf_conntrack');
    const native = join(dir, 'nf_conntrack.native.ko.xz');
    const reconciled = join(dir, 'nf_conntrack.reconciled.ko.xz');
    expect(await run(['distill', '-B', setup.kernel!, '--section', '.BTF.base', '-o', native, stock], quiet)).toBe(0);
    copyFileSync(native, reconciled);
    expect(await run(['reconcile', '-k', join(dir, 'vmlinux.btf'), reconciled], quiet)).toBe(0);
    const defrag = ['nf_defrag_ipv4', 'nf_defrag_ipv6'].map(findModule);
    // Reconciled onto the kernel it was built for: .BTF_ids comes back byte for byte.
    const ids = async (f: string): Promise<Buffer> => {
      const elf = (await openInput(f)).elf!;
      return Buffer.from(elf.data(elf.section('.BTF_ids')!));
    };
    expect(await ids(reconciled)).toEqual(await ids(stock));
    // The kernel's own relocation of the distilled module gives the bytes reconcile wrote.
    const written = await btfSection(reconciled);
    for (const f of [native, reconciled]) {
      const boot = await bootWithModules(setup.kernel!, [...defrag, f]);
      expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
      expectLoaded(boot, 'nf_conntrack');
      expect(boot.modules.get('nf_conntrack')!.btf, f).toEqual({ size: written.length, sha256: sha256(written) });
    }
  });
});
