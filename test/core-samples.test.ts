/**
 * The CO-RE sample programs (samples/bpf) and what libbpf and bpftool make of them
 * (test/fixtures/core, written by scripts/core-oracle/gen-sample-expectations.ts):
 * - always: the committed objects, their .BTF.ext records and the expectations agree with each
 *   other (every relocation of every object has an expectation, at its instruction, of its kind);
 * - with the corpus: the expectations were made from these very kernels (sha256);
 * - with clang >= 15, bpftool or gcc + libbpf-dev: the objects, min_core_btf outputs and libbpf's
 *   values are made again and compared byte for byte;
 * - the CO-RE engine (resolveCoreRelocations, minCoreBtf): its values and min-core bytes equal them
 *   on every target BTF present.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { RELO_KIND_NAMES, buildOracle, debian61Btf, fillFromBtfExt, mergeSplit, readBtf, runOracle, sha256, type OracleRelo } from '../scripts/core-oracle/oracle.js';
import { minCoreBtf, readBpfObject, resolveCoreRelocations, type BpfObject } from '../src/index.js';
import { asOracle, coreRelos, expectEngineEquals, expectSameOnMinimized } from './core-helpers.js';
import { corpus, fixture, haveCorpus, repoRoot } from './helpers.js';

const samplesDir = join(repoRoot, 'samples/bpf');
const sources = readdirSync(samplesDir).filter((f) => f.endsWith('.bpf.c')).sort();
const objects = readdirSync(samplesDir).filter((f) => f.endsWith('.bpf.o')).sort();
const valuesDir = fixture('core/values');
const targetNames = readdirSync(valuesDir).map((f) => f.replace(/\.json$/, '')).sort();

interface ValuesDoc {
  target: string;
  btf: { describe: string; size: number; sha256: string };
  objects: Record<string, OracleRelo[]>;
}
interface MinCoreRuns {
  bpftool: string;
  runs: Record<string, { objects: string[]; exit: number; stderr?: string; sha256?: string; size?: number }>;
}
const values = (t: string): ValuesDoc => JSON.parse(readFileSync(join(valuesDir, `${t}.json`), 'utf8')) as ValuesDoc;
const minRuns = (t: string): MinCoreRuns => JSON.parse(readFileSync(fixture('core/mincore', t, 'results.json'), 'utf8')) as MinCoreRuns;

const tmp: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'modbtf-core-samples-'));
  tmp.push(d);
  return d;
};
afterAll(() => {
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

/** Target BTF bytes as the expectations were made: corpus files, Debian 6.1, merged module. */
async function targetBtf(t: string): Promise<Uint8Array | undefined> {
  if (t === 'deb61') {
    const p = await debian61Btf();
    return p ? readFileSync(p) : undefined;
  }
  if (!haveCorpus) return undefined;
  const [kernel, mod] = t.split('+') as [string, string | undefined];
  const vmlinux = readFileSync(corpus(kernel, 'vmlinux.btf'));
  return mod ? mergeSplit(vmlinux, await readBtf(corpus(kernel, 'modules', `${mod}.ko.xz`))) : vmlinux;
}

describe('CO-RE samples: committed objects and expectations', () => {
  it('every sample source has its built object and no object lacks a source', () => {
    expect(objects).toEqual(sources.map((s) => s.replace(/\.c$/, '.o')));
    expect(objects.length).toBeGreaterThanOrEqual(7);
  });

  it('the expectations cover every CO-RE record of every object, at its instruction and of its kind', () => {
    for (const t of targetNames) {
      const doc = values(t);
      expect(doc.target).toBe(t);
      for (const [obj, relos] of Object.entries(doc.objects)) {
        const recs = coreRelos(join(samplesDir, obj));
        const total = [...recs.values()].reduce((n, l) => n + l.length, 0);
        expect(relos.length, `${t} ${obj}`).toBe(total);
        for (const r of relos) {
          const rec = recs.get(r.sec)?.[r.relo];
          expect(rec, `${t} ${obj} ${r.sec} #${r.relo}`).toBeDefined();
          expect(r.kind).toBe(RELO_KIND_NAMES[rec!.kind]);
          if (r.insn_off !== undefined) expect(r.insn_off).toBe(rec!.insnOff);
          // libbpf names the relocation unless it stopped at the candidate search (anonymous root)
          if (r.local) expect(r.local).toMatch(new RegExp(`^<${r.kind}> \\[${rec!.typeId}\\] `));
          else expect(r.error).toBe(`target candidate search failed for [${rec!.typeId}] ${r.kind.startsWith('enum') ? 'enum' : 'struct'} : -22`);
          if (r.result === 'ok') expect(r.value).toBeDefined();
          if (r.result === 'error') expect(r.error).toMatch(/ambigu|candidate search failed/);
        }
      }
    }
  });

  it('the samples exercise every relocation kind, and success, poison and refusal', () => {
    const doc = values('k612cloud');
    const all = Object.values(doc.objects).flat();
    expect(new Set(all.map((r) => r.kind))).toEqual(new Set(RELO_KIND_NAMES));
    expect(new Set(all.map((r) => r.result))).toEqual(new Set(['ok', 'poison', 'error']));
    // module types: no candidate in vmlinux, resolved in vmlinux + module
    const alone = doc.objects['xfs.bpf.o']!.find((r) => r.local.includes('struct xfs_inode.i_ino'))!;
    const merged = values('k612cloud+xfs').objects['xfs.bpf.o']!.find((r) => r.local.includes('struct xfs_inode.i_ino'))!;
    expect(alone.result).toBe('poison');
    expect(merged).toMatchObject({ result: 'ok', value: 32 });
    // enum64 values above 2^53 are kept exact
    expect(doc.objects['enums.bpf.o']!.find((r) => r.local.includes('PERF_CONTEXT_USER'))!.value).toBe('18446744073709551104');
  });

  it('committed min_core_btf outputs are the ones bpftool wrote (sha256) and parse as BTF', () => {
    for (const t of targetNames) {
      const m = minRuns(t);
      expect(m.bpftool).toMatch(/^bpftool v/);
      for (const [name, run] of Object.entries(m.runs)) {
        const file = fixture('core/mincore', t, `${name}.btf`);
        if (run.exit !== 0) {
          expect(existsSync(file)).toBe(false);
          continue;
        }
        const b = readFileSync(file);
        expect(sha256(b), `${t}/${name}`).toBe(run.sha256);
        expect(Btf.parse(b, { file }).typeCount).toBeGreaterThan(0);
      }
    }
  });
});

describe.skipIf(!haveCorpus)('CO-RE samples: expectations belong to the corpus kernels', () => {
  it('target BTF sha256 as recorded', async () => {
    for (const t of targetNames.filter((n) => n !== 'deb61')) {
      const b = (await targetBtf(t))!;
      expect(sha256(b), t).toBe(values(t).btf.sha256);
    }
  });
});

const clang = ['clang-16', 'clang-19', 'clang-15'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
const clangMajor = clang ? Number(/version (\d+)/.exec(spawnSync(clang, ['--version'], { encoding: 'utf8' }).stdout)?.[1]) : 0;
describe.skipIf(clangMajor !== 16)('CO-RE samples: rebuilt with clang-16, byte-identical', () => {
  it('make gives the committed objects', () => {
    const d = tempDir();
    cpSync(samplesDir, d, { recursive: true, filter: (src) => !src.endsWith('.bpf.o') });
    const r = spawnSync('make', ['-s', '-C', d, `CLANG=${clang}`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    for (const o of objects) expect(sha256(readFileSync(join(d, o))), o).toBe(sha256(readFileSync(join(samplesDir, o))));
  });
});

const haveBpftool = spawnSync('bpftool', ['version'], { stdio: 'ignore' }).status === 0;
describe.skipIf(!haveBpftool || !haveCorpus)('CO-RE samples: bpftool gen min_core_btf again', () => {
  it('same bytes and the same failures as committed', async () => {
    const d = tempDir();
    for (const t of targetNames) {
      const b = await targetBtf(t);
      if (!b) continue;
      const target = join(d, `${t}.btf`);
      writeFileSync(target, b);
      for (const [name, run] of Object.entries(minRuns(t).runs)) {
        const out = join(d, `${t}-${name}.btf`);
        const r = spawnSync('bpftool', ['gen', 'min_core_btf', target, out, ...run.objects.map((o) => join(samplesDir, o))], { encoding: 'utf8' });
        expect(r.status, `${t}/${name}: ${r.stderr}`).toBe(run.exit);
        if (run.exit === 0) expect(sha256(readFileSync(out)), `${t}/${name}`).toBe(run.sha256);
      }
    }
  });
});

const oracle = buildOracle();
describe.skipIf(!oracle.path || !haveCorpus)('CO-RE samples: libbpf computes the committed values', () => {
  it('core-oracle on 6.12 and 6.12+xfs gives the committed expectations', async () => {
    const d = tempDir();
    for (const t of ['k612cloud', 'k612cloud+xfs']) {
      const target = join(d, `${t}.btf`);
      writeFileSync(target, (await targetBtf(t))!);
      const doc = values(t);
      const objs = Object.keys(doc.objects);
      const got = runOracle(oracle.path!, target, objs.map((o) => join(samplesDir, o)));
      for (const o of objs) {
        const list = got.get(join(samplesDir, o))!;
        fillFromBtfExt(list, readFileSync(join(samplesDir, o)), o);
        expect(list, `${t} ${o}`).toEqual(doc.objects[o]);
      }
    }
  });
});

// ------------------------------------------------------------------ the CO-RE engine

const sample = (o: string): BpfObject => readBpfObject(readFileSync(join(samplesDir, o)), o);

describe('CO-RE engine: resolveCoreRelocations equals libbpf on the samples', () => {
  for (const t of targetNames) {
    it(`${t}`, async (ctx) => {
      const b = await targetBtf(t);
      if (!b) return ctx.skip();
      const target = Btf.parse(b, { file: t });
      for (const [o, want] of Object.entries(values(t).objects)) {
        expectEngineEquals(resolveCoreRelocations(sample(o), target), want, `${t} ${o}`);
      }
    });
  }
});

describe('CO-RE engine: minCoreBtf equals bpftool gen min_core_btf on the samples', () => {
  for (const t of targetNames) {
    it(`${t}`, async (ctx) => {
      const b = await targetBtf(t);
      if (!b) return ctx.skip();
      const kernel = Btf.parse(b, { file: t });
      for (const [name, run] of Object.entries(minRuns(t).runs)) {
        const objs = run.objects.map(sample);
        if (run.exit !== 0) {
          expect(() => minCoreBtf(kernel, objs), `${t}/${name}`).toThrow(run.stderr!.includes('ambiguity') ? /ambigu/ : /./);
          continue;
        }
        const got = minCoreBtf(kernel, objs).bytes;
        expect(Buffer.from(got).equals(readFileSync(fixture('core/mincore', t, `${name}.btf`))), `${t}/${name}`).toBe(true);
      }
    });
  }
});

describe('CO-RE on minimized BTF: the same values as on the full BTF', () => {
  // test/fixtures/core/mincore/<kernel>/all.btf is bpftool's min-core BTF for these objects
  const kernels = ['k612cloud', 'host618', 'deb61'];

  it('resolveCoreRelocations against bpftool\'s minimized BTF (no corpus needed)', () => {
    for (const t of kernels) {
      const min = Btf.parse(readFileSync(fixture('core/mincore', t, 'all.btf')), { file: `${t}/all.btf` });
      for (const o of minRuns(t).runs.all!.objects) {
        expectSameOnMinimized(values(t).objects[o]!, asOracle(resolveCoreRelocations(sample(o), min)), `${t} ${o}`);
      }
    }
  });

  it.skipIf(!oracle.path)('libbpf against bpftool\'s minimized BTF', () => {
    for (const t of kernels) {
      const objs = minRuns(t).runs.all!.objects;
      const got = runOracle(oracle.path!, fixture('core/mincore', t, 'all.btf'), objs.map((o) => join(samplesDir, o)));
      for (const o of objs) expectSameOnMinimized(values(t).objects[o]!, got.get(join(samplesDir, o))!, `${t} ${o}`);
    }
  });
});
