/**
 * Real kernels and the 2026 BTF header: a module whose BTF has the 32-byte
 * header (as libbpf >= 1.8 writes it) is distilled and reconciled by modbtf
 * and loaded by the 6.12 kernel and, when given, the 7.x one; a split that
 * carries a kind layout section keeps it through reconcile, which a 7.x
 * kernel accepts and a 6.12 kernel (which knows only the 24-byte header)
 * does not.
 *
 * MODBTF_TEST_KERNEL: the 6.12 vmlinuz (with the corpus for its modules);
 * MODBTF_TEST_KERNEL7: a 7.x vmlinuz with its modules beside it, as
 * test/kernel/k7.test.ts takes it.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Btf, serializeSections } from '../../src/btf/btf.js';
import { defaultKindLayout } from '../../src/btf/kinds.js';
import { run } from '../../src/cli/main.js';
import { editElf } from '../../src/elf/index.js';
import { openInput } from '../../src/module/index.js';
import { corpus, haveCorpus } from '../helpers.js';
import { bootWithModules, expectLoaded, findModule, kernelTestSetup, quiet, sha256 } from './harness.js';



interface Target {
  label: string;
  kernel?: string;
  module?: string;
  skip?: string;
  /** Whether the kernel parses the 32-byte header's layout fields (7.1 and later). */
  knowsLayout: boolean;
}

function targets(): Target[] {
  const k6 = kernelTestSetup();
  const k7 = kernelTestSetup('MODBTF_TEST_KERNEL7');
  const t6: Target = { label: '6.12', knowsLayout: false, kernel: k6.kernel, module: haveCorpus ? corpus('k612cloud/modules/tcp_bbr.ko.xz') : undefined };
  t6.skip = k6.skip ?? (haveCorpus ? undefined : 'the corpus (../shared/corpus) is not there');
  const t7: Target = { label: '7.x', knowsLayout: true, kernel: k7.kernel };
  t7.skip = k7.skip;
  if (!t7.skip) {
    const m = findModule(dirname(k7.kernel!), 'tcp_bbr');
    if (m) t7.module = m;
    else t7.skip = `tcp_bbr not found under ${dirname(k7.kernel!)}/kernel (fetch with --modules)`;
  }
  return [t6, t7];
}

async function btfOf(path: string): Promise<Btf> {
  const elf = (await openInput(path)).elf!;
  return Btf.parse(elf.data(elf.section('.BTF')!), { detached: true });
}

/** `path`'s module with `.BTF` replaced by `bytes`, written uncompressed to `out`. */
async function withBtf(path: string, out: string, make: (btf: Btf) => Uint8Array): Promise<void> {
  const elf = (await openInput(path)).elf!;
  const btf = Btf.parse(elf.data(elf.section('.BTF')!), { detached: true });
  writeFileSync(out, editElf(elf, { replace: new Map([['.BTF', make(btf)]]) }));
}

function layoutSection(le: boolean): Uint8Array {
  const out = new Uint8Array(defaultKindLayout().length * 4);
  const dv = new DataView(out.buffer);
  defaultKindLayout().forEach((e, k) => {
    out[k * 4] = e.infoSz;
    out[k * 4 + 1] = e.elemSz;
    dv.setUint16(k * 4 + 2, e.flags, le);
  });
  return out;
}


for (const t of targets()) {
  if (t.skip) console.log(`2026-format kernel tests on ${t.label} skipped: ${t.skip}`);
  describe.skipIf(!!t.skip)(`${t.label} kernel: 32-byte BTF headers and a kind layout through distill and reconcile`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'modbtf-k2026-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const p = (f: string): string => join(dir, f);
    let prepared: Promise<void> | null = null;
    const prepare = (): Promise<void> => (prepared ??= (async () => {
      expect(await run(['extract', t.kernel!, '-o', p('vmlinux.btf')], quiet)).toBe(0);
      // The module's .BTF with the 32-byte header (layout fields zero), as libbpf >= 1.8 writes it.
      await withBtf(t.module!, p('h32.ko'), (b) => serializeSections(b.types, b.strings, b.littleEndian, 32));
      expect(await run(['distill', '-B', p('vmlinux.btf'), '--section', '.BTF.base', '-o', p('h32.native.ko'), p('h32.ko')], quiet)).toBe(0);
      copyFileSync(p('h32.native.ko'), p('h32.reconciled.ko'));
      expect(await run(['reconcile', '-k', p('vmlinux.btf'), p('h32.reconciled.ko')], quiet)).toBe(0);
      // The distilled split with a kind layout section of its own; reconcile keeps it.
      await withBtf(p('h32.native.ko'), p('lay.native.ko'), (b) => serializeSections(b.types, b.strings, b.littleEndian, 32, layoutSection(b.littleEndian)));
      copyFileSync(p('lay.native.ko'), p('lay.reconciled.ko'));
      expect(await run(['reconcile', '-k', p('vmlinux.btf'), p('lay.reconciled.ko')], quiet)).toBe(0);
    })());

    it('modbtf writes 32-byte headers for a module that has them, and keeps a split\'s layout', async () => {
      await prepare();
      for (const f of ['h32.native.ko', 'h32.reconciled.ko']) expect((await btfOf(p(f))).header, f).toMatchObject({ hdrLen: 32, layoutLen: 0 });
      const native = (await openInput(p('h32.native.ko'))).elf!;
      expect(Btf.parse(native.data(native.section('.BTF.base')!)).header.hdrLen).toBe(32);
      expect((await btfOf(p('lay.reconciled.ko'))).header).toMatchObject({ hdrLen: 32, layoutLen: 80 });
    });

    it('distilled (.BTF.base, 32-byte headers): the kernel relocates it to the bytes reconcile writes', async () => {
      await prepare();
      const boot = await bootWithModules(t.kernel!, [p('h32.native.ko')]);
      expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
      const written = (await btfOf(p('h32.reconciled.ko'))).toBytes();
      expect(expectLoaded(boot, 'tcp_bbr').btf).toEqual({ size: written.length, sha256: sha256(written) });
    });

    it('reconciled (32-byte header): accepted and exposed as written', async () => {
      await prepare();
      const boot = await bootWithModules(t.kernel!, [p('h32.reconciled.ko')]);
      expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
      const written = (await btfOf(p('h32.reconciled.ko'))).toBytes();
      expect(expectLoaded(boot, 'tcp_bbr').btf).toEqual({ size: written.length, sha256: sha256(written) });
    });

    it(t.knowsLayout
      ? 'a split with a kind layout: relocated by the kernel and reconciled by modbtf to the same bytes, layout kept'
      : 'a split with a kind layout: the kernel refuses the header it does not know and loads the module without BTF', async () => {
      await prepare();
      const written = (await btfOf(p('lay.reconciled.ko'))).toBytes();
      // On a kernel that refuses the header, once is enough.
      for (const f of t.knowsLayout ? ['lay.native.ko', 'lay.reconciled.ko'] : ['lay.reconciled.ko']) {
        const boot = await bootWithModules(t.kernel!, [p(f)]);
        expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
        const v = expectLoaded(boot, 'tcp_bbr');
        if (t.knowsLayout) {
          expect(v.btf, f).toEqual({ size: written.length, sha256: sha256(written) });
        } else {
          expect(v.btf, f).toBeNull();
          expect(v.klog.join('\n'), f).toMatch(/Unsupported btf_header/);
        }
      }
    });
  });
}
