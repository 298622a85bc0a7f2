#!/usr/bin/env node
// min-core against `bpftool gen min_core_btf`: every BPF object of Debian's libbpf-tools at once,
// on the corpus 6.12 and 6.18 kernel BTFs and on Debian's 6.1 (when its package is cached by
// scripts/kernel/fetch-debian-kernel.sh). Same inputs, same outputs (checked byte for byte),
// wall time of whole processes side by side. Called by scripts/bench.mjs; runs alone too.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Every process timed without NODE_EXTRA_CA_CERTS, as bin/modbtf runs Node (see scripts/bench.mjs).
delete process.env.NODE_EXTRA_CA_CERTS;

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0] };
}
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
/** Wall time, and CPU time (user + sys, by /usr/bin/time) which load on a shared machine disturbs less. */
function wall(cmd, args, runs, dir) {
  const xs = [];
  const cpu = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const out = join(dir, 'time.txt');
    const r = TIME ? spawnSync(TIME, ['-f', '%U %S', '-o', out, cmd, ...args], { stdio: 'ignore' }) : spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    xs.push(performance.now() - t0);
    if (TIME) {
      const [u, s] = readFileSync(out, 'utf8').trim().split('\n').pop().split(' ').map(Number);
      cpu.push((u + s) * 1000);
    }
  }
  return { ...stats(xs), cpu: TIME ? stats(cpu).median : null };
}

/** Rows for the benchmark table, results for bench.json, targets to check; null when bpftool or libbpf-tools is missing. */
export async function benchMinCore({ root, corpusDir, runs = Number(process.env.BENCH_RUNS ?? 5) }) {
  const lib = await import(join(root, 'dist/index.js'));
  const bin = join(root, 'bin/modbtf');
  if (spawnSync('bpftool', ['version']).status !== 0) return null;
  const listed = spawnSync('dpkg', ['-L', 'libbpf-tools'], { encoding: 'utf8' });
  const bins = listed.status === 0 ? listed.stdout.split('\n').filter((p) => p.startsWith('/usr/sbin/') && existsSync(p)).sort() : [];
  if (bins.length === 0) return null;
  const tmp = mkdtempSync(join(tmpdir(), 'modbtf-bench-mincore-'));
  try {
    const objs = [];
    for (const b of bins) {
      for (const e of lib.findEmbeddedBpfObjects(new Uint8Array(readFileSync(b)))) {
        const p = join(tmp, `${b.replace(/^.*\//, '')}.bpf.o`);
        writeFileSync(p, e.bytes);
        objs.push(p);
      }
    }
    const kernels = [['6.12', join(corpusDir, 'k612cloud/vmlinux.btf')], ['6.18', join(corpusDir, 'host618/vmlinux.btf')]];
    const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'modbtf/kernels/root/boot');
    const k61 = existsSync(cache) ? readdirSync(cache).find((f) => /^vmlinuz-6\.1\./.test(f)) : undefined;
    if (k61) {
      const p = join(tmp, 'vmlinux-6.1.btf');
      spawnSync(process.execPath, [bin, 'extract', join(cache, k61), '-o', p], { stdio: 'ignore' });
      kernels.unshift(['6.1', p]);
    }
    const node = wall(process.execPath, ['-e', '0'], runs, tmp);
    const cpuNote = (x) => (x.cpu === null ? '' : ` [cpu ${x.cpu.toFixed(0)} ms]`);
    const rows = [[`process: node -e 0${cpuNote(node)}`, node.median, node.min]];
    const results = { objects: objs.length, kernels: {}, nodeNull: node };
    let bt = 0;
    let mt = 0;
    let bc = 0;
    let mc = 0;
    for (const [name, k] of kernels.filter(([, k]) => existsSync(k))) {
      const bo = join(tmp, `bpftool-${name}.btf`);
      const mo = join(tmp, `modbtf-${name}.btf`);
      const b = wall('bpftool', ['gen', 'min_core_btf', k, bo, ...objs], runs, tmp);
      const m = wall(bin, ['min-core', '-k', k, '-o', mo, ...objs], runs, tmp);
      const same = Buffer.compare(readFileSync(bo), readFileSync(mo)) === 0;
      if (!same) throw new Error(`min-core on ${name}: output differs from bpftool's`);
      results.kernels[name] = { bpftool: b, modbtf: m, bytes: readFileSync(mo).length, identical: same };
      rows.push([`min-core ${objs.length} libbpf-tools objects on ${name}: bpftool${cpuNote(b)}`, b.median, b.min]);
      rows.push([`min-core ${objs.length} libbpf-tools objects on ${name}: modbtf (identical output)${cpuNote(m)}`, m.median, m.min]);
      bt += b.median;
      mt += m.median;
      bc += b.cpu ?? 0;
      mc += m.cpu ?? 0;
    }
    const n = Object.keys(results.kernels).length;
    rows.push([`min-core all objects x ${n} kernels: bpftool`, bt, '']);
    rows.push([`min-core all objects x ${n} kernels: modbtf`, mt, '']);
    rows.push([`min-core all objects x ${n} kernels, CPU: bpftool ${bc.toFixed(0)} ms, modbtf ${mc.toFixed(0)} ms, node -e 0 ${((node.cpu ?? 0) * n).toFixed(0)} ms`, '', '']);
    results.total = { kernels: n, bpftool: bt, modbtf: mt, bpftoolCpu: bc, modbtfCpu: mc };
    const targets = [{ name: `min-core x ${n} kernels: modbtf minus (bpftool + node start-up), wall ms`, value: mt - bt - n * node.median, limit: 0 }];
    if (TIME) targets.push({ name: `min-core x ${n} kernels: modbtf minus (bpftool + node start-up), CPU ms`, value: mc - bc - n * node.cpu, limit: 0 });
    return { rows, results, targets };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const corpusDir = process.env.MODBTF_CORPUS ?? resolve(root, '../shared/corpus');
  const r = await benchMinCore({ root, corpusDir });
  if (!r) {
    console.error('bench/mincore: needs bpftool and libbpf-tools');
    process.exit(2);
  }
  console.log('| what | median ms | min ms |\n|---|---:|---:|');
  for (const [w, a, b] of r.rows) console.log(`| ${w} | ${a === '' ? '' : a.toFixed(1)} | ${b === '' ? '' : b.toFixed(1)} |`);
  for (const t of r.targets) console.log(`\n${t.name}: ${t.value.toFixed(1)} (limit ${t.limit}) ${t.value <= t.limit ? 'ok' : 'MISSED'}`);
}
