#!/usr/bin/env node
// min-core -r over a BTFHub-style tree against what bcc's Makefile.btfgen does (untar each
// .btf.tar.xz, `bpftool gen min_core_btf` per kernel, `tar c --gz`): every BPF object of Debian's
// libbpf-tools, a tree of 4 distributions x the corpus kernels (6.12, 6.18, and Debian's 6.1 as
// .btf.tar.xz when cached). Every kernel's output is checked byte for byte against bpftool's.
// Called by scripts/bench.mjs; runs alone too.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Every process timed without NODE_EXTRA_CA_CERTS, as bin/modbtf runs Node (see scripts/bench.mjs).
delete process.env.NODE_EXTRA_CA_CERTS;

function timed(cmd, args, runs, opts = {}) {
  const xs = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { stdio: 'ignore', ...opts });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    xs.push(performance.now() - t0);
  }
  xs.sort((a, b) => a - b);
  return { median: xs[Math.floor(xs.length / 2)], min: xs[0] };
}

/** Rows for the benchmark table and results for bench.json; null when bpftool, tar/xz or libbpf-tools is missing. */
export async function benchArchive({ root, corpusDir, runs = Math.min(3, Number(process.env.BENCH_RUNS ?? 3)) }) {
  for (const [c, a] of [['bpftool', ['version']], ['tar', ['--version']], ['xz', ['--version']]]) if (spawnSync(c, a).status !== 0) return null;
  const lib = await import(join(root, 'dist/index.js'));
  const bin = join(root, 'bin/modbtf');
  const listed = spawnSync('dpkg', ['-L', 'libbpf-tools'], { encoding: 'utf8' });
  const bins = listed.status === 0 ? listed.stdout.split('\n').filter((p) => p.startsWith('/usr/sbin/') && existsSync(p)).sort() : [];
  if (bins.length === 0) return null;
  const tmp = mkdtempSync(join(tmpdir(), 'modbtf-bench-archive-'));
  try {
    const objDir = join(tmp, 'objects');
    mkdirSync(objDir);
    for (const b of bins) {
      for (const e of lib.findEmbeddedBpfObjects(new Uint8Array(readFileSync(b)))) writeFileSync(join(objDir, `${b.replace(/^.*\//, '')}@${e.offset}.bpf.o`), e.bytes);
    }
    const objs = readdirSync(objDir).sort().map((f) => join(objDir, f));
    const kernels = [['6.12.117', join(corpusDir, 'k612cloud/vmlinux.btf'), false], ['6.18.44', join(corpusDir, 'host618/vmlinux.btf'), false]];
    const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'modbtf/kernels/root/boot');
    const k61 = existsSync(cache) ? readdirSync(cache).find((f) => /^vmlinuz-6\.1\./.test(f)) : undefined;
    if (k61) {
      const p = join(tmp, 'vmlinux-6.1.btf');
      spawnSync(process.execPath, [bin, 'extract', join(cache, k61), '-o', p], { stdio: 'ignore' });
      kernels.push(['6.1.0', p, true]);
    }
    const tree = join(tmp, 'btfhub-archive');
    let n = 0;
    for (const distro of ['centos/8', 'debian/12', 'fedora/39', 'ubuntu/22.04']) {
      for (const [rel, src, packed] of kernels.filter(([, k]) => existsSync(k))) {
        const dir = join(tree, distro, 'x86_64');
        const name = `${rel}-${distro.replace('/', '')}.btf`;
        mkdirSync(dir, { recursive: true });
        if (packed) {
          const stage = join(tmp, 'stage');
          mkdirSync(stage, { recursive: true });
          copyFileSync(src, join(stage, name));
          spawnSync('tar', ['cJf', join(dir, `${name}.tar.xz`), '-C', stage, name]);
          rmSync(stage, { recursive: true });
        } else copyFileSync(src, join(dir, name));
        n++;
      }
    }
    if (n === 0) return null;
    const loop = join(tmp, 'btfgen.sh');
    writeFileSync(loop, `#!/bin/sh
# bcc's Makefile.btfgen, written out: untar, bpftool per kernel, tar c --gz
set -e
out=$1; shift
rm -rf "$out" && mkdir -p "$out"
cd ${JSON.stringify(tree)}
for f in $(find . -name '*.btf.tar.xz' | sort); do tar xJf "$f" -C "$(dirname "$f")"; done
for f in $(find . -name '*.btf' | sort); do mkdir -p "$out/$(dirname "$f")"; bpftool gen min_core_btf "$f" "$out/$f" "$@"; done
for f in $(find . -name '*.btf.tar.xz'); do rm -f "\${f%.tar.xz}"; done
tar c --gz -f "$out.tar.gz" -C "$out" .
`);
    const bccOut = join(tmp, 'bcc');
    const bcc = timed('sh', [loop, bccOut, ...objs], runs);
    const modOut = join(tmp, 'modbtf');
    const j1 = timed(bin, ['min-core', '-r', '-k', tree, '--out-dir', modOut, '--tar', join(tmp, 'a.tar.gz'), '-j', '1', ...objs], runs);
    const jobs = availableParallelism();
    const jn = timed(bin, ['min-core', '-r', '-k', tree, '--out-dir', modOut, '--tar', join(tmp, 'b.tar.gz'), ...objs], runs);
    const walk = (d, p = '') => readdirSync(join(d, p), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(d, join(p, e.name)) : [join(p, e.name)]));
    const files = walk(bccOut).sort();
    for (const f of files) {
      if (Buffer.compare(readFileSync(join(bccOut, f)), readFileSync(join(modOut, f))) !== 0) throw new Error(`min-core -r: ${f} differs from bpftool's`);
    }
    if (Buffer.compare(readFileSync(join(tmp, 'a.tar.gz')), readFileSync(join(tmp, 'b.tar.gz'))) !== 0) throw new Error('min-core -r: --tar differs between -j 1 and -j N');
    const what = `min-core -r: ${n} kernels x ${objs.length} libbpf-tools objects`;
    const rows = [
      [`${what}: bcc's loop (untar, bpftool per kernel, tar)`, bcc.median, bcc.min],
      [`${what}: modbtf -j 1 (identical outputs)`, j1.median, j1.min],
      [`${what}: modbtf -j ${jobs}`, jn.median, jn.min],
    ];
    return { rows, results: { kernels: n, objects: objs.length, identical: files.length, bcc, modbtfJ1: j1, modbtfJN: { jobs, ...jn } } };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const r = await benchArchive({ root, corpusDir: resolve(process.env.MODBTF_CORPUS ?? join(root, '../shared/corpus')) });
  if (!r) console.log('min-core -r bench skipped: needs bpftool, tar, xz and libbpf-tools');
  else for (const [w, a, b] of r.rows) console.log(`| ${w} | ${a.toFixed(0)} | ${b.toFixed(0)} |`);
}
