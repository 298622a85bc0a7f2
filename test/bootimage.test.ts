/**
 * Boot images of every Debian architecture: the kernel's .BTF is found by
 * structure (not at the first magic number) in images built here byte by byte
 * after each format's header, and, when the packages are at hand, in Debian's
 * own vmlinuz files.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { bootImageFormat, bootImageKernel, xzStreamEnd, zstdFrameEnd } from '../src/module/index.js';
import { LIBBPF_LAYOUT, info, rawBtf, strOff } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-boot-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function modbtf(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const STRS = ['', 'int', 'task_struct', 'pid'];
/** A small base BTF: int, struct task_struct { int pid; }. */
const kernelBtf = (le: boolean, layout = false): Uint8Array => rawBtf([
  [strOff(STRS, 'int'), info(1), 4, 0x20],
  [strOff(STRS, 'task_struct'), info(4, 1), 4, strOff(STRS, 'pid'), 1, 0],
], STRS, { le, ...(layout ? { layout: LIBBPF_LAYOUT } : {}) });

/** A raw kernel image: `head`, then code-like filler holding decoy BTF magic, the BTF at a page boundary, more filler. */
function rawKernel(head: Uint8Array, btf: Uint8Array | null, le: boolean): Uint8Array {
  const img = new Uint8Array(0x6000);
  for (let i = 0; i < img.length; i++) img[i] = (i * 37 + 11) & 0xff;
  img.set(head, 0);
  const magic = le ? [0x9f, 0xeb, 1, 0] : [0xeb, 0x9f, 1, 0];
  // Decoys: a bare magic word; a header whose sections run past the image; one whose strings are not NUL-bounded.
  img.set(magic, 0x800);
  const bad = new Uint8Array(24);
  bad.set(magic);
  const dv = new DataView(bad.buffer);
  dv.setUint32(4, 24, le);
  dv.setUint32(12, 0x100000, le);
  img.set(bad, 0x900);
  dv.setUint32(12, 16, le);
  dv.setUint32(16, 16, le);
  dv.setUint32(20, 8, le);
  img.set(bad, 0xa00);
  if (btf) {
    img.set(btf, 0x3000);
    img.fill(0, 0x3000 + btf.length, 0x3100);
  }
  return img;
}

function arm64Header(size: number): Uint8Array {
  const h = new Uint8Array(0x40);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, 0x5a4d, true); // "MZ" + branch
  dv.setUint32(0x10, size, true); // image_size
  h.set([0x41, 0x52, 0x4d, 0x64], 0x38); // ARM\x64
  dv.setUint32(0x3c, 0x40, true);
  return h;
}

function riscvHeader(size: number): Uint8Array {
  const h = arm64Header(size);
  h.set([0x52, 0x49, 0x53, 0x43, 0x56, 0, 0, 0], 0x30);
  h.set([0x52, 0x53, 0x43, 0x05], 0x38);
  return h;
}

function zboot(payload: Uint8Array, comp: string, rawSize: number): Uint8Array {
  const off = 0x200;
  const out = new Uint8Array(off + payload.length + 4 + 0x100);
  const dv = new DataView(out.buffer);
  out.set([0x4d, 0x5a, 0, 0], 0);
  out.set(Buffer.from('zimg'), 4);
  dv.setUint32(8, off, true);
  dv.setUint32(12, payload.length, true);
  out.set(Buffer.from(`${comp}\0`), 0x18);
  out.set([0xcd, 0x23, 0x82, 0x81], 0x38);
  out.set(payload, off);
  dv.setUint32(off + payload.length, rawSize, true);
  return out;
}

const tool = (cmd: string, args: string[], input: Uint8Array): Uint8Array => {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
  return new Uint8Array(r.stdout);
};
const haveZstd = spawnSync('zstd', ['--version']).status === 0;
const haveXz = spawnSync('xz', ['--version']).status === 0;

async function extracted(name: string, image: Uint8Array): Promise<{ code: number; out: string[]; err: string[]; btf: Buffer | null; path: string }> {
  const f = join(tmp, name);
  writeFileSync(f, image);
  const o = join(tmp, `${name}.btf`);
  rmSync(o, { force: true });
  const r = await modbtf('extract', f, '-o', o);
  return { ...r, btf: existsSync(o) ? readFileSync(o) : null, path: f };
}

describe('raw kernel images (arm64 and RISC-V Image)', () => {
  const btf = kernelBtf(true);
  it('arm64 Image: the .BTF that parses, past decoy magic numbers', async () => {
    const img = rawKernel(arm64Header(0x6000), btf, true);
    expect(bootImageFormat(img)).toBe('arm64 Image');
    const r = await extracted('Image-arm64', img);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.btf!.equals(btf)).toBe(true);
  });

  it('a kernel with 2026-format BTF (32-byte header, kind layout section): the whole blob, layout included', async () => {
    const btf26 = kernelBtf(true, true);
    const r = await extracted('Image-2026', rawKernel(arm64Header(0), btf26, true));
    expect(r.err).toEqual([]);
    expect(r.btf!.equals(btf26)).toBe(true);
  });

  it('RISC-V Image', async () => {
    const img = rawKernel(riscvHeader(0), btf, true);
    expect(bootImageFormat(img)).toBe('RISC-V Image');
    expect(Buffer.from((await bootImageKernel(img, 'RISC-V Image')).btf!).equals(btf)).toBe(true);
  });

  it('image_size bounds the search: BTF past the kernel is not the kernel\'s', async () => {
    const img = rawKernel(arm64Header(0x2000), btf, true);
    const r = await extracted('Image-short', img);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`modbtf: ${r.path}: arm64 Image: the kernel has no BTF (built without CONFIG_DEBUG_INFO_BTF)`]);
  });

  it('no BTF: the error names the image format', async () => {
    const r = await extracted('Image-nobtf', rawKernel(arm64Header(0), null, true));
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`modbtf: ${r.path}: arm64 Image: the kernel has no BTF (built without CONFIG_DEBUG_INFO_BTF)`]);
    expect(r.btf).toBeNull();
  });

  it('two different BTF blobs: refused, not guessed', async () => {
    const img = rawKernel(arm64Header(0), btf, true);
    const other = rawBtf([[strOff(STRS, 'int'), info(1), 8, 0x40]], STRS);
    img.set(other, 0x5000);
    const r = await extracted('Image-two', img);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`modbtf: ${r.path}: arm64 Image: 2 different BTF blobs in the kernel image; cannot tell which is the kernel's .BTF`]);
  });

  it('inspect names a raw boot image', async () => {
    const f = join(tmp, 'Image-inspect');
    writeFileSync(f, rawKernel(arm64Header(0), btf, true));
    const r = await modbtf('inspect', f);
    expect(r.out.slice(0, 2)).toEqual([`${f}: boot image (raw kernel inside; its .BTF is shown)`, '  BTF: kernel BTF (the base of module BTF), little-endian']);
  });
});

describe('EFI zboot images', () => {
  const btf = kernelBtf(true);
  const image = rawKernel(arm64Header(0x6000), btf, true);
  it('gzip payload', async () => {
    const z = zboot(new Uint8Array(gzipSync(image)), 'gzip', image.length);
    expect(bootImageFormat(z)).toBe('EFI zboot');
    const r = await extracted('zboot-gzip', z);
    expect(r.err).toEqual([]);
    expect(r.btf!.equals(btf)).toBe(true);
  });

  it.skipIf(!haveZstd)('zstd payload (zstd22)', async () => {
    const z = zboot(tool('zstd', ['-q', '-19', '-c'], image), 'zstd22', image.length);
    expect((await extracted('zboot-zstd', z)).btf!.equals(btf)).toBe(true);
  });

  it.skipIf(!haveXz)('xz payload (xzkern)', async () => {
    const z = zboot(tool('xz', ['--check=crc32', '-c'], image), 'xzkern', image.length);
    expect((await extracted('zboot-xz', z)).btf!.equals(btf)).toBe(true);
  });

  it('a method modbtf does not read, and a payload past the end, are named', async () => {
    const lzma = await extracted('zboot-lzma', zboot(new Uint8Array(100), 'lzma', 0));
    expect(lzma.err).toEqual([`modbtf: ${lzma.path}: EFI zboot image: payload compressed with lzma, which modbtf does not read (gzip, zstd, xz, lz4)`]);
    const z = zboot(new Uint8Array(gzipSync(image)), 'gzip', image.length);
    new DataView(z.buffer).setUint32(12, z.length, true);
    const past = await extracted('zboot-past', z);
    expect(past.err).toEqual([`modbtf: ${past.path}: EFI zboot image: payload [512, ${512 + z.length}) runs past the end of the file (${z.length} bytes)`]);
  });
});

/** Decompressor-like bytes: the format's header, then code holding the compression magic of its decoder's tables. */
function withDecompressor(head: Uint8Array, magic: number[], payload: Uint8Array, rawSize: number): Uint8Array {
  const out = new Uint8Array(0x11000 + payload.length + 0x800);
  for (let i = 0x100; i < 0x10000; i++) out[i] = (i * 13 + 5) & 0xff;
  out.set(head, 0);
  out.set(magic, 0x400);
  out.set(magic, 0x10100);
  out.set(payload, 0x11000);
  new DataView(out.buffer).setUint32(0x11000 + payload.length, rawSize, true);
  return out;
}

describe.skipIf(!haveZstd)('s390x images (zstd kernel behind the decompressor)', () => {
  const btf = kernelBtf(false);
  const kernel = rawKernel(new Uint8Array(0x40), btf, false);
  const head = new Uint8Array(0x10010);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, 0x00080000);
  dv.setUint32(4, 0x80010000);
  dv.setUint32(8, 0x02000018);
  dv.setUint32(12, 0x60000050);
  head.set(Buffer.from('S390EP'), 0x10008);

  it('big-endian .BTF out of the one well-formed zstd frame', async () => {
    const frame = tool('zstd', ['-q', '-19', '-c'], kernel);
    const img = withDecompressor(head, [0x28, 0xb5, 0x2f, 0xfd], frame, kernel.length);
    expect(bootImageFormat(img)).toBe('s390x image');
    expect(zstdFrameEnd(img, 0x11000)).toBe(0x11000 + frame.length);
    expect(zstdFrameEnd(img, 0x400)).toBe(-1);
    const r = await extracted('s390x', img);
    expect(r.err).toEqual([]);
    expect(r.btf!.equals(btf)).toBe(true);
  });

  it('crafted: thousands of well-formed xz stream headers and footers, no kernel: refused, not ground through', async () => {
    // A valid xz stream header (check type CRC32: flags 00 01, CRC32 of those) then "YZ", over and over.
    const unit = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x01, 0x69, 0x22, 0xde, 0x36, 0x59, 0x5a, 0, 0]);
    const img = withDecompressor(head, [0x28, 0xb5, 0x2f, 0xfd], Buffer.concat(Array.from({ length: 40000 }, () => unit)), 0);
    expect(xzStreamEnd(img, 0x11000)).toBe(-1);
    const r = await extracted('s390x-crafted', img);
    expect(r.err).toEqual([`modbtf: ${r.path}: s390x image: no compressed kernel found (looked for zstd frames, xz streams and gzip members)`]);
  });

  it('no compressed kernel: named', async () => {
    const r = await extracted('s390x-empty', withDecompressor(head, [0x28, 0xb5, 0x2f, 0xfd], new Uint8Array(64), 0));
    expect(r.err).toEqual([`modbtf: ${r.path}: s390x image: no compressed kernel found (looked for zstd frames, xz streams and gzip members)`]);
  });
});

describe.skipIf(!haveXz)('ARM zImage (xz kernel behind the decompressor)', () => {
  const btf = kernelBtf(true);
  const kernel = rawKernel(new Uint8Array(0x40), btf, true);
  const xz = tool('xz', ['--check=crc32', '-c'], kernel);
  const head = new Uint8Array(0x30);
  const dv = new DataView(head.buffer);
  dv.setUint32(0x24, 0x016f2818, true);

  it('the xz stream whose header CRC, footer and index hold', async () => {
    const img = withDecompressor(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], xz, kernel.length);
    new DataView(img.buffer).setUint32(0x2c, img.length, true);
    expect(bootImageFormat(img)).toBe('ARM zImage');
    expect(xzStreamEnd(img, 0x11000)).toBe(0x11000 + xz.length);
    expect(xzStreamEnd(img, 0x400)).toBe(-1);
    const r = await extracted('zImage', img);
    expect(r.err).toEqual([]);
    expect(r.btf!.equals(btf)).toBe(true);
  });

  it('a kernel without BTF: named', async () => {
    const plain = rawKernel(new Uint8Array(0x40), null, true);
    const img = withDecompressor(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], tool('xz', ['--check=crc32', '-c'], plain), plain.length);
    const r = await extracted('zImage-nobtf', img);
    expect(r.err).toEqual([`modbtf: ${r.path}: ARM zImage: the kernel has no BTF (built without CONFIG_DEBUG_INFO_BTF)`]);
  });
});

/**
 * Debian's own images, when scripts/kernel/fetch-debian-kernel.sh has put them in the cache
 * (`fetch-debian-kernel.sh --arch ARCH --version VER $cache/ARCH-VER`). The digests are those
 * of the kernels' own .BTF: for arm64 and s390x equal to the .BTF section of the vmlinux in the
 * matching linux-image-*-dbg package; for all, every module's .BTF of the package parses and
 * validates on it, and distills and reconciles on it byte-equal to libbpf.
 */
const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'modbtf/kernels');
const DEBIAN: { dir: string; image: string; format: string; size: number; sha256: string }[] = [
  { dir: 'amd64-7.3.4', image: 'root/usr/lib/modules/7.3.4+deb13-cloud-amd64/vmlinuz', format: 'bzImage', size: 5293890, sha256: '1fdd53d57b317ea6b003cb448373655d6f4e5340d8bcd71a135e90eaee9d8a2e' },
  { dir: 'arm64-7.3.4', image: 'root/usr/lib/modules/7.3.4+deb13-cloud-arm64/vmlinuz', format: 'arm64 Image', size: 5643733, sha256: '6a6fe826b8117c73f74fe569d9e43b481dbebc3e6c18a48cab9a0488e6adb99c' },
  { dir: 's390x-7.2.11', image: 'root/usr/lib/modules/7.2.11+deb13-s390x/vmlinuz', format: 's390x image', size: 4141976, sha256: 'bc8ed93407b664a550752e3333a1a9c5c52d4bd15b8599e2e615ea607f060666' },
  { dir: 'ppc64el-7.2.11', image: 'root/usr/lib/modules/7.2.11+deb13-powerpc64le/vmlinuz', format: 'ELF', size: 4751201, sha256: 'c1bad73edc1f491902cc978203ef89fa7c9020d1f54a544c9610ca14f18e6c22' },
  { dir: 'riscv64-7.2.11', image: 'root/usr/lib/modules/7.2.11+deb13-riscv64/vmlinuz', format: 'RISC-V Image', size: 4875148, sha256: 'bd06f414aa6577a1612af1a7988f97b117381a7a1fd319f1dc9b9d3092c2b35f' },
];

describe('Debian kernel packages (from the cache)', () => {
  for (const k of DEBIAN) {
    const path = join(cache, k.dir, k.image);
    it.skipIf(!existsSync(path))(`${k.dir}: ${k.format}`, async () => {
      const head = new Uint8Array(readFileSync(path));
      expect(bootImageFormat(head)).toBe(k.format === 'ELF' ? null : k.format);
      const o = join(tmp, `${k.dir}.btf`);
      const r = await modbtf('extract', path, '-o', o);
      expect(r.err).toEqual([]);
      const got = readFileSync(o);
      expect({ size: got.length, sha256: createHash('sha256').update(got).digest('hex') }).toEqual({ size: k.size, sha256: k.sha256 });
    });
  }
  // Debian builds armhf without CONFIG_DEBUG_INFO_BTF (its modules have no .BTF either).
  const armhf = join(cache, 'armhf-7.2.11/root/usr/lib/modules/7.2.11+deb13-armmp/vmlinuz');
  it.skipIf(!existsSync(armhf))('armhf-7.2.11: ARM zImage without BTF', async () => {
    const r = await modbtf('extract', armhf, '-o', join(tmp, 'armhf.btf'));
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`modbtf: ${armhf}: ARM zImage: the kernel has no BTF (built without CONFIG_DEBUG_INFO_BTF)`]);
  });
});
