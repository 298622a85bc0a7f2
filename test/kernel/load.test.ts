/**
 * A real kernel (Debian 6.12 cloud) loads what modbtf writes: stock modules,
 * modules distilled with .BTF.base (the kernel relocates them itself), and
 * modules reconciled onto that kernel (plain split BTF).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { editElf } from '../../src/elf/index.js';
import { openInput } from '../../src/module/index.js';
import { corpus, haveCorpus } from '../helpers.js';
import { bootWithModules, btfSection, expectLoaded, kernelTestSetup, quiet, sha256 } from './harness.js';

const setup = kernelTestSetup();
const skip = setup.skip ?? (haveCorpus ? undefined : 'the corpus (../shared/corpus) is not there');
if (skip) console.log(`kernel load tests skipped: ${skip}`);

const DEPS = ['xfrm_algo', 'nf_defrag_ipv6', 'libcrc32c', 'nf_defrag_ipv4'].map((d) => corpus('k612cloud/deps', `${d}.ko.xz`));
const MODS = ['tcp_bbr', 'af_key', 'overlay', 'nf_conntrack'];
const stock = (m: string): string => corpus('k612cloud/modules', `${m}.ko.xz`);



describe.skipIf(!!skip)('kernel accepts modbtf output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modbtf-kernel-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const vmlinux = haveCorpus ? corpus('k612cloud/vmlinux.btf') : '';

  beforeAll(async () => {
    for (const m of MODS) {
      expect(await run(['distill', '-B', vmlinux, '--section', '.BTF.base', '-o', join(dir, `${m}.native.ko.xz`), stock(m)], quiet)).toBe(0);
      copyFileSync(join(dir, `${m}.native.ko.xz`), join(dir, `${m}.reconciled.ko.xz`));
      expect(await run(['reconcile', '-k', vmlinux, join(dir, `${m}.reconciled.ko.xz`)], quiet)).toBe(0);
      copyFileSync(join(dir, `${m}.native.ko.xz`), join(dir, `${m}.dedup.ko.xz`));
      expect(await run(['reconcile', '--dedup', '-k', vmlinux, join(dir, `${m}.dedup.ko.xz`)], quiet)).toBe(0);
    }
    // Negative controls: junk .BTF; tcp_bbr distilled but with its old .BTF_ids.
    const loop = (await openInput(stock('loop'))).elf!;
    const junk = Buffer.alloc(loop.section('.BTF')!.size, 0x41);
    writeFileSync(join(dir, 'loop.junk.ko'), editElf(loop, { replace: new Map([['.BTF', junk]]) }));
    const bbr = (await openInput(join(dir, 'tcp_bbr.native.ko.xz'))).elf!;
    const oldIds = (await openInput(stock('tcp_bbr'))).elf!;
    writeFileSync(join(dir, 'tcp_bbr.oldids.ko'), editElf(bbr, { replace: new Map([['.BTF_ids', oldIds.data(oldIds.section('.BTF_ids')!)]]) }));
  });

  it('stock modules: BTF present and identical to .BTF; junk .BTF: loads without BTF', async () => {
    const boot = await bootWithModules(setup.kernel!, [...DEPS, ...MODS.map(stock), join(dir, 'loop.junk.ko')]);
    expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
    for (const m of MODS) {
      expectLoaded(boot, m);
      expect(boot.modules.get(m)!.btf?.sha256, m).toBe(sha256(await btfSection(stock(m))));
    }
    expectLoaded(boot, 'loop');
    expect(boot.modules.get('loop')!.btf).toBeNull();
    expect(boot.modules.get('loop')!.klog.join('\n')).toMatch(/BPF: *(btf_header not found|Invalid magic)|BTF/);
  });

  it('distilled with .BTF.base: the kernel relocates to exactly btf__relocate()\'s bytes', async () => {
    const boot = await bootWithModules(setup.kernel!, [...DEPS, ...MODS.map((m) => join(dir, `${m}.native.ko.xz`))]);
    expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
    for (const m of MODS) {
      expectLoaded(boot, m);
      const expected = readFileSync(corpus('k612cloud/golden', `${m}.reloc-k612.raw`));
      expect(boot.modules.get(m)!.btf, m).toEqual({ size: expected.length, sha256: sha256(expected) });
    }
  });

  it('reconciled: plain split BTF, exposed byte for byte as written', async () => {
    const boot = await bootWithModules(setup.kernel!, [...DEPS, ...MODS.map((m) => join(dir, `${m}.reconciled.ko.xz`))]);
    expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
    for (const m of MODS) {
      expectLoaded(boot, m);
      const written = await btfSection(join(dir, `${m}.reconciled.ko.xz`));
      expect(boot.modules.get(m)!.btf, m).toEqual({ size: written.length, sha256: sha256(written) });
    }
  });

  it('reconciled with --dedup: accepted, exposed as written, no larger than the original .BTF', async () => {
    const boot = await bootWithModules(setup.kernel!, [...DEPS, ...MODS.map((m) => join(dir, `${m}.dedup.ko.xz`))]);
    expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
    for (const m of MODS) {
      expectLoaded(boot, m);
      const written = await btfSection(join(dir, `${m}.dedup.ko.xz`));
      expect(boot.modules.get(m)!.btf, m).toEqual({ size: written.length, sha256: sha256(written) });
      expect(written.length, m).toBeLessThanOrEqual((await btfSection(stock(m))).length);
    }
  });

  it('a kfunc module whose .BTF_ids were not renumbered does not load (EINVAL)', async () => {
    const boot = await bootWithModules(setup.kernel!, [join(dir, 'tcp_bbr.oldids.ko')]);
    expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
    const v = boot.modules.get('tcp_bbr')!;
    expect(v.insmodRc).not.toBe(0);
    expect(v.insmodOutput.join('\n')).toMatch(/Invalid (argument|parameters)/);
  });
});
