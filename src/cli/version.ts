/** modbtf's version: embedded in the bundled CLI at build time, else read from package.json beside the sources. */
import { readFileSync } from 'node:fs';

declare const MODBTF_VERSION: string | undefined;

export function modbtfVersion(): string {
  if (typeof MODBTF_VERSION === 'string') return MODBTF_VERSION;
  // src/cli/version.ts and dist/cli/version.js both sit two levels below package.json.
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string') return pkg.version;
  } catch {
    // fall through
  }
  return 'unknown';
}
