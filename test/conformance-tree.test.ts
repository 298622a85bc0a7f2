/**
 * Opt-in differential run over a whole kernel tree against libbpf: every
 * module's `.BTF` distilled (btf__distill_base()) and relocated
 * (btf__relocate()) by libbpf, through scripts/goldens/btf-goldens.c, and by
 * modbtf; the outputs must be the same bytes, or both must refuse.
 *
 *   MODBTF_DIFF_TREE=DIR          modules (*.ko, *.ko.xz, *.ko.zst, *.ko.gz) under DIR
 *   MODBTF_DIFF_KERNEL=FILE       the kernel they were built on (raw BTF, vmlinux or vmlinuz)
 *   MODBTF_DIFF_TARGET=FILE       the kernel to relocate onto (default: MODBTF_DIFF_KERNEL)
 *   MODBTF_DIFF_ORACLE=PATH       btf-goldens built against libbpf >= 1.5 (see make-goldens.sh)
 *   MODBTF_DIFF_REPORT=FILE       optional: the counts and the differing modules as JSON
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { loadBaseBtf } from '../src/btf/load.js';
import { validateBtf } from '../src/btf/validate.js';
import { distill } from '../src/distill/distill.js';
import { ModbtfError } from '../src/errors.js';
import { openInput } from '../src/module/index.js';
import { relocate } from '../src/reconcile/relocate.js';

const env = process.env;
const enabled = !!(env.MODBTF_DIFF_TREE && env.MODBTF_DIFF_KERNEL && env.MODBTF_DIFF_ORACLE);

function modulesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String)
    .filter((f) => /\.ko(\.xz|\.zst|\.gz)?$/.test(f)).sort().map((f) => join(dir, f));
}

describe.skipIf(!enabled)('differential run over a kernel tree against libbpf', () => {
  it('every module: distill and relocation byte-identical to libbpf, or refused by both', async () => {
    const tree = env.MODBTF_DIFF_TREE!;
    const kernel = await loadBaseBtf(env.MODBTF_DIFF_KERNEL!);
    const target = env.MODBTF_DIFF_TARGET ? await loadBaseBtf(env.MODBTF_DIFF_TARGET) : kernel;
    const tmp = mkdtempSync(join(tmpdir(), 'modbtf-diff-'));
    try {
      writeFileSync(join(tmp, 'kernel.raw'), kernel.bytesView());
      writeFileSync(join(tmp, 'target.raw'), target.bytesView());
      const mods = modulesUnder(tree);
      const names: string[] = [];
      const raws = new Map<string, Uint8Array>();
      let noBtf = 0;
      for (const m of mods) {
        const elf = (await openInput(m)).elf!;
        const sec = elf.section('.BTF');
        if (!sec) { noBtf++; continue; }
        const name = relative(tree, m).replace(/[/]/g, '__').replace(/\.ko(\.xz|\.zst|\.gz)?$/, '');
        const raw = elf.data(sec);
        raws.set(name, raw);
        writeFileSync(join(tmp, `${name}.btf`), raw);
        names.push(name);
      }
      const gold = join(tmp, 'golden');
      spawnSync('mkdir', ['-p', gold]);
      for (let i = 0; i < names.length; i += 400) {
        const r = spawnSync(env.MODBTF_DIFF_ORACLE!, [join(tmp, 'kernel.raw'), join(tmp, 'target.raw'), gold, ...names.slice(i, i + 400).map((n) => join(tmp, `${n}.btf`))], { encoding: 'utf8', maxBuffer: 1 << 26 });
        if (r.status !== 0) throw new Error(`oracle: ${r.stderr}`);
      }
      const g = (n: string, what: string): Buffer | null => (existsSync(join(gold, `${n}.${what}`)) ? readFileSync(join(gold, `${n}.${what}`)) : null);
      const differing: { module: string; what: string }[] = [];
      let identical = 0;
      let bothRefuseReloc = 0;
      for (const n of names) {
        const gBase = g(n, 'base.raw');
        let why: string | null = null;
        try {
          const split = Btf.parse(raws.get(n)!, { base: kernel, file: n, section: '.BTF' });
          validateBtf(split);
          const d = distill(split);
          if (!gBase) why = 'libbpf refused to distill, modbtf distilled';
          else if (!Buffer.from(d.base.toBytes()).equals(gBase)) why = 'distilled base differs';
          else if (!Buffer.from(d.split.toBytes()).equals(g(n, 'split.raw')!)) why = 'distilled split differs';
          else {
            const gReloc = g(n, 'reloc.raw');
            try {
              const out = Buffer.from(relocate(Btf.parse(d.split.toBytes(), { base: Btf.parse(d.base.toBytes()) }), target).btf.toBytes());
              if (!gReloc) why = 'libbpf refused to relocate, modbtf relocated';
              else if (!out.equals(gReloc)) why = 'relocated split differs';
            } catch (e) {
              if (!(e instanceof ModbtfError) || e.code !== 'E_RELOCATE') throw e;
              if (gReloc) why = `modbtf refused to relocate: ${e.message}`;
              else bothRefuseReloc++;
            }
          }
        } catch (e) {
          if (!(e instanceof ModbtfError)) throw e;
          why = gBase ? `modbtf refused: ${e.describe()}` : null;
        }
        if (why) differing.push({ module: n, what: why });
        else identical++;
      }
      const report = { tree, kernel: env.MODBTF_DIFF_KERNEL, target: env.MODBTF_DIFF_TARGET ?? env.MODBTF_DIFF_KERNEL, modules: mods.length, noBtf, compared: names.length, identical, bothRefuseReloc, differing };
      console.log(`differential: ${names.length} modules compared (${noBtf} without .BTF), ${identical} identical to libbpf (${bothRefuseReloc} refused by both on relocation), ${differing.length} differing`);
      for (const d of differing) console.log(`  ${d.module}: ${d.what}`);
      if (env.MODBTF_DIFF_REPORT) writeFileSync(env.MODBTF_DIFF_REPORT, JSON.stringify(report, null, 2));
      expect(differing).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 3_600_000);
});
