// Makes dist/modbtf.cjs.cache: V8's code cache of the CLI bundle (see src/cli/launch.cts).
// Runs the bundle, in this process, over the test fixtures: the commands a packager or a BPF
// developer runs most (distill and reconcile last, so that V8 has not aged their bytecode out
// by the time the cache is made), then saves the bytecode of every function that ran.
// Run by scripts/bundle.mjs, with the V8 flags of bin/modbtf's #! line.
'use strict';
const { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { basename, join, resolve } = require('node:path');

const root = resolve(__dirname, '..');
const fx = (...p) => join(root, 'test/fixtures', ...p);
const bundle = join(root, 'dist/modbtf.cjs');

async function main() {
  const { loadBundle } = require(join(root, 'dist/cli/launch.cjs'));
  const { decompress } = await import(join(root, 'dist/module/compress.js'));
  const loaded = loadBundle(bundle, false);
  const tmp = mkdtempSync(join(tmpdir(), 'modbtf-train-'));
  try {
    const unxz = async (from, to) => writeFileSync(to, await decompress(readFileSync(from), 'xz'));
    const vmlinux = join(tmp, 'vmlinux.btf');
    await unxz(fx('k612/vmlinux.btf.xz'), vmlinux);
    const mods = [];
    for (const f of readdirSync(fx('k612/modules')).sort()) {
      const to = join(tmp, f.replace(/\.xz$/, ''));
      await unxz(fx('k612/modules', f), to);
      mods.push(to);
    }
    const lines = [];
    const io = { out: (l) => lines.push(l), err: (l) => lines.push(l), signatureDropped: () => {} };
    const run = async (...argv) => {
      lines.length = 0;
      const rc = await loaded.exports.run(argv, io);
      if (rc !== 0) throw new Error(`modbtf ${argv.join(' ')}: exit ${rc}\n${lines.join('\n')}`);
    };
    const obj = fx('bpfobj/core_kinds.bpfel.o');
    await run('inspect', mods[0]);
    await run('dump', '--format', 'c', '--base', vmlinux, mods[0]);
    await run('min-core', '-k', vmlinux, '-o', join(tmp, 'min.btf'), obj);
    await run('core-check', '-k', vmlinux, obj);
    for (const d of ['d', 'r']) mkdirSync(join(tmp, d));
    const distilled = mods.map((m) => join(tmp, 'd', basename(m)));
    await run('distill', '-B', vmlinux, '--out-dir', join(tmp, 'd'), ...mods);
    await run('check', '-k', vmlinux, ...distilled);
    await run('reconcile', '-k', vmlinux, '--out-dir', join(tmp, 'r'), ...distilled);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const data = loaded.script.createCachedData();
  const file = `${bundle}.cache`;
  writeFileSync(`${file}.tmp`, Buffer.concat([Buffer.from(loaded.buildId, 'latin1'), data]));
  renameSync(`${file}.tmp`, file);
}

main().catch((e) => {
  console.error(`train-cache: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
