/**
 * Starting the CLI bundle (dist/modbtf.cjs) with V8's code cache.
 *
 * Node 20 compiles a script's every function from source in each process: the
 * bundle's top level when it is loaded, then each function the first time it
 * runs. The build (scripts/bundle.mjs) runs the bundle once over the test
 * fixtures (scripts/train-cache.cjs) and saves V8's code cache of what that
 * run compiled beside it, as dist/modbtf.cjs.cache. Here the bundle is
 * compiled with that cache, so a run starts with the bytecode of the functions
 * it uses.
 *
 * The cache file starts with the build id of the bundle it was made from (the
 * bundle's first line names it). V8 itself rejects a cache made by another V8
 * version or with other V8 flags (and then compiles from source, as without a
 * cache); the build id also rejects a cache from an earlier build of the bundle.
 * Without the file, the bundle is compiled from source. The bundle makes no
 * `import()` (scripts/bundle.mjs turns them into `require`), which a script
 * compiled this way could only do through an experimental Node hook.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/** The bundle's first line: `//modbtf-build:` and the build id. */
export const BUILD_TAG = '//modbtf-build:';
export const BUILD_ID_LEN = 16;

/** What the bundle exports (src/cli/main.ts). */
export interface CliBundle {
  main(argv: string[]): Promise<void>;
  run(argv: string[], io?: { out(line: string): void; err(line: string): void; signatureDropped?(): void }): Promise<number>;
}

export interface LoadedBundle {
  exports: CliBundle;
  /** The compiled script. */
  script: Script;
  /** The bundle's build id ('' when it has none). */
  buildId: string;
  /** Whether V8 took the code cache. */
  cacheUsed: boolean;
}

/** The code cache of `bundle`'s build `buildId`, or undefined. */
function readCache(bundle: string, buildId: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = readFileSync(`${bundle}.cache`);
  } catch {
    return undefined;
  }
  if (data.length <= BUILD_ID_LEN || data.toString('latin1', 0, BUILD_ID_LEN) !== buildId) return undefined;
  return data.subarray(BUILD_ID_LEN);
}

/**
 * Load the bundle at `bundle` (an absolute path), with its code cache unless
 * `useCache` is false.
 */
export function loadBundle(bundle: string, useCache = true): LoadedBundle {
  const source = readFileSync(bundle, 'utf8');
  const buildId = source.startsWith(BUILD_TAG) ? source.slice(BUILD_TAG.length, BUILD_TAG.length + BUILD_ID_LEN) : '';
  const cachedData = useCache && buildId ? readCache(bundle, buildId) : undefined;
  // The same wrapper as Node's CommonJS loader: the bundle sees the usual module variables.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    cachedData,
  });
  const fn = script.runInThisContext() as (e: unknown, r: NodeRequire, m: { exports: unknown }, f: string, d: string) => void;
  const mod = { exports: {} as unknown };
  fn.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
  return { exports: mod.exports as CliBundle, script, buildId, cacheUsed: cachedData !== undefined && !script.cachedDataRejected };
}

/** bin/modbtf: run the CLI on `argv`. */
export function launch(bundle: string, argv: string[]): void {
  void loadBundle(bundle).exports.main(argv);
}
