/**
 * Node options for a worker thread. A worker inherits the process's options, less those that
 * concern only the main script (`--input-type`, `--eval`: a worker runs a file) and those Node
 * refuses in a worker because they are process-wide: V8's heap and stack sizes (bin/modbtf sets
 * `--max-semi-space-size`), V8's compiler flags (bin/modbtf sets `--no-turbo-inlining`; a worker
 * has them anyway, V8's flags being the process's), `--expose-gc`, `--title`. Passing any of those
 * makes the Worker constructor throw ERR_WORKER_INVALID_EXEC_ARGV.
 */
const MAIN_ONLY = /^--(input[-_]type|eval|print)(=|$)|^-[ep]$/;
const PROCESS_WIDE = /^--(max[-_]semi[-_]space[-_]size|min[-_]semi[-_]space[-_]size|max[-_]old[-_]space[-_]size|max[-_]young[-_]generation[-_]size|max[-_]heap[-_]size|initial[-_]heap[-_]size|initial[-_]old[-_]space[-_]size|stack[-_]size|expose[-_]gc|title|(no[-_])?(turbo|maglev|sparkplug)[-_a-z]*)(=|$)/;
const TAKES_VALUE = /^--(input[-_]type|eval|print|max[-_]semi[-_]space[-_]size|min[-_]semi[-_]space[-_]size|max[-_]old[-_]space[-_]size|max[-_]young[-_]generation[-_]size|max[-_]heap[-_]size|initial[-_]heap[-_]size|initial[-_]old[-_]space[-_]size|stack[-_]size|title)$|^-[ep]$/;

export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (MAIN_ONLY.test(a) || PROCESS_WIDE.test(a)) {
      if (TAKES_VALUE.test(a)) i++; // `--flag VALUE` as two words
      continue;
    }
    out.push(a);
  }
  return out;
}
