#!/usr/bin/env node
// npm run bench [-- ROOT...]: modbtf's benchmark over ../shared/corpus, and over the whole module
// tree of each unpacked Debian kernel package ROOT given (scripts/kernel/fetch-debian-kernel.sh). Prints a markdown table, writes bench-results/bench.json, and checks
// the performance targets. Runs the built library (dist/) and CLI (bin/modbtf).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const lib = await import(join(root, 'dist/index.js'));
const corpusDir = process.env.MODBTF_CORPUS ?? resolve(root, '../shared/corpus');
if (!existsSync(join(corpusDir, 'k612cloud/vmlinux.btf'))) {
  console.error(`bench: ${corpusDir} not found (set MODBTF_CORPUS)`);
  process.exit(2);
}
const C = (...p) => join(corpusDir, ...p);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const bin = join(root, 'bin/modbtf');

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0] };
}
function timeIt(fn, runs = RUNS) {
  for (let i = 0; i < 3; i++) fn(); // warm-up
  const xs = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  return stats(xs);
}
function wall(cmd, args, runs = 10) {
  const xs = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    xs.push(performance.now() - t0);
  }
  return stats(xs);
}

const results = { machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version }, inProcess: {}, process: {}, batch: {}, targets: [] };
const rows = [];
const fmt = (x) => x.toFixed(2);

// ---- in-process
const vmRaw = new Uint8Array(await readFile(C('k612cloud/vmlinux.btf')));
const parse = timeIt(() => lib.Btf.parse(vmRaw));
results.inProcess.parseVmlinux = parse;
rows.push(['parse 6.12 vmlinux.btf (4.7 MB, 108k types)', fmt(parse.median), fmt(parse.min)]);
const vm = lib.Btf.parse(vmRaw);
const mods = ['crc7', 'af_key', 'nf_tables', 'kvm', 'xfs'];
let worstReconcile = 0;
for (const m of mods) {
  const input = await lib.openInput(C('k612cloud/modules', `${m}.ko.xz`));
  const raw = input.elf.data(input.elf.section('.BTF'));
  const split = lib.Btf.parse(raw, { base: vm });
  const d = timeIt(() => lib.distill(lib.Btf.parse(raw, { base: vm })));
  const dist = lib.distill(split);
  lib.relocate(dist.split, vm); // builds the target's name index once
  const r = timeIt(() => lib.relocate(dist.split, vm));
  worstReconcile = Math.max(worstReconcile, r.median);
  results.inProcess[m] = { types: split.nrTypes, distill: d, reconcile: r };
  rows.push([`distill ${m} (${split.nrTypes} types)`, fmt(d.median), fmt(d.min)]);
  rows.push([`reconcile ${m}`, fmt(r.median), fmt(r.min)]);
}

// ---- mapping standalone BTF (kvm, as pahole -J without a base would give it) onto vmlinux
{
  const input = await lib.openInput(C('k612cloud/modules/kvm.ko.xz'));
  const orig = lib.Btf.parse(input.elf.data(input.elf.section('.BTF')), { base: vm });
  const standalone = lib.toStandalone(orig);
  const t0 = performance.now();
  lib.mapOntoBase(standalone, vm); // builds the base's shape index once
  const first = performance.now() - t0;
  const m = timeIt(() => lib.mapOntoBase(standalone, vm), 10);
  results.inProcess.mapKvm = { standaloneTypes: standalone.nrTypes, first, ...m };
  rows.push([`map kvm onto vmlinux (${standalone.nrTypes} standalone types)`, fmt(m.median), fmt(m.min)]);
  rows.push(['  first run, building the vmlinux shape index', fmt(first), '']);
  const rel = lib.Btf.parse(new Uint8Array(await readFile(C('k612cloud/golden/kvm.reloc-k612.raw'))), { base: vm });
  const d = timeIt(() => lib.dedupAgainstBase(rel), 10);
  results.inProcess.dedupKvm = d;
  rows.push(['dedup reconciled kvm against vmlinux', fmt(d.median), fmt(d.min)]);
}

// ---- whole process
const tmp = mkdtempSync(join(tmpdir(), 'modbtf-bench-'));
const vmPath = C('k612cloud/vmlinux.btf');
const nodeNull = wall(process.execPath, ['-e', '0']);
spawnSync(bin, ['distill', '-B', vmPath, '-o', join(tmp, 'af_key.ko'), C('k612cloud/modules/af_key.ko.xz')], { stdio: 'ignore' });
// uncompressed inputs so the process time is modbtf's, not xz's
spawnSync('sh', ['-c', `xz -dc '${C('k612cloud/modules/af_key.ko.xz')}' > '${join(tmp, 'af_key.plain.ko')}'`]);
const distillProc = wall(process.execPath, [bin, 'distill', '--force', '-B', vmPath, '-o', join(tmp, 'out.ko'), join(tmp, 'af_key.plain.ko')]);
spawnSync(process.execPath, [bin, 'distill', '-B', vmPath, '-o', join(tmp, 'af_key.dist.ko'), join(tmp, 'af_key.plain.ko')], { stdio: 'ignore' });
const reconcileProc = wall(process.execPath, [bin, 'reconcile', '-k', vmPath, '-o', join(tmp, 'out2.ko'), join(tmp, 'af_key.dist.ko')]);
results.process = { nodeNull, distill: distillProc, reconcile: reconcileProc };
rows.push(['process: node -e 0', fmt(nodeNull.median), fmt(nodeNull.min)]);
rows.push(['process: modbtf distill af_key (.ko)', fmt(distillProc.median), fmt(distillProc.min)]);
rows.push(['process: modbtf reconcile af_key (.ko)', fmt(reconcileProc.median), fmt(reconcileProc.min)]);

// ---- batch: every module of the corpus, one run each
const dirs = [C('k612cloud/modules'), C('k612cloud/deps')];
const files = dirs.flatMap((d) => readdirSync(d, { recursive: true }).map(String).filter((f) => /\.ko(\.(xz|zst|gz))?$/.test(f)).map((f) => join(d, f)));
const batchDir = join(tmp, 'batch');
mkdirSync(batchDir);
function rssRun(args) {
  const script = `const { run } = await import(${JSON.stringify(join(root, 'dist/index.js'))});
const t0 = performance.now(); const rc = await run(${JSON.stringify(args)}, { out: () => {}, err: () => {} });
console.log(JSON.stringify({ rc, ms: performance.now() - t0, maxRssMB: process.resourceUsage().maxRSS / 1024 }));`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const wallMs = performance.now() - t0;
  const j = JSON.parse(r.stdout.trim().split('\n').pop());
  return { ...j, wallMs };
}
const dist = rssRun(['distill', '-B', vmPath, '--out-dir', batchDir, ...files]);
const distilled = readdirSync(batchDir).map((f) => join(batchDir, f));
const rec = rssRun(['reconcile', '-k', vmPath, ...distilled]);
const chk = rssRun(['check', '-k', vmPath, '-k', C('k612cloud-perm/vmlinux.btf'), '-k', C('host618/vmlinux.btf'), ...distilled.filter((f) => mods.length && f)]);
results.batch = { modules: files.length, distill: dist, reconcile: rec, check3: chk };
rows.push([`batch: distill ${files.length} modules (xz in and out)`, fmt(dist.wallMs), `rss ${dist.maxRssMB.toFixed(0)} MB`]);
rows.push([`batch: reconcile ${distilled.length} modules`, fmt(rec.wallMs), `rss ${rec.maxRssMB.toFixed(0)} MB`]);
rows.push([`batch: check ${distilled.length} modules x 3 kernels`, fmt(chk.wallMs), `rss ${chk.maxRssMB.toFixed(0)} MB`]);

// ---- a whole kernel's module tree: an unpacked Debian linux-image package given as argument
// (scripts/kernel/fetch-debian-kernel.sh DEST prints DEST/root/boot/vmlinuz-*; pass DEST/root)
let tree = null;
for (const rootDir of process.argv.slice(2)) {
  const boot = readdirSync(join(rootDir, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  const rel = boot.slice('vmlinuz-'.length);
  const src = join(rootDir, 'lib/modules', rel, 'kernel');
  const work = join(tmp, `tree-${rel}`);
  cpSync(src, work, { recursive: true });
  const kernelBtf = join(tmp, `${rel}.btf`);
  spawnSync(process.execPath, [bin, 'extract', join(rootDir, 'boot', boot), '-o', kernelBtf], { stdio: 'ignore' });
  const count = readdirSync(work, { recursive: true }).map(String).filter((f) => /\.ko(\.(xz|zst|gz))?$/.test(f)).length;
  const td = rssRun(['distill', '-r', '-B', kernelBtf, work]);
  const tr = rssRun(['reconcile', '-r', '-k', kernelBtf, work]);
  tree = { release: rel, modules: count, distill: td, reconcile: tr };
  rows.push([`tree ${rel}: distill ${count} modules (-r, ${cpus().length} workers)`, fmt(td.wallMs), `rss ${td.maxRssMB.toFixed(0)} MB`]);
  rows.push([`tree ${rel}: reconcile ${count} modules`, fmt(tr.wallMs), `rss ${tr.maxRssMB.toFixed(0)} MB`]);
}
results.batch.tree = tree;
rmSync(tmp, { recursive: true, force: true });
const minCore = await (await import('./bench/mincore.mjs')).benchMinCore({ root, corpusDir }); // bpftool gen min_core_btf side by side
if (minCore) { rows.push(...minCore.rows.map(([w, a, b]) => [w, fmt(a), b === '' ? '' : fmt(b)])); results.minCore = minCore.results; }

// ---- targets
const target = (name, value, limit) => results.targets.push({ name, value: Number(value.toFixed(2)), limit, ok: value <= limit });
target('parse 6.12 vmlinux.btf, ms', parse.median, 8);
target('distill xfs, ms', results.inProcess.xfs.distill.median, 8);
target('reconcile any corpus module (worst of 5), ms', worstReconcile, 5);
target('process reconcile minus node -e 0, ms', reconcileProc.median - nodeNull.median, 80);
target('check 53 modules x 3 kernels, ms', chk.wallMs, 2000);
target('map kvm onto 6.12 vmlinux, ms', results.inProcess.mapKvm.median, 200);
if (tree) {
  target(`distill whole tree (${tree.modules} modules), ms`, tree.distill.wallMs, 3000);
  target(`reconcile whole tree (${tree.modules} modules), ms`, tree.reconcile.wallMs, 3000);
  target('peak RSS of a tree run, MB', Math.max(tree.distill.maxRssMB, tree.reconcile.maxRssMB), 300);
}

for (const t of minCore?.targets ?? []) target(t.name, t.value, t.limit);
console.log(`\nmodbtf benchmark — ${results.machine.cpus} x ${results.machine.model}, ${results.machine.memGiB} GiB, node ${process.version}\n`);
console.log('| what | median ms | min ms |\n|---|---:|---:|');
for (const r of rows) console.log(`| ${r[0]} | ${r[1]} | ${r[2]} |`);
console.log('\n| target | measured | limit | |\n|---|---:|---:|---|');
for (const t of results.targets) console.log(`| ${t.name} | ${t.value} | ${t.limit} | ${t.ok ? 'ok' : 'MISSED'} |`);
mkdirSync(join(root, 'bench-results'), { recursive: true });
writeFileSync(join(root, 'bench-results/bench.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log('\nwritten: bench-results/bench.json');
