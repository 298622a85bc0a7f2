// Bundles the CLI into one CommonJS file, dist/modbtf.cjs, run by bin/modbtf (CommonJS too:
// bin/package.json). One file for Node to load instead of ~60 modules, and no ES-module loader
// at all: Node 20 compiles that loader at every start-up when the entry is an ES module, which
// cost 12-14 ms per process. Command modules are bundled as lazily initialized parts of the file
// (esbuild turns their dynamic imports into calls), so a command runs only its own modules' code.
// The library (dist/index.js) and the worker threads (dist/cli/worker.js, dist/archive/worker.js)
// stay as tsc built them; the bundle sits in dist/ so that its `./cli/worker.js` finds them.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { BUILD_ID_LEN, BUILD_TAG } from '../dist/cli/launch.cjs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

// what earlier layouts of the bundle left behind
for (const f of readdirSync('dist')) if (/^modbtf(-.*)?\.mjs$/.test(f)) rmSync(`dist/${f}`);
// the code cache of the bundle this build replaces
rmSync('dist/modbtf.cjs.cache', { force: true });

await build({
  entryPoints: { modbtf: 'dist/cli/main.js' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Loaded on demand, only for compressed inputs.
  external: ['xz-decompress', 'fzstd'],
  // import() of what is not bundled (those two, node:worker_threads) as require(): the bundle runs
  // as a compiled script (src/cli/launch.cts), where import() would need an experimental hook.
  supported: { 'dynamic-import': false },
  // `import.meta.url` of the bundled modules: the bundle's own URL.
  define: { 'import.meta.url': '__modbtfUrl', MODBTF_VERSION: JSON.stringify(version) },
  banner: { js: "const __modbtfUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});

// The bundle's first line names its build (a hash of its text), which its code cache must name too
// (src/cli/launch.cts).
const text = readFileSync('dist/modbtf.cjs', 'utf8');
const buildId = createHash('sha256').update(text).digest('hex').slice(0, BUILD_ID_LEN);
writeFileSync('dist/modbtf.cjs', `${BUILD_TAG}${buildId}\n${text}`);

// V8's code cache of the bundle, made by running it over the test fixtures with the V8 flags
// bin/modbtf's #! line gives (V8 refuses a cache made with other flags).
const shebang = readFileSync('bin/modbtf', 'utf8').split('\n')[0];
const flags = shebang.slice(shebang.indexOf(' node ') + ' node '.length).split(' ').filter((f) => f.startsWith('--'));
const train = spawnSync(process.execPath, [...flags, 'scripts/train-cache.cjs'], { stdio: ['ignore', 'inherit', 'inherit'] });
if (train.status !== 0) {
  console.error('bundle: making the code cache failed (scripts/train-cache.cjs); the CLI works without it, only slower to start');
  process.exit(1);
}
