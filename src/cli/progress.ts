/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
import { fstatSync, statSync } from 'node:fs';
import { toStderr } from './io.js';

/**
 * Whether stderr is a terminal. Only a character device other than /dev/null can be one:
 * node:tty (which loads Node's net module, several ms) is asked only then, not for the file,
 * pipe or /dev/null of a script or a packager.
 */
async function stderrIsTty(): Promise<boolean> {
  try {
    const st = fstatSync(2);
    if (!st.isCharacterDevice() || st.rdev === statSync('/dev/null').rdev) return false;
  } catch {
    return false;
  }
  return (await import('node:tty')).isatty(2);
}

export class Progress {
  private constructor(private readonly total: number, private readonly tty: boolean) {}

  static async create(total: number, enabled: boolean): Promise<Progress> {
    return new Progress(total, enabled && total > 1 && await stderrIsTty());
  }

  tick(done: number, name: string): void {
    if (!this.tty) return;
    const width = 30;
    const fill = Math.round((done / this.total) * width);
    toStderr(Buffer.from(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${this.total} ${name.slice(-40).padEnd(40)}`));
  }

  clear(): void {
    if (this.tty) toStderr(Buffer.from(`\r${' '.repeat(80)}\r`));
  }
}
