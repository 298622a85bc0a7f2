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
 *
 * Relocation is compared twice: with the kernel's rules (planRelocation
 * `rules: 'kernel'`), which must give libbpf's verdict and bytes for every
 * module, and with modbtf's, which may differ from them only for FWD types
 * (the deliberate difference; such modules are counted apart).
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
import { applyPlan, formatProblem, planRelocation } from '../src/reconcile/relocate.js';
import { Kind } from '../src/btf/kinds.js';

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
      const deliberate: { module: string; what: string }[] = [];
      const embedded: { module: string; what: string }[] = [];
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
            const dsplit = Btf.parse(d.split.toBytes(), { base: Btf.parse(d.base.toBytes()) });
            // The kernel's rules must give libbpf's verdict and bytes exactly.
            const k = planRelocation(dsplit, target, { rules: 'kernel' });
            if (!k.problems.length !== !!gReloc) {
              // libbpf before 1.6 (and kernels 6.11-6.13) look for by-value embeddings in part of the split only.
              if (gReloc && k.problems.every((p) => p.embedded && p.reason === 'size')) embedded.push({ module: n, what: k.problems.map(formatProblem).join('; ') });
              else why = `kernel rules ${k.problems.length ? 'refuse' : 'map'}, libbpf ${gReloc ? 'maps' : 'refuses'}`;
            } else if (gReloc && !Buffer.from(applyPlan(dsplit, target, k).btf.toBytes()).equals(gReloc)) why = 'relocated split (kernel rules) differs';
            else {
              // modbtf's own rules: the same, but for the deliberate FWD difference.
              const m = planRelocation(dsplit, target);
              const fwdOnly = (ps: typeof m.problems): boolean => ps.every((p) => p.kind === Kind.FWD);
              const diff = m.problems.length !== k.problems.length || m.problems.some((p, i) => formatProblem(p) !== formatProblem(k.problems[i]!));
              if (!diff) {
                if (!gReloc) bothRefuseReloc++;
              } else {
                const extraK = k.problems.filter((p) => !m.problems.some((q) => q.id === p.id));
                const extraM = m.problems.filter((p) => !k.problems.some((q) => q.id === p.id));
                if (fwdOnly(extraK) && fwdOnly(extraM)) deliberate.push({ module: n, what: [...extraK, ...extraM].map(formatProblem).join('; ') });
                else why = `modbtf and the kernel's rules differ beyond FWD: ${[...extraK, ...extraM].map(formatProblem).join('; ')}`;
              }
            }
          }
        } catch (e) {
          if (!(e instanceof ModbtfError)) throw e;
          why = gBase ? `modbtf refused: ${e.describe()}` : null;
        }
        if (why) differing.push({ module: n, what: why });
        else if (!deliberate.some((x) => x.module === n) && !embedded.some((x) => x.module === n)) identical++;
      }
      const report = { tree, kernel: env.MODBTF_DIFF_KERNEL, target: env.MODBTF_DIFF_TARGET ?? env.MODBTF_DIFF_KERNEL, modules: mods.length, noBtf, compared: names.length, identical, bothRefuseReloc, deliberate, embedded, differing };
      console.log(`differential: ${names.length} modules compared (${noBtf} without .BTF), ${identical} identical to libbpf (${bothRefuseReloc} of them refused by both on relocation), ${deliberate.length} differing only by the FWD rule (modbtf's flavour, libbpf's kind_flag), ${embedded.length} refused for a changed embedded struct that this libbpf (< 1.6) does not look for, ${differing.length} differing otherwise`);
      for (const d of embedded) console.log(`  ${d.module}: embedded: ${d.what}`);
      for (const d of deliberate) console.log(`  ${d.module}: FWD rule: ${d.what}`);
      for (const d of differing) console.log(`  ${d.module}: ${d.what}`);
      if (env.MODBTF_DIFF_REPORT) writeFileSync(env.MODBTF_DIFF_REPORT, JSON.stringify(report, null, 2));
      expect(differing).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 3_600_000);
});
