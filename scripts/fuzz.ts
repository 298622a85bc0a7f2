/**
 * npm run fuzz -- [--seconds N] [--seed S]
 * Seeded, reproducible mutation fuzzing of modbtf over real inputs (the corpus when present,
 * else the project's fixtures). Fails on any exception that is not a ModbtfError, on an
 * input taking over 1 s, or on the heap growing past a bound. Failing inputs are written to
 * test/fixtures/fuzz/, where test/fuzz.test.ts replays them. Buffers allocated for one input
 * must stay under 64 MiB + 256 x its size; the `bomb` mutation (xz/zstd/gzip data expanding past
 * the limit, set to 8 MiB here) checks that decompression stops at the limit.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Btf } from '../src/btf/btf.js';
import { loadBaseBtf } from '../src/btf/load.js';
import { openInput } from '../src/module/index.js';
import { exercise } from '../test/fuzz/driver.js';
import { elfHeader, gzipBomb, zstdBomb } from '../test/bombs.js';
import { setDefaultMaxInputSize } from '../src/module/limits.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const seconds = opt('seconds', 30);
let seed = opt('seed', 1) >>> 0 || 1;
const outDir = join(root, 'test/fixtures/fuzz');

function rand(): number {
  // xorshift32: reproducible from --seed
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 0x100000000;
}
const ri = (n: number): number => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[ri(xs.length)]!;

// Bombs stop at this limit (as --max-input-size 8M): it keeps each input's buffers within the bound checked below.
const BOMB_LIMIT = 8 << 20;
setDefaultMaxInputSize(BOMB_LIMIT);

const corpus = process.env.MODBTF_CORPUS ?? resolve(root, '../shared/corpus');
const haveCorpus = existsSync(join(corpus, 'k612cloud/vmlinux.btf'));
const base: Btf = await loadBaseBtf(haveCorpus ? join(corpus, 'k612cloud/vmlinux.btf') : join(root, 'test/fixtures/k612/vmlinux.btf.xz'));

// ---- seeds: plain module ELFs, their .BTF, goldens, one compressed module
const seeds: Uint8Array[] = [];
const modDirs = haveCorpus ? [join(corpus, 'k612cloud/modules')] : [join(root, 'test/fixtures/k612/modules')];
for (const d of modDirs) {
  for (const f of readdirSync(d).filter((x) => x.endsWith('.ko.xz')).sort()) {
    const path = join(d, f);
    if (readFileSync(path).length > 200_000) continue; // keep inputs quick
    const input = await openInput(path);
    const elf = input.elf!;
    seeds.push(elf.bytes);
    const btf = elf.section('.BTF');
    if (btf) seeds.push(elf.data(btf).slice());
    if (seeds.length === 6) seeds.push(new Uint8Array(readFileSync(path)));
  }
}
const goldDir = haveCorpus ? join(corpus, 'k612cloud/golden') : join(root, 'test/fixtures/k612/golden');
for (const f of readdirSync(goldDir).filter((x) => x.endsWith('.raw')).sort().slice(0, 30)) seeds.push(new Uint8Array(readFileSync(join(goldDir, f))));
for (const f of existsSync(outDir) ? readdirSync(outDir).filter((x) => x.endsWith('.bin')) : []) seeds.push(new Uint8Array(readFileSync(join(outDir, f))));
// 2026-format BTF: 32-byte headers, a split with a kind layout section.
const dir2026 = join(root, 'test/fixtures/btf2026');
for (const f of readdirSync(dir2026).filter((x) => x.endsWith('.raw')).sort()) seeds.push(new Uint8Array(readFileSync(join(dir2026, f))));

// ---- mutations
const EXTREMES = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000];
type Mutator = (b: Uint8Array) => Uint8Array;
const u32At = (b: Uint8Array, at: number, v: number): void => {
  if (at + 4 <= b.length) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, v >>> 0, true);
};
const mutators: [string, Mutator][] = [
  ['bitflip', (b) => { const c = b.slice(); for (let i = 0, n = 1 + ri(8); i < n && c.length; i++) c[ri(c.length)]! ^= 1 << ri(8); return c; }],
  ['byte', (b) => { const c = b.slice(); if (c.length) c[ri(c.length)] = pick([0, 0xff, 0x7f, 0x80]); return c; }],
  ['u32', (b) => { const c = b.slice(); u32At(c, ri(Math.max(1, c.length - 3)) & ~3, pick(EXTREMES)); return c; }],
  ['truncate', (b) => b.slice(0, ri(b.length + 1))],
  ['splice', (b) => { const o = pick(seeds); const at = ri(b.length + 1); const from = ri(o.length + 1); const len = ri(Math.min(4096, o.length - from + 1)); return concat(b.subarray(0, at), o.subarray(from, from + len), b.subarray(Math.min(b.length, at + len))); }],
  ['btf-header', (b) => { const c = b.slice(); if (c[0] === 0x9f) u32At(c, pick([4, 8, 12, 16, 20]), pick([...EXTREMES, c.length, c.length - 24])); else u32At(c, ri(c.length) & ~3, pick(EXTREMES)); return c; }],
  ['btf-info', (b) => { const c = b.slice(); const at = 24 + (ri(Math.max(1, (c.length - 24) / 4)) * 4) + 4; u32At(c, at, (pick([1, 2, 3, 4, 5, 6, 13, 15, 19, 20, 31]) << 24) | pick([0, 1, 0xffff, 0x8000])); return c; }],
  ['btf-id', (b) => { const c = b.slice(); const at = 24 + ri(Math.max(1, (c.length - 24) / 4)) * 4; u32At(c, at, pick([0, 1, 2, 3, base.typeCount - 1, base.typeCount, base.typeCount + 5, 0xffffffff])); return c; }],
  ['cycle', (b) => { const c = b.slice(); const at = 24 + ri(Math.max(1, (c.length - 24) / 4)) * 4; u32At(c, at, base.typeCount + ri(64)); return c; }],
  ['elf-header', (b) => { const c = b.slice(); if (c[0] === 0x7f) { const f = pick([0x28, 0x3a, 0x3c, 0x3e, 4, 5, 0x10]); if (f === 0x28) u32At(c, f, pick([0, 64, c.length, c.length - 10, 0xffffffff])); else c[f] = pick([0, 1, 2, 0xff]); } return c; }],
  ['shdr', (b) => { const c = b.slice(); if (c[0] !== 0x7f || c.length < 64) return c; const dv = new DataView(c.buffer); const shoff = Number(dv.getBigUint64(0x28, true)); const n = dv.getUint16(0x3c, true); if (!n || shoff + n * 64 > c.length) return c; const at = shoff + ri(n) * 64 + pick([0, 4, 24, 32, 40]); u32At(c, at, pick([...EXTREMES, c.length])); return c; }],
  ['signature', (b) => concat(b, new Uint8Array(pick([0, 8, 12])), Uint8Array.of(0, 0, 2, 0, 0, 0, 0, 0, ri(256), ri(256), ri(256), ri(256)), new TextEncoder().encode('~Module signature appended~\n'))],
  // Decompression bombs: the input (or a bare ELF header) followed by far more zeros than the limit.
  ['bomb', (b) => {
    const head = b.length >= 64 && rand() < 0.5 ? b.subarray(0, 64 + ri(Math.min(4096, b.length - 63))) : elfHeader(pick([0, 4096, 8 << 20, BOMB_LIMIT - 64, 1 << 31]));
    const total = head.length + pick([BOMB_LIMIT, BOMB_LIMIT * 4, 1 << 30]);
    return concat(...(rand() < 0.7 ? zstdBomb(head, total, { contentSize: rand() < 0.3 }) : gzipBomb(head, Math.min(total, 64 << 20))));
  }],
  ['compress', (b) => { const tool = pick([['xz', '-c', '-0'], ['gzip', '-c'], ['zstd', '-q', '-c']]); const r = spawnSync(tool[0]!, tool.slice(1), { input: b.subarray(0, 65536) }); const c = new Uint8Array(r.stdout ?? new Uint8Array()); if (c.length > 8 && rand() < 0.7) c[8 + ri(c.length - 8)]! ^= 0xff; return c; }],
];
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

// ---- run
const codes = new Map<string, number>();
let runs = 0;
let slowest = { ms: 0, mutation: '' };
let failures = 0;
const t0 = Date.now();
const heap0 = process.memoryUsage().heapUsed;
function save(bytes: Uint8Array, why: string): string {
  const name = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  writeFileSync(join(outDir, `${name}.bin`), bytes);
  writeFileSync(join(outDir, `${name}.txt`), `${why}\n`);
  return name;
}
while (Date.now() - t0 < seconds * 1000) {
  let input = pick(seeds);
  const chain: string[] = [];
  for (let i = 0, n = 1 + ri(3); i < n; i++) {
    const [name, m] = pick(mutators);
    if (name === 'compress' && rand() < 0.9) continue; // spawning is slow: keep it rare
    if (name === 'bomb' && rand() < 0.8) continue; // a bomb decodes up to the limit: keep it rare
    input = m(input);
    chain.push(name);
  }
  const s = performance.now();
  const buffersBefore = process.memoryUsage().arrayBuffers;
  let outcome: string;
  try {
    outcome = await exercise(input, base);
  } catch (e) {
    failures++;
    const f = save(input, `${chain.join('+')}: ${e instanceof Error ? e.stack : String(e)}`);
    console.log(`FAIL ${f}: ${chain.join('+')}: ${e instanceof Error ? e.message : String(e)}`);
    outcome = 'CRASH';
  }
  const ms = performance.now() - s;
  // Buffers allocated for one input stay proportional to it (decompression included).
  const grew = process.memoryUsage().arrayBuffers - buffersBefore;
  if (grew > 64 * 1024 * 1024 + 256 * input.length) {
    failures++;
    console.log(`MEMORY ${save(input, `${chain.join('+')}: ${(grew / 1e6).toFixed(0)} MB of buffers`)}: ${(grew / 1e6).toFixed(0)} MB for a ${input.length}-byte input`);
  }
  if (ms > 1000) {
    failures++;
    console.log(`SLOW ${save(input, `${chain.join('+')}: ${ms.toFixed(0)} ms`)}: ${ms.toFixed(0)} ms`);
  }
  if (ms > slowest.ms) slowest = { ms, mutation: chain.join('+') };
  codes.set(outcome, (codes.get(outcome) ?? 0) + 1);
  runs++;
  if (runs % 500 === 0) {
    const grown = process.memoryUsage().heapUsed - heap0;
    if (grown > 1.5e9) {
      failures++;
      console.log(`MEMORY heap grew by ${(grown / 1e6).toFixed(0)} MB`);
      break;
    }
  }
}
console.log(`fuzz: ${runs} inputs in ${seconds} s (seed ${opt('seed', 1)}), ${seeds.length} seeds, ${failures} failures`);
console.log(`outcomes: ${[...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}`);
console.log(`distinct error codes: ${[...codes.keys()].filter((c) => c.startsWith('E_')).length}; slowest input ${slowest.ms.toFixed(1)} ms (${slowest.mutation})`);
process.exitCode = failures ? 1 : 0;
