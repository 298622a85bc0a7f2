/**
 * Real out-of-tree modules no one here wrote: Debian's DKMS source packages,
 * built against Debian's 6.1 headers (kbuild skips BTF there: no vmlinux).
 * `pahole -J` (no base) + `modbtf map --base vmlinux-6.1` must give, byte for
 * byte, the `.BTF` that `pahole -J --btf_base vmlinux-6.1` gives, as kbuild
 * would have made it with a vmlinux at hand.
 *
 * MODBTF_DKMS_DEBS: a directory of *-dkms .deb files
 * (scripts/kernel/fetch-dkms-sources.sh); MODBTF_SAMPLE_KERNEL: the 6.1
 * vmlinuz (scripts/kernel/fetch-debian-kernel.sh), whose headers are installed.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { loadBaseBtf } from '../../src/btf/load.js';
import { Kind } from '../../src/btf/kinds.js';
import { run } from '../../src/cli/main.js';
import { btfSection } from './harness.js';

const kernel = process.env.MODBTF_SAMPLE_KERNEL;
const debDir = process.env.MODBTF_DKMS_DEBS;
const kver = kernel ? basename(kernel).replace(/^vmlinuz-/, '') : '';
const headers = kver ? `/usr/src/linux-headers-${kver}` : '';
const debs = debDir && existsSync(debDir) ? readdirSync(debDir).filter((f) => f.endsWith('.deb')).sort() : [];
let skip: string | undefined;
if (!kernel) skip = 'MODBTF_SAMPLE_KERNEL is not set (a Debian 6.1 vmlinuz: scripts/kernel/fetch-debian-kernel.sh)';
else if (!existsSync(kernel)) skip = `MODBTF_SAMPLE_KERNEL=${kernel} does not exist`;
else if (!debDir) skip = 'MODBTF_DKMS_DEBS is not set (a directory of -dkms packages: scripts/kernel/fetch-dkms-sources.sh)';
else if (debs.length === 0) skip = `MODBTF_DKMS_DEBS=${debDir} holds no .deb`;
else if (!existsSync(headers)) skip = `${headers} not found (apt-get install linux-headers-${kver})`;
else if (spawnSync('pahole', ['--version']).status !== 0) skip = 'pahole not found (apt-get install dwarves)';
else if (spawnSync('make', ['--version']).status !== 0) skip = 'make not found';
if (skip) console.log(`DKMS map test skipped: ${skip}`);

function sh(cmd: string, args: string[], cwd?: string): string {
  // As a shell that cd'd there would run it: some Makefiles read $(PWD).
  const env = cwd ? { ...process.env, PWD: cwd } : process.env;
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd, env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return `${r.stdout}${r.stderr}`;
}

/**
 * The flags kbuild gives pahole for these headers (scripts/pahole-flags.sh),
 * without -j: pahole 1.24 encodes CUs in threads and its output order then
 * changes from run to run, so no two runs, with or without a base, agree.
 */
function paholeFlags(): string[] {
  const r = spawnSync('sh', [join(headers, 'scripts/pahole-flags.sh')], { encoding: 'utf8', env: { ...process.env, PAHOLE: 'pahole' } });
  return r.stdout.trim().split(/\s+/).filter((f) => f !== '' && f !== '-j');
}

/**
 * What a dkms.conf says: the modules the package builds (BUILT_MODULE_NAME[...])
 * and the make variables its MAKE line sets (HDAPS=1, DKMS_BUILD=1, ...) besides
 * the kernel tree and M=, which are given here.
 */
function dkmsConf(conf: string): { modules: string[]; makeVars: string[] } {
  const vars = new Map<string, string>();
  const modules: string[] = [];
  let make = '';
  for (const line of conf.split('\n')) {
    const m = /^\s*([A-Z_]+)(\[\d+\])?\s*=\s*"?([^"]*)"?\s*$/.exec(line);
    if (!m) continue;
    const value = m[3]!.replace(/\$\{?([A-Z_]+)\}?/g, (_, v: string) => vars.get(v) ?? '');
    vars.set(m[1]!, value);
    if (m[1] === 'BUILT_MODULE_NAME') modules.push(value);
    if (m[1] === 'MAKE' && !make) make = m[3]!;
  }
  const makeVars = make.split(/\s+/).filter((t) => /^[A-Z][A-Z0-9_]*=[^$]+$/.test(t) && !t.startsWith('M='));
  return { modules: modules.sort(), makeVars };
}

interface Outcome { module: string; pahole: number; map: number; same: boolean }

describe.skipIf(!!skip)('Debian DKMS modules on 6.1: pahole -J + map == pahole -J --btf_base', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modbtf-dkms-map-'));
  const vmlinux = join(dir, 'vmlinux-6.1.btf');
  const flags = skip ? [] : paholeFlags();
  const outcomes: Outcome[] = [];
  const quiet = { out: (): void => undefined, err: (l: string): void => void console.error(l) };
  let base: Btf;
  afterAll(() => {
    console.log(`DKMS map: ${outcomes.filter((o) => o.same).length}/${outcomes.length} byte-identical (${outcomes.map((o) => `${o.module} ${o.map}${o.same ? '' : `!=${o.pahole}`}`).join(', ')})`);
    rmSync(dir, { recursive: true, force: true });
  });
  beforeAll(async () => {
    base = await loadBaseBtf(kernel!);
    writeFileSync(vmlinux, base.toBytes());
  });

  it.each(debs)('%s', async (deb) => {
    const root = join(dir, deb.replace(/\.deb$/, ''));
    sh('dpkg-deb', ['-x', join(debDir!, deb), root]);
    const srcs = readdirSync(join(root, 'usr/src'));
    expect(srcs).toHaveLength(1);
    // DKMS builds in a copy of the source, from that directory (some Makefiles use $(PWD)).
    const build = join(dir, srcs[0]!);
    cpSync(join(root, 'usr/src', srcs[0]!), build, { recursive: true });
    const conf = dkmsConf(readFileSync(join(build, 'dkms.conf'), 'utf8'));
    const log = sh('make', [`-j${availableParallelism()}`, '-C', headers, `M=${build}`, ...conf.makeVars, 'modules'], build);
    expect(log).toMatch(/Skipping BTF generation .* due to unavailability of vmlinux/);
    const kos = readdirSync(build, { recursive: true }).map(String).filter((f) => f.endsWith('.ko')).sort();
    expect(kos.map((f) => basename(f, '.ko')).sort()).toEqual(conf.modules);
    for (const ko of kos) {
      const name = basename(ko, '.ko');
      const work = join(dir, 'out', name);
      mkdirSync(work, { recursive: true });
      const alone = join(work, 'standalone.ko');
      const split = join(work, 'btf_base.ko');
      copyFileSync(join(build, ko), alone);
      copyFileSync(join(build, ko), split);
      sh('pahole', ['-J', ...flags, alone]);
      sh('pahole', ['-J', ...flags, '--btf_base', vmlinux, split]);
      const kept = join(work, 'keep.ko');
      expect(await run(['map', '-B', vmlinux, '--keep-module-funcs', '-o', kept, alone], quiet), name).toBe(0);
      expect(await run(['map', '-B', vmlinux, alone], quiet), name).toBe(0);
      const want = await btfSection(split);
      const got = await btfSection(alone);
      outcomes.push({ module: name, pahole: want.length, map: got.length, same: want.equals(got) });
      expect(got.equals(want), `${name}: map gives ${got.length} bytes of .BTF, pahole --btf_base ${want.length}`).toBe(true);
      // --keep-module-funcs: the same, plus the module's functions the kernel also has.
      const keep = Btf.parse(await btfSection(kept), { base });
      const ref = Btf.parse(want, { base });
      const funcs = (b: Btf): string[] => {
        const out: string[] = [];
        for (let id = b.startId; id < b.typeCount; id++) if (b.kind(id) === Kind.FUNC) out.push(b.name(id));
        return out.sort();
      };
      const extra = name === 'gost-test' ? ['hexdump'] : [];
      expect(funcs(keep), name).toEqual([...funcs(ref), ...extra].sort());
      expect(keep.nrTypes, name).toBe(ref.nrTypes + extra.length);
    }
  });
});
