/** Run the CLI in-process, collecting what it prints. */
import { run } from '../src/cli/main.js';

export interface Ran { code: number; out: string[]; err: string[] }

export async function modbtf(...argv: string[]): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}
