// Bundles the CLI into one CommonJS file, dist/modbtf.cjs, run by bin/modbtf (CommonJS too:
// bin/package.json). One file for Node to load instead of ~60 modules, and no ES-module loader
// at all: Node 20 compiles that loader at every start-up when the entry is an ES module, which
// cost 12-14 ms per process. Command modules are bundled as lazily initialized parts of the file
// (esbuild turns their dynamic imports into calls), so a command runs only its own modules' code.
// The library (dist/index.js) and the worker threads (dist/cli/worker.js, dist/archive/worker.js)
// stay as tsc built them; the bundle sits in dist/ so that its `./cli/worker.js` finds them.
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

// what earlier layouts of the bundle left behind
for (const f of readdirSync('dist')) if (/^modbtf(-.*)?\.mjs$/.test(f)) rmSync(`dist/${f}`);

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
  // `import.meta.url` of the bundled modules: the bundle's own URL.
  define: { 'import.meta.url': '__modbtfUrl', MODBTF_VERSION: JSON.stringify(version) },
  banner: { js: "const __modbtfUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
