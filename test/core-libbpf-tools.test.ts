/**
 * Debian's libbpf-tools as CO-RE test data no one here wrote: every BPF object embedded in the
 * package's tools, relocated by libbpf itself (scripts/core-oracle) against 6.12, 6.18 (corpus)
 * and Debian's 6.1 (when scripts/kernel/fetch-debian-kernel.sh has cached it). The expectations are
 * computed here, at test time, and resolveCoreRelocations must give the same values, on the full
 * BTF and on the min-core BTF of all the objects.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { libbpfToolsTargets, libbpfToolsValues } from '../scripts/core-oracle/libbpf-tools.js';
import { buildOracle, libbpfToolsObjects, type OracleRelo } from '../scripts/core-oracle/oracle.js';
import { CandidateIndex, minCoreBtf, readBpfObject, resolveCoreRelocations } from '../src/index.js';
import { asOracle, coreRelos, expectEngineEquals, expectSameOnMinimized } from './core-helpers.js';
import { corpusDir, haveCorpus } from './helpers.js';

const oracle = buildOracle();
const tools = libbpfToolsObjects();
const reason = !tools.length ? 'libbpf-tools not installed' : !oracle.path ? oracle.reason : !haveCorpus ? 'no corpus' : '';
if (reason) console.log(`note: libbpf-tools CO-RE values skipped: ${reason}`);

describe.skipIf(reason !== '')('libbpf-tools: libbpf\'s CO-RE values, computed now', async () => {
  const targets = (await libbpfToolsTargets(corpusDir)).filter((t) => t.path);
  let dir = '';
  const values = new Map<string, Map<string, OracleRelo[]>>();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'modbtf-libbpf-tools-'));
    for (const o of tools) writeFileSync(join(dir, o.name), o.bytes);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const valuesOn = (name: string, path: string) => {
    let v = values.get(name);
    if (!v) {
      v = libbpfToolsValues(oracle.path!, dir, tools.map((o) => o.name), path);
      values.set(name, v);
    }
    return v;
  };

  for (const t of targets) {
    it(`${t.name}: every CO-RE record of every embedded object relocated by libbpf`, () => {
      const v = valuesOn(t.name, t.path!);
      let total = 0;
      for (const o of tools) {
        const recs = coreRelos(o.name, o.bytes);
        const n = [...recs.values()].reduce((a, l) => a + l.length, 0);
        const got = v.get(o.name)!;
        expect(got.length, o.name).toBe(n);
        for (const r of got) {
          expect(['ok', 'poison'], `${o.name} ${r.sec} #${r.relo} ${r.local} ${r.error ?? ''}`).toContain(r.result);
          expect(r.insn_off, `${o.name} ${r.sec} #${r.relo}`).toBe(recs.get(r.sec)![r.relo]!.insnOff);
        }
        total += n;
      }
      expect(tools.length).toBeGreaterThanOrEqual(50);
      expect(total).toBeGreaterThanOrEqual(500);
    });

    it(`${t.name}: resolveCoreRelocations equals libbpf`, () => {
      const v = valuesOn(t.name, t.path!);
      const target = Btf.parse(readFileSync(t.path!), { file: t.path! });
      const candidates = new CandidateIndex(target);
      for (const o of tools) expectEngineEquals(resolveCoreRelocations(readBpfObject(o.bytes, o.name), target, { candidates }), v.get(o.name)!, `${t.name} ${o.name}`);
    });

    it(`${t.name}: on the min-core BTF of all the objects, libbpf and the engine give the same values as on the full BTF`, () => {
      const v = valuesOn(t.name, t.path!);
      const objs = tools.map((o) => readBpfObject(o.bytes, o.name));
      const min = minCoreBtf(Btf.parse(readFileSync(t.path!), { file: t.path! }), objs);
      const minPath = join(dir, `${t.name}.min.btf`);
      writeFileSync(minPath, min.bytes);
      const onMin = libbpfToolsValues(oracle.path!, dir, tools.map((o) => o.name), minPath);
      tools.forEach((o, i) => {
        expectSameOnMinimized(v.get(o.name)!, onMin.get(o.name)!, `libbpf ${t.name} ${o.name}`);
        expectSameOnMinimized(v.get(o.name)!, asOracle(resolveCoreRelocations(objs[i]!, min.btf)), `engine ${t.name} ${o.name}`);
      });
    });
  }
});
