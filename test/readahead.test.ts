import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openInput } from '../src/module/index.js';
import { readAhead, takeReadAhead } from '../src/module/readahead.js';
import { fixture } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-readahead-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const VMLINUX = fixture('k612/vmlinux.btf.xz');
const xz = (m: string): Buffer => readFileSync(fixture('k612/modules', `${m}.ko.xz`));
let n = 0;
const file = (bytes: Uint8Array | string): string => {
  const p = join(tmp, `f${n++}`);
  writeFileSync(p, bytes);
  return p;
};
/** What openInput makes of `p` with no read-ahead: the reference. */
async function plain(p: string): Promise<Uint8Array | null> {
  expect(takeReadAhead(p)).toBeUndefined();
  const i = await openInput(p);
  return i.btf ?? i.elf!.bytes;
}

describe('reading an input ahead of its use', () => {
  it('is taken by openInput when the file is unchanged, and only once', async () => {
    const p = file(xz('crc7'));
    const want = await plain(p);
    readAhead(p);
    const got = await openInput(p);
    expect(takeReadAhead(p)).toBeUndefined(); // taken
    expect(Buffer.from(got.elf!.bytes).equals(Buffer.from(want!))).toBe(true);
    expect(got.compression).toBe('xz');
  });

  it('is not used when the file was replaced, rewritten or removed after it was read', async () => {
    const a = xz('crc7');
    const b = xz('tcp_bbr');
    const want = Buffer.from((await plain(file(b)))!);
    const settle = (): Promise<void> => new Promise((res) => setTimeout(res, 20)); // the read is done
    // replaced by rename (a new inode), as modbtf's own writes replace a module
    const p = file(a);
    readAhead(p);
    await settle();
    renameSync(file(b), p);
    expect(want.equals((await openInput(p)).elf!.bytes)).toBe(true);
    // rewritten in place with other bytes
    const r = file(a);
    readAhead(r);
    await settle();
    writeFileSync(r, b);
    expect(want.equals((await openInput(r)).elf!.bytes)).toBe(true);
    // removed: the error is the file's, not stale bytes
    const s = file(a);
    readAhead(s);
    await settle();
    rmSync(s);
    await expect(openInput(s)).rejects.toMatchObject({ code: 'E_IO', file: s, message: 'cannot read: no such file' });
  });

  it('reads nothing ahead for a directory, a FIFO, an empty file, or a file over the size limit', async () => {
    const d = join(tmp, 'dir');
    mkdirSync(d);
    const fifo = join(tmp, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const empty = file('');
    const big = file(xz('crc7'));
    for (const p of [d, fifo, empty]) {
      readAhead(p);
      expect(takeReadAhead(p)).toBeUndefined();
    }
    readAhead(big, 100);
    expect(takeReadAhead(big)).toBeUndefined();
    await expect(openInput(big, { maxInputSize: 100 })).rejects.toThrow('file size (1780 bytes) exceeds the 100 bytes limit');
  });
});
