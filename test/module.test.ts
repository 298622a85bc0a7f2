/** Containers: compression kept on write, signatures, re-signing through sign-file. */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { loadBaseBtf } from '../src/btf/load.js';
import { detectCompression, isLz4Legacy, lz4LegacyDecompress, openInput, splitSignature, SIG_MARKER } from '../src/module/index.js';
import { corpus, fixture, haveCorpus } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-mod-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const VMLINUX = fixture('k612/vmlinux.btf.xz');
const quiet = { out: () => undefined, err: () => undefined };
let plain: Buffer;

beforeAll(() => {
  plain = spawnSync('xz', ['-dc', fixture('k612/modules/tcp_bbr.ko.xz')], { maxBuffer: 1 << 26 }).stdout;
});

describe('compression', () => {
  for (const [kind, cmd] of [['zstd', ['zstd', '-q', '-c']], ['gzip', ['gzip', '-n', '-c']], ['none', ['cat']]] as const) {
    it(`a ${kind} module is written back ${kind}`, async () => {
      const f = join(tmp, `m.${kind}`);
      writeFileSync(f, spawnSync(cmd[0], cmd.slice(1), { input: plain, maxBuffer: 1 << 26 }).stdout);
      expect(await run(['distill', '-B', VMLINUX, f], quiet)).toBe(0);
      const bytes = new Uint8Array(readFileSync(f));
      expect(detectCompression(bytes)).toBe(kind);
      const input = await openInput(f);
      expect(input.compression).toBe(kind);
      expect(input.elf!.section('.BTF.base_minimal')).toBeDefined();
      expect(input.signature).toBeNull();
    });
  }

  it('reads the signature trailer and keeps the ELF apart from it', async () => {
    const input = await openInput(fixture('k612/modules/tcp_bbr.ko.xz'));
    expect(input.signature).not.toBeNull();
    const tail = Buffer.from(input.signature!).subarray(-SIG_MARKER.length).toString('latin1');
    expect(tail).toBe(SIG_MARKER);
    const { elf, signature } = splitSignature(new Uint8Array(plain));
    expect(elf.length + signature!.length).toBe(plain.length);
    expect(Buffer.from(input.elf!.bytes).equals(Buffer.from(elf))).toBe(true);
  });
});

describe('re-signing', () => {
  it('runs sign-file on the rewritten module and keeps its signature', async () => {
    // A stand-in for the kernel's sign-file: appends a trailer in the real format.
    const tool = join(tmp, 'sign-file');
    writeFileSync(tool, `#!/bin/sh
# usage: sign-file HASH KEY CERT MODULE
[ "$1" = sha512 ] && [ -f "$2" ] && [ -f "$3" ] || exit 2
printf 'SIGDATA!' >> "$4"
printf '\\0\\0\\2\\0\\0\\0\\0\\0\\0\\0\\0\\10' >> "$4"
printf '~Module signature appended~\\n' >> "$4"
`);
    chmodSync(tool, 0o755);
    writeFileSync(join(tmp, 'key.pem'), 'key');
    writeFileSync(join(tmp, 'cert.pem'), 'cert');
    const out = join(tmp, 'signed.ko.xz');
    const err: string[] = [];
    const code = await run(['distill', '-B', VMLINUX, '-o', out, '--sign-key', join(tmp, 'key.pem'), '--sign-cert', join(tmp, 'cert.pem'), '--sign-tool', tool, fixture('k612/modules/tcp_bbr.ko.xz')], { out: () => undefined, err: (l) => err.push(l) });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const input = await openInput(out);
    expect(Buffer.from(input.signature!).subarray(0, 8).toString()).toBe('SIGDATA!');
    expect(input.elf!.section('.BTF.base_minimal')).toBeDefined();
  });

  it('a failing sign-file leaves the input untouched', async () => {
    const f = join(tmp, 'unsigned.ko.xz');
    writeFileSync(f, readFileSync(fixture('k612/modules/crc7.ko.xz')));
    const err: string[] = [];
    const code = await run(['distill', '-B', VMLINUX, '--sign-key', join(tmp, 'missing.pem'), '--sign-cert', join(tmp, 'cert.pem'), '--sign-tool', '/bin/false', f], { out: () => undefined, err: (l) => err.push(l) });
    expect(code).toBe(1);
    expect(err).toEqual([`modbtf: ${f}: sign-file failed: exit 1`]);
    expect(readFileSync(f).equals(readFileSync(fixture('k612/modules/crc7.ko.xz')))).toBe(true);
  });
});

describe.skipIf(!haveCorpus)('boot images', () => {
  it('reads the kernel BTF out of a zstd vmlinuz', async () => {
    const vm = await loadBaseBtf(corpus('k612cloud/boot/vmlinuz-6.12.117+deb13-cloud-amd64'));
    expect(Buffer.from(vm.toBytes()).equals(readFileSync(corpus('k612cloud/vmlinux.btf')))).toBe(true);
  });
});

const haveLz4 = spawnSync('lz4', ['--version']).status === 0;
if (!haveLz4) console.log('note: lz4 not installed: the lz4 decoder test is skipped');

describe.skipIf(!haveLz4)('lz4 legacy frames (CONFIG_KERNEL_LZ4 payloads)', () => {
  it('decodes what lz4 -l writes, and rejects corrupt blocks', () => {
    const data = Buffer.concat([plain, plain.subarray(0, 5000), Buffer.alloc(70000, 7)]);
    const r = spawnSync('lz4', ['-l', '-c'], { input: data, maxBuffer: 1 << 26 });
    const enc = new Uint8Array(r.stdout);
    expect(isLz4Legacy(enc)).toBe(true);
    expect(Buffer.from(lz4LegacyDecompress(enc, data.length)).equals(data)).toBe(true);
    const bad = enc.slice();
    bad.fill(0xff, 8, 40);
    expect(() => lz4LegacyDecompress(bad, data.length, 'x')).toThrow('corrupt lz4 data');
  });
});

describe('hostile boot images', () => {
  it('an absurd lz4 size trailer does not allocate for it', () => {
    const block = Uint8Array.of(0x02, 0x21, 0x4c, 0x18, 2, 0, 0, 0, 0x10, 0x41, 0xff, 0xff, 0xff, 0xff);
    const out = lz4LegacyDecompress(block, 0xffffffff, 'x');
    expect([...out]).toEqual([0x41]);
  });
});
