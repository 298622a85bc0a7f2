/**
 * What the command line needs before it knows which command runs: where its
 * lines go, how an error is printed, the exit codes. Kept apart from the
 * commands so that parsing the command line loads none of them.
 */
import { writeSync } from 'node:fs';
import { ModbtfError, ioReason } from '../errors.js';

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

/**
 * Write all of `data` to file descriptor `fd`, as process.stdout and process.stderr do on Linux
 * (synchronously, for files, pipes and terminals alike) but without them: Node builds those
 * streams on first use, which costs every process 4-7 ms (their stream and net modules). A
 * non-blocking descriptor that is full (a pipe whose reader lags) is retried until it drains.
 * Other errors are thrown.
 */
export function writeFd(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off, data.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/**
 * Standard output: a closed pipe (`modbtf dump ... | head`) ends the run quietly (what is left
 * to say has no reader); any other error is said on stderr, exit 1.
 */
function toStdout(data: Uint8Array): void {
  try {
    writeFd(1, data);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(EXIT_OK);
    toStderr(Buffer.from(`modbtf: cannot write to stdout: ${ioReason(e)}\n`));
    process.exit(EXIT_FAIL);
  }
}

/** Standard error: if it cannot be written, there is nowhere to say so. */
export function toStderr(data: Uint8Array): void {
  try {
    writeFd(2, data);
  } catch {
    // nowhere to report it
  }
}

export const stdio: Output = {
  out: (line) => toStdout(Buffer.from(`${line}\n`)),
  err: (line) => toStderr(Buffer.from(`${line}\n`)),
  raw: (text) => toStdout(Buffer.from(text, 'latin1')),
};

/** Print a ModbtfError as one line; anything else is a bug and is reported as such. */
export function describeError(e: unknown): string {
  if (e instanceof ModbtfError) return e.describe();
  const msg = e instanceof Error ? e.message : String(e);
  return `internal error: ${msg}`;
}
