/**
 * libbpf's CO-RE values for Debian's libbpf-tools, computed now: every BPF object embedded in the
 * package's tools (about 60, about 600 relocations), against the corpus 6.12 and 6.18 vmlinux BTF
 * and Debian bookworm's 6.1. Nothing is committed: the tools and the kernels are the data.
 *
 *   npx tsx scripts/core-oracle/libbpf-tools.ts OUTDIR
 * writes OUTDIR/objects/<tool>@0x<offset>.bpf.o and OUTDIR/values/<target>.json (the format of
 * test/fixtures/core/values).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildOracle, debian61Btf, libbpfToolsObjects, repoRoot, runOracle, sha256, type OracleRelo } from './oracle.js';

export interface ToolsTarget {
  name: string;
  /** path of the target BTF, or undefined when it is not on this machine */
  path: string | undefined;
}

export async function libbpfToolsTargets(corpus: string): Promise<ToolsTarget[]> {
  const f = (p: string) => (existsSync(p) ? p : undefined);
  return [
    { name: 'k612cloud', path: f(join(corpus, 'k612cloud/vmlinux.btf')) },
    { name: 'host618', path: f(join(corpus, 'host618/vmlinux.btf')) },
    { name: 'deb61', path: await debian61Btf() },
  ];
}

/** Compute libbpf's values for them on one target. */
export function libbpfToolsValues(oracle: string, objectsDir: string, names: string[], target: string): Map<string, OracleRelo[]> {
  const got = runOracle(oracle, target, names.map((n) => join(objectsDir, n)));
  return new Map(names.map((n) => [n, got.get(join(objectsDir, n))!]));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(repoRoot, 'scripts/core-oracle/libbpf-tools.ts')) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: libbpf-tools.ts OUTDIR');
    process.exit(2);
  }
  const oracle = buildOracle();
  if (!oracle.path) throw new Error(oracle.reason);
  const objs = libbpfToolsObjects();
  if (!objs.length) throw new Error('libbpf-tools is not installed (apt-get install libbpf-tools)');
  const odir = join(out, 'objects');
  mkdirSync(odir, { recursive: true });
  mkdirSync(join(out, 'values'), { recursive: true });
  for (const o of objs) writeFileSync(join(odir, o.name), o.bytes);
  const corpus = resolve(process.env.MODBTF_CORPUS ?? join(repoRoot, '../shared/corpus'));
  for (const t of await libbpfToolsTargets(corpus)) {
    if (!t.path) {
      console.error(`${t.name}: BTF not available, skipped`);
      continue;
    }
    const vals = libbpfToolsValues(oracle.path, odir, objs.map((o) => o.name), t.path);
    const btf = readFileSync(t.path);
    const doc = { target: t.name, btf: { describe: t.path, size: btf.length, sha256: sha256(btf) }, objects: Object.fromEntries(vals) };
    writeFileSync(join(out, 'values', `${t.name}.json`), `${JSON.stringify(doc)}\n`);
    const n = [...vals.values()].reduce((a, l) => a + l.length, 0);
    console.error(`${t.name}: ${objs.length} objects, ${n} relocations`);
  }
}
