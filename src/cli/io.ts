/**
 * What the command line needs before it knows which command runs: where its
 * lines go, how an error is printed, the exit codes. Kept apart from the
 * commands so that parsing the command line loads none of them.
 */
import { ModbtfError } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Text written as latin1 bytes, without a newline added (dumps of names holding any byte). */
  raw?: (text: string) => void;
  /** Told when a written module lost its signature; without it a warning line is printed. */
  signatureDropped?: (file: string) => void;
}

export const stdio: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  raw: (text) => process.stdout.write(Buffer.from(text, 'latin1')),
};

/** Print a ModbtfError as one line; anything else is a bug and is reported as such. */
export function describeError(e: unknown): string {
  if (e instanceof ModbtfError) return e.describe();
  const msg = e instanceof Error ? e.message : String(e);
  return `internal error: ${msg}`;
}
