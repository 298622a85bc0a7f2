/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
export class Progress {
  private readonly tty: boolean;
  constructor(private readonly total: number, enabled: boolean) {
    this.tty = enabled && process.stderr.isTTY === true && total > 1;
  }
  tick(done: number, name: string): void {
    if (!this.tty) return;
    const width = 30;
    const fill = Math.round((done / this.total) * width);
    process.stderr.write(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${this.total} ${name.slice(-40).padEnd(40)}`);
  }
  clear(): void {
    if (this.tty) process.stderr.write(`\r${' '.repeat(80)}\r`);
  }
}
