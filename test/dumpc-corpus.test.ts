/**
 * `format c` over the whole corpus: the 6.12 vmlinux (and its permuted copy),
 * the 6.18 vmlinux, every module with -B vmlinux, every distilled golden on its
 * distilled base. sha256 of bpftool 7.1's output is committed; bpftool itself
 * is compared live when installed.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { dumpC } from '../src/btf/dumpc.js';
import { loadBaseBtf, rawBtfOf } from '../src/btf/load.js';
import { openInput } from '../src/module/index.js';
import { corpus, fixture, haveCorpus } from './helpers.js';

const haveBpftool = spawnSync('bpftool', ['version']).status === 0;
const sha = (text: string): string => createHash('sha256').update(Buffer.from(text, 'latin1')).digest('hex');
const expected = new Map(readFileSync(fixture('dumpc/corpus.sha256'), 'utf8').trim().split('\n').map((l) => {
  const [h, name] = l.split(/\s+/);
  return [name!, h!];
}));

/** The first line where two headers differ, for a readable failure. */
function firstDiff(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return `line ${i + 1}: ${JSON.stringify(x[i])} vs bpftool ${JSON.stringify(y[i])}`;
  }
  return 'equal';
}

function bpftool(file: string, base?: string): string {
  const r = spawnSync('bpftool', ['btf', 'dump', 'file', file, ...(base ? ['-B', base] : []), 'format', 'c'], { encoding: 'latin1', maxBuffer: 1 << 28 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

const modules = haveCorpus ? readdirSync(corpus('k612cloud/modules')).filter((f) => f.endsWith('.ko.xz')).map((f) => f.slice(0, -6)).sort() : [];

describe.skipIf(!haveCorpus)('format c on the corpus', () => {
  it('expectations cover every corpus module', () => {
    expect(modules.length).toBe(53);
    for (const m of modules) {
      expect(expected.has(`k612cloud/modules/${m}.h`), m).toBe(true);
      expect(expected.has(`k612cloud/golden/${m}.distilled.h`), m).toBe(true);
    }
  });

  for (const k of ['k612cloud', 'k612cloud-perm', 'host618']) {
    it(`${k}/vmlinux.btf: the header bpftool prints`, async () => {
      const text = dumpC(await loadBaseBtf(corpus(k, 'vmlinux.btf')));
      expect(sha(text)).toBe(expected.get(`${k}/vmlinux.h`));
      if (haveBpftool && k !== 'k612cloud-perm') {
        const want = bpftool(corpus(k, 'vmlinux.btf'));
        if (text !== want) expect.fail(firstDiff(text, want));
      }
    });
  }

  it('every module with -B vmlinux', async () => {
    const vm = await loadBaseBtf(corpus('k612cloud/vmlinux.btf'));
    for (const m of modules) {
      const btf = Btf.parse(rawBtfOf(await openInput(corpus('k612cloud/modules', `${m}.ko.xz`))), { base: vm });
      expect(sha(dumpC(btf)), m).toBe(expected.get(`k612cloud/modules/${m}.h`));
    }
  }, 600_000);

  it('every distilled golden on its distilled base', () => {
    for (const m of modules) {
      const base = Btf.parse(readFileSync(corpus('k612cloud/golden', `${m}.base.raw`)));
      const split = Btf.parse(readFileSync(corpus('k612cloud/golden', `${m}.split.raw`)), { base });
      expect(sha(dumpC(split)), m).toBe(expected.get(`k612cloud/golden/${m}.distilled.h`));
    }
  });

  it.skipIf(!haveBpftool)('modules with -B, live against bpftool', async () => {
    const vm = await loadBaseBtf(corpus('k612cloud/vmlinux.btf'));
    for (const m of ['nf_tables', 'xfs', 'bcachefs']) {
      const input = await openInput(corpus('k612cloud/modules', `${m}.ko.xz`));
      const btf = Btf.parse(rawBtfOf(input), { base: vm });
      const text = dumpC(btf);
      const raw = join(tmpdir(), `modbtf-dumpc-${process.pid}-${m}.btf`);
      writeFileSync(raw, rawBtfOf(input));
      try {
        const want = bpftool(raw, corpus('k612cloud/vmlinux.btf'));
        if (text !== want) expect.fail(`${m}: ${firstDiff(text, want)}`);
      } finally {
        rmSync(raw, { force: true });
      }
    }
  }, 300_000);
});
