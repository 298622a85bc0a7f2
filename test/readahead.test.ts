import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyInput, openInput, releaseInput, setBeforeRenameHook } from '../src/module/index.js';
import { loadBaseBtf } from '../src/btf/load.js';
import { fileSizes, smallestFirst } from '../src/cli/batch.js';
import { finishModule } from '../src/cli/common.js';
import { run } from '../src/cli/main.js';
import { distillModule } from '../src/distill/module.js';
import { readAhead, takeReadAhead } from '../src/module/readahead.js';
import { fixture, rawBtf } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-readahead-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const VMLINUX = fixture('k612/vmlinux.btf.xz');
const xz = (m: string): Buffer => readFileSync(fixture('k612/modules', `${m}.ko.xz`));
// Raw BTF large enough to be read ahead (smaller files are read by openInput itself), and
// the same with one byte of its string section changed.
let big: Buffer;
let big2: Buffer;
beforeAll(async () => {
  big = Buffer.from((await openInput(fixture('k612/vmlinux.btf.xz'))).btf!);
  big2 = Buffer.from(big);
  big2[big2.length - 2]! ^= 1;
});
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
    const p = file(big);
    readAhead(p);
    const pre = takeReadAhead(p);
    expect(pre).toBeDefined();
    expect(big.equals((await pre!)!.bytes)).toBe(true);
    readAhead(p);
    const got = await openInput(p);
    expect(takeReadAhead(p)).toBeUndefined(); // taken
    expect(big.equals(got.btf!)).toBe(true);
  });

  it('is not used when the file was replaced, rewritten or removed after it was read', async () => {
    const a = big;
    const b = big2;
    const want = Buffer.from((await plain(file(b)))!);
    const settle = (): Promise<void> => new Promise((res) => setTimeout(res, 20)); // the read is done
    // replaced by rename (a new inode), as modbtf's own writes replace a module
    const p = file(a);
    readAhead(p);
    await settle();
    renameSync(file(b), p);
    expect(want.equals((await openInput(p)).btf!)).toBe(true);
    // rewritten in place with other bytes
    const r = file(a);
    readAhead(r);
    await settle();
    writeFileSync(r, b);
    expect(want.equals((await openInput(r)).btf!)).toBe(true);
    // removed: the error is the file's, not stale bytes
    const s = file(a);
    readAhead(s);
    await settle();
    rmSync(s);
    await expect(openInput(s)).rejects.toMatchObject({ code: 'E_IO', file: s, message: 'cannot read: no such file' });
  });

  it('reads nothing ahead for a directory, a FIFO, an empty or small file, or a file over the size limit', async () => {
    const d = join(tmp, 'dir');
    mkdirSync(d);
    const fifo = join(tmp, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const empty = file('');
    const small = file(xz('crc7'));
    const over = file(big);
    for (const p of [d, fifo, empty, small]) {
      readAhead(p);
      expect(takeReadAhead(p)).toBeUndefined();
    }
    readAhead(over, big.length - 1);
    expect(takeReadAhead(over)).toBeUndefined();
    await expect(openInput(over, { maxInputSize: big.length - 1 })).rejects.toThrow(`file size (${big.length} bytes) exceeds`);
  });
});

describe('releasing an input\'s bytes when its task is done', () => {
  it('empties every view of a large input openInput read, and leaves small ones (perhaps Node\'s pooled slabs) and given bytes alone', async () => {
    const p = file(big);
    const input = await openInput(p);
    const view = input.btf!;
    expect(view.length).toBe(big.length);
    releaseInput(input);
    expect(view.length).toBe(0);
    expect(view.buffer.byteLength).toBe(0);
    const s = file(rawBtf([[1, 0x01000000, 4, 32]], ['int']));
    const small = await openInput(s);
    const before = Buffer.from(small.btf!);
    releaseInput(small);
    expect(before.equals(small.btf!)).toBe(true);
    // bytes the caller gave (classifyInput) are the caller's: never released
    const mine = new Uint8Array(big);
    const given = await classifyInput('given', mine);
    releaseInput(given);
    expect(mine.length).toBe(big.length);
    expect(given.btf!.length).toBe(big.length);
  });

  it('a batch writes the same modules as one run per module', async () => {
    const mods = ['crc7', 'tcp_bbr', 'af_key'].map((m) => fixture('k612/modules', `${m}.ko.xz`));
    const one = join(tmp, 'one');
    const all = join(tmp, 'all');
    mkdirSync(one);
    mkdirSync(all);
    const io = { out: () => undefined, err: () => undefined };
    for (const m of mods) expect(await run(['distill', '-B', VMLINUX, '--out-dir', one, m], io)).toBe(0);
    expect(await run(['distill', '-B', VMLINUX, '--out-dir', all, ...mods], io)).toBe(0);
    for (const m of mods) {
      const name = m.replace(/^.*\//, '');
      expect(readFileSync(join(all, name)).equals(readFileSync(join(one, name))), name).toBe(true);
    }
  });
});

describe('a batch\'s order and memory', () => {
  it('processes the smallest modules first (ties and unreadable files as given) and prints in the order given', async () => {
    const sized = [300, 100, -1, 100, 200].map((n) => (n < 0 ? join(tmp, 'missing.ko') : file(new Uint8Array(n))));
    expect([...fileSizes(sized)]).toEqual([300, 100, 0, 100, 200]);
    expect([...smallestFirst(fileSizes(sized))]).toEqual([2, 1, 3, 4, 0]);
    const mods = ['af_key', 'crc7', 'tcp_bbr'].map((m) => fixture('k612/modules', `${m}.ko.xz`));
    const dir = join(tmp, 'ordered');
    mkdirSync(dir);
    const lines: string[] = [];
    expect(await run(['distill', '-B', VMLINUX, '--out-dir', dir, ...mods], { out: (l) => lines.push(l), err: () => undefined })).toBe(0);
    expect(lines.map((l) => l.slice(0, l.indexOf(':')))).toEqual(mods);
  });

  it('frees the module it read once the output is written, before the fsync and the rename', async () => {
    const ko = join(tmp, 'af_key.ko');
    writeFileSync(ko, execFileSync('xz', ['-dc', fixture('k612/modules/af_key.ko.xz')]));
    const input = await openInput(ko);
    const base = await loadBaseBtf(VMLINUX);
    const r = distillModule(input.elf!, base, { file: ko });
    const dest = join(tmp, 'af_key.out.ko');
    let atRename = -1;
    setBeforeRenameHook(() => { atRename = input.elf!.bytes.length; });
    try {
      await finishModule(input, r.pieces, dest, undefined);
    } finally {
      setBeforeRenameHook(null);
    }
    expect(atRename).toBe(0);
    // and what was written is the module distilled, as a run writes it
    const again = join(tmp, 'again');
    mkdirSync(again);
    expect(await run(['distill', '-B', VMLINUX, '--out-dir', again, ko], { out: () => undefined, err: () => undefined })).toBe(0);
    expect(readFileSync(dest).equals(readFileSync(join(again, 'af_key.ko')))).toBe(true);
  });
});
