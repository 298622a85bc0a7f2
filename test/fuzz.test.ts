/** Every input the fuzzer ever found a bug with stays fixed: it must end in ok or a ModbtfError. */
import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Btf } from '../src/btf/btf.js';
import { loadBaseBtf } from '../src/btf/load.js';
import { exercise } from './fuzz/driver.js';
import { fixture } from './helpers.js';

const files = readdirSync(fixture('fuzz')).filter((f) => f.endsWith('.bin')).sort();

describe('fuzz regressions', () => {
  let base: Btf;
  beforeAll(async () => {
    base = await loadBaseBtf(fixture('k612/vmlinux.btf.xz'));
  });
  it('has regression inputs', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const f of files) {
    it(f, async () => {
      const why = readFileSync(fixture('fuzz', f.replace(/\.bin$/, '.txt')), 'utf8').split('\n')[0];
      const t0 = performance.now();
      const outcome = await exercise(new Uint8Array(readFileSync(fixture('fuzz', f))), base);
      expect(outcome, why).toMatch(/^(ok|not-distilled|E_[A-Z_0-9]+)$/);
      expect(performance.now() - t0).toBeLessThan(5000);
    });
  }
});
