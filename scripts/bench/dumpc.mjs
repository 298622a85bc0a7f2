#!/usr/bin/env node
// `modbtf dump --format c` side by side with `bpftool btf dump file ... format c`: whole processes,
// runs alternating so that load on the machine hits both alike, output written to a file. The
// target: modbtf within 1.5 x (bpftool + node -e 0), on wall time and on CPU time (user + sys).
// Run by scripts/bench.mjs; alone: node scripts/bench/dumpc.mjs (after npm run build).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Every process timed without NODE_EXTRA_CA_CERTS, as bin/modbtf runs Node (see scripts/bench.mjs).
delete process.env.NODE_EXTRA_CA_CERTS;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Wall and CPU (user + sys) ms of one process, its stdout written to `out`. */
function measure(cmd, args, out, tmp) {
  const fd = openSync(out, 'w');
  const timeFile = join(tmp, 'time');
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, cmd, ...args], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
  const wall = performance.now() - t0;
  closeSync(fd);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(0, 300)}`);
  const [u, s] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: (u + s) * 1000 };
}

/**
 * Bench the workloads; prints a markdown table and returns the figures and the targets
 * (`{ name, value, limit, unit, ok }`) for scripts/bench.mjs.
 */
export function benchDumpC({ root, corpusDir, runs = Number(process.env.BENCH_DUMPC_RUNS ?? 7) }) {
  if (spawnSync('bpftool', ['version']).status !== 0 || !existsSync('/usr/bin/time')) {
    console.error('bench: dump --format c: bpftool or /usr/bin/time missing; skipped');
    return { workloads: [], targets: [] };
  }
  const tmp = mkdtempSync(join(tmpdir(), 'modbtf-bench-dumpc-'));
  const bin = join(root, 'bin/modbtf');
  const C = (...p) => join(corpusDir, ...p);
  const xfs = join(tmp, 'xfs.ko');
  writeFileSync(xfs, spawnSync('xz', ['-dc', C('k612cloud/modules/xfs.ko.xz')], { maxBuffer: 1 << 30 }).stdout);
  const work = [
    { name: '6.12 vmlinux (108k types)', args: [C('k612cloud/vmlinux.btf')] },
    { name: '6.18 vmlinux (127k types)', args: [C('host618/vmlinux.btf')] },
    { name: 'xfs.ko -B 6.12 vmlinux', args: [xfs, '-B', C('k612cloud/vmlinux.btf')] },
  ];
  const workloads = [];
  const targets = [];
  try {
    for (const w of work) {
      const bpf = ['btf', 'dump', 'file', w.args[0], ...w.args.slice(1), 'format', 'c'];
      const mod = ['dump', '--format', 'c', ...w.args];
      const outB = join(tmp, 'bpftool.h');
      const outM = join(tmp, 'modbtf.h');
      measure('bpftool', bpf, outB, tmp); // page cache
      measure(bin, mod, outM, tmp);
      if (!readFileSync(outB).equals(readFileSync(outM))) throw new Error(`${w.name}: modbtf's header differs from bpftool's`);
      const b = []; const m = []; const n = []; const v = [];
      for (let i = 0; i < runs; i++) {
        const order = i % 2 === 0 ? ['m', 'b', 'n', 'v'] : ['b', 'v', 'n', 'm'];
        for (const k of order) {
          if (k === 'm') m.push(measure(bin, mod, outM, tmp));
          else if (k === 'b') b.push(measure('bpftool', bpf, outB, tmp));
          else if (k === 'n') n.push(measure(process.execPath, ['-e', '0'], join(tmp, 'null'), tmp));
          else v.push(measure(bin, ['--version'], join(tmp, 'null'), tmp));
        }
      }
      const pick = (xs, f) => median(xs.map((x) => x[f]));
      const x = {
        workload: w.name, runs, lines: readFileSync(outB, 'latin1').split('\n').length - 1,
        modbtf: { wall: pick(m, 'wall'), cpu: pick(m, 'cpu') },
        bpftool: { wall: pick(b, 'wall'), cpu: pick(b, 'cpu') },
        node: { wall: pick(n, 'wall'), cpu: pick(n, 'cpu') },
        // the CLI's own start-up: node, loading the bundled CLI, parsing options
        modbtfVersion: { wall: pick(v, 'wall'), cpu: pick(v, 'cpu') },
      };
      workloads.push(x);
      for (const f of ['wall', 'cpu']) {
        const limit = 1.5 * (x.bpftool[f] + x.node[f]);
        targets.push({ name: `dump --format c ${w.name}: modbtf ${f} ms, limit 1.5 x (bpftool + node -e 0)`, value: Number(x.modbtf[f].toFixed(2)), limit: Number(limit.toFixed(2)), unit: 'ms', ok: x.modbtf[f] <= limit });
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`\ndump --format c side by side with bpftool (${spawnSync('bpftool', ['version'], { encoding: 'utf8' }).stdout.split('\n')[0]}), medians of ${runs}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log('| header | lines | modbtf wall / CPU ms | bpftool wall / CPU ms | node -e 0 wall / CPU ms | modbtf --version wall / CPU ms | modbtf / (bpftool + node -e 0), wall / CPU | modbtf / (bpftool + modbtf --version), wall / CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const x of workloads) {
    const r = (f, s) => (x.modbtf[f] / (x.bpftool[f] + s[f])).toFixed(2);
    const p = (o) => `${o.wall.toFixed(0)} / ${o.cpu.toFixed(0)}`;
    console.log(`| ${x.workload} | ${x.lines} | ${p(x.modbtf)} | ${p(x.bpftool)} | ${p(x.node)} | ${p(x.modbtfVersion)} | ${r('wall', x.node)} / ${r('cpu', x.node)} | ${r('wall', x.modbtfVersion)} / ${r('cpu', x.modbtfVersion)} |`);
  }
  return { workloads, targets };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const corpusDir = process.env.MODBTF_CORPUS ?? resolve(root, '../shared/corpus');
  const r = benchDumpC({ root, corpusDir });
  console.log('\n| target | measured | limit | |\n|---|---:|---:|---|');
  for (const t of r.targets) console.log(`| ${t.name} | ${t.value} | ${t.limit} | ${t.ok ? 'ok' : 'MISSED'} |`);
}
