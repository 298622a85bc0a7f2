/**
 * `dump --format c` of the sample out-of-tree module: the committed distilled pair, and (when
 * Debian's 6.1 headers, pahole, bpftool and a 6.1 vmlinuz are at hand) the module built now,
 * distilled by the DKMS helper, dumped on its distilled base and relocated onto 6.1.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { dumpC } from '../src/btf/dumpc.js';
import { run } from '../src/cli/main.js';
import { fixture, repoRoot } from './helpers.js';

async function dumpOut(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await run(argv, { out: (l) => { out += `${l}\n`; }, raw: (t) => { out += t; }, err: () => undefined });
  return { code, out };
}

/** A Debian 6.1 vmlinuz: MODBTF_SAMPLE_KERNEL, else the one scripts/kernel/fetch-debian-kernel.sh caches. */
function sampleKernel(): string | undefined {
  if (process.env.MODBTF_SAMPLE_KERNEL) return process.env.MODBTF_SAMPLE_KERNEL;
  const boot = join(process.env.MODBTF_CACHE ?? join(homedir(), '.cache/modbtf'), 'kernels/root/boot');
  const v = existsSync(boot) ? readdirSync(boot).find((f) => /^vmlinuz-6\.1\./.test(f)) : undefined;
  return v ? join(boot, v) : undefined;
}

const kernel = sampleKernel();
const kver = kernel ? basename(kernel).replace(/^vmlinuz-/, '') : '';
const headers = `/usr/src/linux-headers-${kver}`;
let skip: string | undefined;
if (!kernel || !existsSync(kernel)) skip = 'no Debian 6.1 vmlinuz (MODBTF_SAMPLE_KERNEL)';
else if (!existsSync(headers)) skip = `${headers} not found`;
else if (spawnSync('pahole', ['--version']).status !== 0) skip = 'pahole not installed';
else if (spawnSync('bpftool', ['version']).status !== 0) skip = 'bpftool not installed';
if (skip) console.log(`sample module built now: skipped (${skip})`);

describe('the sample module', () => {
  it('committed distilled pair: the header bpftool prints', () => {
    const base = Btf.parse(readFileSync(fixture('dumpc/modbtf_sample.base.btf')));
    const split = Btf.parse(readFileSync(fixture('dumpc/modbtf_sample.split.btf')), { base });
    const text = dumpC(split);
    expect(text).toBe(readFileSync(fixture('dumpc/modbtf_sample.distilled.h'), 'latin1'));
    expect(text).toContain('struct modbtf_sample_state {');
  });

  describe.skipIf(!!skip)('built now against Debian 6.1 headers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'modbtf-dumpc-sample-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const bin = join(repoRoot, 'bin/modbtf');
    const sh = (cmd: string, args: string[], env: Record<string, string> = {}, cwd?: string): string => {
      const r = spawnSync(cmd, args, { encoding: 'latin1', cwd, env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
      return r.stdout;
    };

    it('distilled by modbtf-dkms: on its distilled base, and relocated onto 6.1, as bpftool prints them', async () => {
      cpSync(join(repoRoot, 'samples/modbtf_sample'), join(dir, 'src'), { recursive: true });
      sh('make', [`KDIR=${headers}`], {}, join(dir, 'src'));
      const ko = join(dir, 'src/modbtf_sample.ko');
      sh(join(repoRoot, 'scripts/dkms/modbtf-dkms'), ['build', kver, ko], { MODBTF: bin, MODBTF_KERNEL_BTF: kernel! });
      const f = (n: string): string => join(dir, n);
      sh(process.execPath, [bin, 'extract', '--section', '.BTF', ko, '-o', f('split.btf')]);
      sh(process.execPath, [bin, 'extract', '--section', '.BTF.base_minimal', ko, '-o', f('base.btf')]);
      sh(process.execPath, [bin, 'extract', kernel!, '-o', f('vmlinux.btf')]);
      const dist = await dumpOut('dump', '--format', 'c', ko);
      expect(dist.code).toBe(0);
      expect(dist.out).toBe(sh('bpftool', ['btf', 'dump', 'file', f('split.btf'), '-B', f('base.btf'), 'format', 'c']));
      cpSync(ko, f('rec.ko'));
      sh(process.execPath, [bin, 'reconcile', '-k', f('vmlinux.btf'), f('rec.ko')]);
      sh(process.execPath, [bin, 'extract', '--section', '.BTF', f('rec.ko'), '-o', f('rec.btf')]);
      const rec = await dumpOut('dump', '--format', 'c', '--base', kernel!, ko);
      expect(rec.code).toBe(0);
      expect(rec.out).toBe(sh('bpftool', ['btf', 'dump', 'file', f('rec.btf'), '-B', f('vmlinux.btf'), 'format', 'c']));
    }, 300_000);
  });
});
