#!/usr/bin/env node
// npm run bench [-- ROOT...]: modbtf's benchmark over ../shared/corpus, and over the whole module
// tree of each unpacked Debian kernel package ROOT given (scripts/kernel/fetch-debian-kernel.sh). Prints a markdown table, writes bench-results/bench.json, and checks
// the performance targets. Runs the built library (dist/) and CLI (bin/modbtf).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, homedir, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';

// Node loads the certificates NODE_EXTRA_CA_CERTS names at every start-up (about 90 ms for a
// system bundle); bin/modbtf's launcher drops the variable, and so does every process timed
// here (node -e 0, bpftool, the C reference), so that Node's start-up is measured as modbtf gets it.
delete process.env.NODE_EXTRA_CA_CERTS;

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

/**
 * Build scripts/bench/ref.c against libbpf >= 1.5: LIBBPF_DIR (an unpacked libbpf-dev: include/ or
 * usr/include/, and a libbpf.a below it), else the copy scripts/bench/fetch-libbpf.sh unpacks in
 * ~/.cache/modbtf (fetched on first use unless BENCH_NO_FETCH=1), else the system's. Null when
 * there is no C compiler or no such libbpf.
 */
function buildReference(dir) {
  const cc = process.env.CC ?? 'cc';
  if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) return null;
  const versionOf = (inc) => {
    const h = join(inc, 'bpf/libbpf_version.h');
    if (!existsSync(h)) return null;
    const t = readFileSync(h, 'utf8');
    const v = (n) => Number(t.match(new RegExp(`LIBBPF_${n}_VERSION\\s+(\\d+)`))?.[1] ?? 0);
    return { major: v('MAJOR'), minor: v('MINOR') };
  };
  const fromDir = (d) => {
    const inc = ['usr/include', 'include'].map((x) => join(d, x)).find((x) => existsSync(join(x, 'bpf/btf.h')));
    const archive = existsSync(d) && readdirSync(d, { recursive: true }).map(String).find((f) => f.endsWith('/libbpf.a') || f === 'libbpf.a');
    return inc && archive ? { inc, link: [join(d, archive)], version: versionOf(inc) } : null;
  };
  const cacheDir = join(process.env.MODBTF_CACHE ?? join(homedir(), '.cache/modbtf'), 'libbpf-trixie');
  const candidates = [];
  if (process.env.LIBBPF_DIR) candidates.push(() => fromDir(process.env.LIBBPF_DIR));
  candidates.push(() => fromDir(cacheDir));
  candidates.push(() => (versionOf('/usr/include') ? { inc: '/usr/include', link: ['-lbpf'], version: versionOf('/usr/include') } : null));
  candidates.push(() => {
    if (process.env.BENCH_NO_FETCH === '1' || process.env.LIBBPF_DIR) return null;
    spawnSync('sh', [join(root, 'scripts/bench/fetch-libbpf.sh'), cacheDir], { stdio: 'ignore' });
    return fromDir(cacheDir);
  });
  for (const c of candidates) {
    const lib = c();
    if (!lib || !lib.version || lib.version.major < 1 || (lib.version.major === 1 && lib.version.minor < 5)) continue;
    const out = join(dir, 'ref');
    const r = spawnSync(cc, ['-O2', '-DREF_C23_SHIMS', `-I${lib.inc}`, '-o', out, join(root, 'scripts/bench/ref.c'), ...lib.link, '-lelf', '-lz'], { encoding: 'utf8' });
    if (r.status === 0) return { path: out, libbpf: `${lib.version.major}.${lib.version.minor} (${lib.inc})` };
    console.error(`bench: building the C reference failed:\n${r.stderr}`);
  }
  return null;
}

const results = { machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version }, inProcess: {}, process: {}, batch: {}, targets: [] };
const rows = [];
const fmt = (x) => x.toFixed(2);

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-bench-'));
const vmPath = C('k612cloud/vmlinux.btf');
// BENCH_ONLY=side: only the side-by-side comparison with the C reference
const sideOnly = process.env.BENCH_ONLY === 'side';
const target = (name, value, limit) => results.targets.push({ name, value: Number(value.toFixed(2)), limit, ok: value <= limit });
if (!sideOnly) {
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
const nodeNull = wall(process.execPath, ['-e', '0']);
spawnSync(bin, ['distill', '-B', vmPath, '-o', join(tmp, 'af_key.ko'), C('k612cloud/modules/af_key.ko.xz')], { stdio: 'ignore' });
// uncompressed inputs so the process time is modbtf's, not xz's
spawnSync('sh', ['-c', `xz -dc '${C('k612cloud/modules/af_key.ko.xz')}' > '${join(tmp, 'af_key.plain.ko')}'`]);
const distillProc = wall(bin, ['distill', '--force', '-B', vmPath, '-o', join(tmp, 'out.ko'), join(tmp, 'af_key.plain.ko')]);
spawnSync(process.execPath, [bin, 'distill', '-B', vmPath, '-o', join(tmp, 'af_key.dist.ko'), join(tmp, 'af_key.plain.ko')], { stdio: 'ignore' });
const reconcileProc = wall(bin, ['reconcile', '-k', vmPath, '-o', join(tmp, 'out2.ko'), join(tmp, 'af_key.dist.ko')]);
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

// ---- targets of the in-process and batch figures
target('parse 6.12 vmlinux.btf, ms', parse.median, 8);
target('distill xfs, ms', results.inProcess.xfs.distill.median, 8);
target('reconcile any corpus module (worst of 5), ms', worstReconcile, 5);
target('process reconcile minus node -e 0, ms', reconcileProc.median - nodeNull.median, 80);
target('check 53 modules x 3 kernels, ms', chk.wallMs, 2000);
target('map kvm onto 6.12 vmlinux, ms', results.inProcess.mapKvm.median, 200);
}

// ---- side by side with libbpf: the C reference (scripts/bench/ref.c) doing the same work in one
// process, measured in the same run, runs alternating so that load on the machine hits both alike.
// Inputs are plain .ko files, so that neither side measures xz.
const side = { reference: null, workloads: [] };
results.sideBySide = side;
const refBin = buildReference(tmp);
side.reference = refBin ? { libbpf: refBin.libbpf } : null;
const SIDE_RUNS = Number(process.env.BENCH_SIDE_RUNS ?? 5);
const TREE_RUNS = Number(process.env.BENCH_TREE_RUNS ?? 3);
const plainDir = join(tmp, 'plain');
mkdirSync(plainDir);
const corpusMods = readdirSync(C('k612cloud/modules')).filter((f) => f.endsWith('.ko.xz')).sort()
  .map((f) => {
    const out = join(plainDir, f.slice(0, -3));
    writeFileSync(out, spawnSync('xz', ['-dc', C('k612cloud/modules', f)], { maxBuffer: 1 << 30 }).stdout);
    return out;
  });
const sideWork = [{ name: `${corpusMods.length} corpus modules (6.12)`, kernel: vmPath, files: corpusMods, runs: SIDE_RUNS, batch: true }];
const cache = process.env.MODBTF_CACHE ?? join(homedir(), '.cache/modbtf');
const fetchKernel = (dir, pkg) => {
  const args = [join(root, 'scripts/kernel/fetch-debian-kernel.sh'), dir];
  if (pkg) args.push(pkg);
  const r = spawnSync('sh', args, { encoding: 'utf8' });
  return r.status === 0 ? join(dir, 'root') : null;
};
const kernelTree = (rootDir) => {
  const boot = readdirSync(join(rootDir, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  const rel = boot.slice('vmlinuz-'.length);
  const btf = join(tmp, `${rel}.btf`);
  spawnSync(process.execPath, [bin, 'extract', join(rootDir, 'boot', boot), '-o', btf], { stdio: 'ignore' });
  const files = readdirSync(join(rootDir, 'lib/modules', rel), { recursive: true }).map(String)
    .filter((f) => f.endsWith('.ko')).sort().map((f) => join(rootDir, 'lib/modules', rel, f));
  return { rel, btf, files };
};
// A 1,000+ module tree: the roots given as arguments, else Debian's cloud kernel package (fetched once).
const trees = process.argv.slice(2);
if (!trees.length && process.env.BENCH_NO_FETCH !== '1') {
  const r = fetchKernel(join(cache, 'cloud'));
  if (r) trees.push(r);
  else console.error('bench: could not fetch linux-image-cloud-amd64 (apt-get download); no whole-tree figures');
}
for (const t of trees) {
  const k = kernelTree(t);
  sideWork.push({ name: `Debian ${k.rel} tree (${k.files.length} modules)`, kernel: k.btf, files: k.files, runs: TREE_RUNS, batch: true });
}
// One big module: amdgpu.ko from Debian's generic kernel package.
if (process.env.BENCH_NO_FETCH !== '1') {
  const pkg = spawnSync('sh', ['-c', "apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \\(linux-image-[0-9].*\\)$/\\1/p' | head -1"], { encoding: 'utf8' }).stdout.trim();
  const r = pkg ? fetchKernel(join(cache, 'generic'), pkg) : null;
  const k = r ? kernelTree(r) : null;
  const amdgpu = k?.files.find((f) => f.endsWith('/amdgpu.ko'));
  if (amdgpu) sideWork.push({ name: `amdgpu.ko (${(statSync(amdgpu).size / 2 ** 20).toFixed(0)} MB, ${k.rel})`, kernel: k.btf, files: [amdgpu], runs: SIDE_RUNS + 2, batch: false });
  else console.error('bench: could not fetch linux-image-amd64 for amdgpu.ko; no big-module figures');
}

/** Wall time and peak RSS of one process (GNU time's %M). */
function timed(cmd, args) {
  const rssFile = join(tmp, 'rss');
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 4).join(' ')} ... exited ${r.status}: ${r.stderr.slice(0, 400)}`);
  return { ms, rssMB: Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024 };
}
const median = (xs) => stats(xs).median;
const hasTime = existsSync('/usr/bin/time');
function sideBySide(w, op, inputs) {
  const outM = join(tmp, 'out-modbtf');
  const outC = join(tmp, 'out-ref');
  for (const d of [outM, outC]) { rmSync(d, { recursive: true, force: true }); mkdirSync(d); }
  const kflag = op === 'distill' ? '-B' : '-k';
  // bin/modbtf run as the installed command is (its #! line sets Node's options)
  const m = [op, kflag, w.kernel, '--out-dir', outM, ...inputs];
  const c = [op, w.kernel, outC, ...inputs];
  const run = (cmd, args) => (hasTime ? timed(cmd, args) : { ms: wall(cmd, args, 1).median, rssMB: NaN });
  run(bin, m); // warm the page cache for both
  if (refBin) run(refBin.path, c);
  const ms = []; const cs = []; const ratios = []; const nodes = []; let rss = 0; let crss = 0;
  for (let i = 0; i < w.runs; i++) {
    // alternate the order so neither side always runs right after the other
    const first = i % 2 === 0;
    let a; let b;
    if (!refBin) a = run(bin, m);
    else if (first) { a = run(bin, m); b = run(refBin.path, c); } else { b = run(refBin.path, c); a = run(bin, m); }
    ms.push(a.ms); rss = Math.max(rss, a.rssMB);
    if (b) { cs.push(b.ms); crss = Math.max(crss, b.rssMB); ratios.push(a.ms / b.ms); }
    if (!w.batch) nodes.push(wall(process.execPath, ['-e', '0'], 1).median);
  }
  const largest = Math.max(statSync(w.kernel).size, ...inputs.map((f) => statSync(f).size)) / 2 ** 20;
  return {
    workload: w.name, op, modules: inputs.length, runs: w.runs,
    modbtfMs: median(ms), refMs: refBin ? median(cs) : null, ratio: refBin ? median(ratios) : null,
    nodeMs: nodes.length ? median(nodes) : null, modbtfRssMB: rss, refRssMB: refBin ? crss : null, largestInputMB: largest,
    outputs: outM,
  };
}
for (const w of sideWork) {
  const d = sideBySide(w, 'distill', w.files);
  // reconcile the distilled outputs (the same bytes either side would distill to)
  const distDir = join(tmp, 'distilled');
  rmSync(distDir, { recursive: true, force: true });
  renameSync(d.outputs, distDir);
  const inputs = readdirSync(distDir).sort().map((f) => join(distDir, f));
  const r = sideBySide(w, 'reconcile', inputs);
  for (const x of [d, r]) { delete x.outputs; side.workloads.push(x); }
}

// ---- targets
rmSync(tmp, { recursive: true, force: true });
const sideTargets = [];
for (const x of side.workloads) {
  const rssLimit = 2 * x.largestInputMB + 100;
  if (x.nodeMs === null) {
    if (x.ratio !== null) sideTargets.push({ name: `${x.op} ${x.workload}: modbtf / C`, value: x.ratio, limit: 1.5, unit: 'x' });
  } else if (x.refMs !== null) {
    sideTargets.push({ name: `${x.op} ${x.workload}: modbtf ms, limit node start-up + 2 x C`, value: x.modbtfMs, limit: x.nodeMs + 2 * x.refMs, unit: 'ms' });
  }
  sideTargets.push({ name: `${x.op} ${x.workload}: peak RSS MB, limit 2 x largest input + 100`, value: x.modbtfRssMB, limit: rssLimit, unit: 'MB' });
}
for (const t of sideTargets) results.targets.push({ ...t, value: Number(t.value.toFixed(2)), limit: Number(t.limit.toFixed(2)), ok: t.value <= t.limit });

const minCore = sideOnly ? null : await (await import('./bench/mincore.mjs')).benchMinCore({ root, corpusDir }); // min-core vs bpftool gen min_core_btf
if (minCore) { rows.push(...minCore.rows.map(([w, a, b]) => [w, a === '' ? '' : fmt(a), b === '' ? '' : fmt(b)])); results.minCore = minCore.results; for (const t of minCore.targets) target(t.name, t.value, t.limit); }
const archive = sideOnly ? null : await (await import('./bench/archive.mjs')).benchArchive({ root, corpusDir }); // min-core -r vs bcc's bpftool loop
if (archive) { rows.push(...archive.rows.map(([w, a, b]) => [w, fmt(a), fmt(b)])); results.minCoreArchive = archive.results; }

console.log(`\nmodbtf benchmark — ${results.machine.cpus} x ${results.machine.model}, ${results.machine.memGiB} GiB, node ${process.version}\n`);
console.log('| what | median ms | min ms |\n|---|---:|---:|');
for (const r of rows) console.log(`| ${r[0]} | ${r[1]} | ${r[2]} |`);
console.log(`\nside by side with the C reference (${side.reference ? `libbpf ${side.reference.libbpf}` : 'NOT BUILT: no C compiler or no libbpf >= 1.5 (scripts/bench/fetch-libbpf.sh; LIBBPF_DIR); absolute figures only'}), medians, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
console.log('| work | op | modbtf ms | C ms | modbtf / C | node -e 0 ms | modbtf RSS MB | C RSS MB |\n|---|---|---:|---:|---:|---:|---:|---:|');
for (const x of side.workloads) {
  const f = (v, d = 0) => (v === null ? '-' : v.toFixed(d));
  console.log(`| ${x.workload} | ${x.op} | ${f(x.modbtfMs)} | ${f(x.refMs)} | ${f(x.ratio, 2)} | ${f(x.nodeMs)} | ${f(x.modbtfRssMB)} | ${f(x.refRssMB)} |`);
}
// dump --format c side by side with bpftool (scripts/bench/dumpc.mjs prints its own table)
if (!sideOnly) {
  const dumpc = (await import('./bench/dumpc.mjs')).benchDumpC({ root, corpusDir });
  results.dumpC = dumpc.workloads; results.targets.push(...dumpc.targets);
}
console.log('\n| target | measured | limit | |\n|---|---:|---:|---|');
for (const t of results.targets) console.log(`| ${t.name} | ${t.value} | ${t.limit} | ${t.ok ? 'ok' : 'MISSED'} |`);
mkdirSync(join(root, 'bench-results'), { recursive: true });
writeFileSync(join(root, 'bench-results/bench.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log('\nwritten: bench-results/bench.json');
