/**
 * Regenerates test/fixtures/core/ from samples/bpf/*.bpf.o:
 *   values/<target>.json         what libbpf computes for every CO-RE relocation (core-oracle)
 *   mincore/<target>/<obj>.btf   bpftool gen min_core_btf TARGET OUT <obj>
 *   mincore/<target>/all.btf     the same for every object that bpftool accepts, in one run
 *   mincore/<target>/results.json  bpftool's exit code (and message) per run, sha256 of outputs
 * Targets: the corpus's 6.12 and 6.18 vmlinux BTF, Debian bookworm's 6.1 (when
 * scripts/kernel/fetch-debian-kernel.sh has cached it), and 6.12 vmlinux + one module merged into
 * one standalone BTF (what libbpf needs as btf_custom_path for module types).
 *
 *   npx tsx scripts/core-oracle/gen-sample-expectations.ts [--corpus DIR]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { buildOracle, fillFromBtfExt, debian61Btf, mergeSplit, readBtf, repoRoot, runOracle, sha256 } from './oracle.js';

const argv = process.argv.slice(2);
const corpusArg = argv.indexOf('--corpus');
const corpus = resolve(corpusArg >= 0 ? argv[corpusArg + 1]! : process.env.MODBTF_CORPUS ?? join(repoRoot, '../shared/corpus'));
const samples = join(repoRoot, 'samples/bpf');
const outDir = join(repoRoot, 'test/fixtures/core');
const objects = readdirSync(samples).filter((f) => f.endsWith('.bpf.o')).sort();
const moduleObjects: Record<string, string> = { 'xfs.bpf.o': 'xfs', 'tcp_bbr.bpf.o': 'tcp_bbr' };

interface Target {
  name: string;
  describe: string;
  btf: () => Promise<Uint8Array | undefined>;
  objects: string[];
}

const file = (p: string) => async () => readFileSync(p);
const targets: Target[] = [
  { name: 'k612cloud', describe: 'corpus k612cloud/vmlinux.btf (Debian 6.12.117 cloud-amd64)', btf: file(join(corpus, 'k612cloud/vmlinux.btf')), objects },
  { name: 'host618', describe: 'corpus host618/vmlinux.btf (6.18.44)', btf: file(join(corpus, 'host618/vmlinux.btf')), objects },
  {
    name: 'deb61',
    describe: 'Debian bookworm linux-image-6.1.0-*-cloud-amd64 vmlinuz .BTF (scripts/kernel/fetch-debian-kernel.sh)',
    btf: async () => {
      const p = await debian61Btf();
      return p ? readFileSync(p) : undefined;
    },
    objects,
  },
  ...Object.entries(moduleObjects).map(([obj, mod]) => ({
    name: `k612cloud+${mod}`,
    describe: `corpus k612cloud/vmlinux.btf types then k612cloud/modules/${mod}.ko.xz split types (merged standalone BTF)`,
    btf: async () => mergeSplit(readFileSync(join(corpus, 'k612cloud/vmlinux.btf')), await readBtf(join(corpus, `k612cloud/modules/${mod}.ko.xz`))),
    objects: [obj],
  })),
];

/** JSON with one line per relocation: small, and diffs show which relocation changed. */
function formatValues(doc: { objects: Record<string, unknown[]> } & Record<string, unknown>): string {
  const head = Object.entries(doc).filter(([k]) => k !== 'objects').map(([k, v]) => ` ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  const objs = Object.entries(doc.objects).map(([o, list]) => `  ${JSON.stringify(o)}: [\n${list.map((r) => `   ${JSON.stringify(r)}`).join(',\n')}\n  ]`);
  return `{\n${head.join(',\n')},\n "objects": {\n${objs.join(',\n')}\n }\n}\n`;
}

const oracle = buildOracle();
if (!oracle.path) throw new Error(oracle.reason);
const bpftoolVersion = spawnSync('bpftool', ['version'], { encoding: 'utf8' }).stdout.split('\n')[0]!.trim();
const tmp = mkdtempSync(join(tmpdir(), 'modbtf-core-gen-'));
try {
  for (const t of targets) {
    const btf = await t.btf();
    if (!btf) {
      console.error(`${t.name}: target BTF not available, kept as is`);
      continue;
    }
    const btfPath = join(tmp, `${t.name}.btf`);
    writeFileSync(btfPath, btf);
    const objPaths = t.objects.map((o) => join(samples, o));
    const values = runOracle(oracle.path, btfPath, objPaths);
    t.objects.forEach((o, i) => fillFromBtfExt(values.get(objPaths[i]!)!, readFileSync(objPaths[i]!), o));
    const doc = {
      target: t.name,
      btf: { describe: t.describe, size: btf.length, sha256: sha256(btf) },
      oracle: 'scripts/core-oracle (libbpf 1.1 bpf_object__load with btf_custom_path)',
      objects: Object.fromEntries(t.objects.map((o, i) => [o, values.get(objPaths[i]!)!])),
    };
    mkdirSync(join(outDir, 'values'), { recursive: true });
    writeFileSync(join(outDir, 'values', `${t.name}.json`), formatValues(doc));

    const mdir = join(outDir, 'mincore', t.name);
    rmSync(mdir, { recursive: true, force: true });
    mkdirSync(mdir, { recursive: true });
    const results: Record<string, { objects: string[]; exit: number; stderr?: string; sha256?: string; size?: number }> = {};
    const gen = (name: string, objs: string[]) => {
      const out = join(mdir, `${name}.btf`);
      const r = spawnSync('bpftool', ['gen', 'min_core_btf', btfPath, out, ...objs.map((o) => join(samples, o))], { encoding: 'utf8' });
      const res: (typeof results)[string] = { objects: objs, exit: r.status ?? -1 };
      if (r.status === 0) {
        const b = readFileSync(out);
        res.sha256 = sha256(b);
        res.size = b.length;
      } else {
        rmSync(out, { force: true });
        res.stderr = r.stderr.replaceAll(samples + '/', '').trim();
      }
      results[name] = res;
      return r.status === 0;
    };
    const ok = t.objects.filter((o) => gen(basename(o, '.bpf.o'), [o]));
    if (t.objects.length > 1) gen('all', ok);
    writeFileSync(join(mdir, 'results.json'), `${JSON.stringify({ bpftool: bpftoolVersion, target: t.name, runs: results }, null, 1)}\n`);
    console.error(`${t.name}: ${[...values.values()].reduce((n, l) => n + l.length, 0)} relocations, ${Object.keys(results).length} min_core_btf runs`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
