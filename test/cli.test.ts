/** The command line, in-process and through bin/modbtf: outputs, exact messages, exit codes, files. */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/cli/main.js';
import { ElfFile, editElf } from '../src/elf/index.js';
import { openInput } from '../src/module/index.js';
import { corpus, fixture, haveCorpus, repoRoot } from './helpers.js';
import { modbtf } from './cli-run.js';


const tmp = mkdtempSync(join(tmpdir(), 'modbtf-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const VMLINUX = join(tmp, 'vmlinux.btf');
const mod = (m: string): string => fixture('k612/modules', `${m}.ko.xz`);
const gold = (m: string, w: string): Buffer => readFileSync(fixture('k612/golden', `${m}.${w}`));

async function section(path: string, name: string): Promise<Buffer | null> {
  const elf = (await openInput(path)).elf!;
  const s = elf.section(name);
  return s ? Buffer.from(elf.data(s)) : null;
}

beforeAll(() => {
  const r = spawnSync('xz', ['-dc', fixture('k612/vmlinux.btf.xz')], { maxBuffer: 1 << 26 });
  writeFileSync(VMLINUX, r.stdout);
});

describe('distill and reconcile on the shipped fixtures', () => {
  it('distills each module to libbpf golden bytes, keeping xz compression', async () => {
    for (const m of ['crc7', 'tcp_bbr', 'af_key']) {
      const out = join(tmp, `${m}.native.ko.xz`);
      const r = await modbtf('distill', '--base', VMLINUX, '--section', '.BTF.base', '-o', out, mod(m));
      expect(r.code).toBe(0);
      expect(r.err).toEqual([`modbtf: ${mod(m)}: module signature dropped (rewriting invalidates it; re-sign with --sign-key/--sign-cert)`]);
      expect(readFileSync(out).subarray(0, 6).toString('hex')).toBe('fd377a585a00');
      expect((await section(out, '.BTF.base'))!.equals(gold(m, 'base.raw'))).toBe(true);
      expect((await section(out, '.BTF'))!.equals(gold(m, 'split.raw'))).toBe(true);
      const x = spawnSync('xz', ['-lvv', out], { encoding: 'utf8' });
      expect(x.stdout).toMatch(/CRC32/);
    }
  });

  it('reconciles back onto the kernel: .BTF equals btf__relocate(), no .BTF.base left, again is the same', async () => {
    for (const m of ['crc7', 'tcp_bbr', 'af_key']) {
      const f = join(tmp, `${m}.native.ko.xz`);
      const r = await modbtf('reconcile', '--kernel', VMLINUX, f);
      expect(r.code).toBe(0);
      expect(r.out[0]).toMatch(new RegExp(`^${f.replace(/[.]/g, '\\.')}: reconciled onto `));
      expect((await section(f, '.BTF'))!.equals(gold(m, 'reloc-k612.raw'))).toBe(true);
      expect(await section(f, '.BTF.base')).toBeNull();
      expect((await section(f, '.BTF.base_minimal'))!.equals(gold(m, 'base.raw'))).toBe(true);
      expect((await section(f, '.BTF.split_minimal'))!.equals(gold(m, 'split.raw'))).toBe(true);
      const before = readFileSync(f);
      expect((await modbtf('reconcile', '--kernel', VMLINUX, f)).code).toBe(0);
      expect((await section(f, '.BTF'))!.equals(gold(m, 'reloc-k612.raw'))).toBe(true);
      expect(readFileSync(f).length).toBe(before.length);
    }
  });

  it('--strip drops the distilled pair', async () => {
    const f = join(tmp, 'tcp_bbr.strip.ko.xz');
    copyFileSync(join(tmp, 'tcp_bbr.native.ko.xz'), f);
    expect((await modbtf('reconcile', '--strip', '--kernel', VMLINUX, f)).code).toBe(0);
    const elf = (await openInput(f)).elf!;
    expect(['.BTF.base_minimal', '.BTF.split_minimal', '.BTF_ids.minimal', '.BTF.base'].map((n) => elf.section(n))).toEqual([undefined, undefined, undefined, undefined]);
    expect(Buffer.from(elf.data(elf.section('.BTF')!)).equals(gold('tcp_bbr', 'reloc-k612.raw'))).toBe(true);
    const r = await modbtf('reconcile', '--kernel', VMLINUX, f);
    expect(r.out).toEqual([`${f}: not distilled (no .BTF.base_minimal or .BTF.base): nothing to do`]);
    expect(r.code).toBe(0);
    expect((await modbtf('reconcile', '--strict', '--kernel', VMLINUX, f)).code).toBe(1);
  });

  it('--json reports sizes, kinds and .BTF_ids slots', async () => {
    const r = await modbtf('distill', '--json', '--base', VMLINUX, '--out-dir', join(tmp, 'json'), mod('tcp_bbr'));
    expect(r.code).toBe(1); // --out-dir does not exist
    expect(r.err).toEqual([`modbtf: ${join(tmp, 'json', 'tcp_bbr.ko.xz')}: cannot write: directory does not exist`]);
    const dir = mkdtempSync(join(tmp, 'out-'));
    const ok = await modbtf('distill', '--json', '--base', VMLINUX, '--out-dir', dir, mod('tcp_bbr'));
    expect(ok.code).toBe(0);
    const j = JSON.parse(ok.out[0]!);
    expect(j).toMatchObject({
      file: mod('tcp_bbr'), output: join(dir, 'tcp_bbr.ko.xz'), section: '.BTF.base_minimal', btfBefore: 2471,
      btfAfter: 3036, baseSize: 349, moduleTypes: 38, splitTypes: 62, baseTypes: 12,
      baseKinds: { INT: 6, STRUCT: 4, ENUM: 1, UNION: 1 }, btfIdsSlots: 8, btfIdsChanged: 8, signatureDropped: true,
    });
    expect(readdirSync(dir)).toEqual(['tcp_bbr.ko.xz']);
  });
});

describe('errors: one line naming the file, exit codes', () => {
  it('refuses to distill twice without --force, and redoes it with --force', async () => {
    const f = join(tmp, 'twice.ko.xz');
    expect((await modbtf('distill', '-B', VMLINUX, '-o', f, mod('tcp_bbr'))).code).toBe(0);
    const before = readFileSync(f);
    const r = await modbtf('distill', '-B', VMLINUX, f);
    expect(r).toEqual({ code: 1, out: [], err: [`modbtf: ${f}: .BTF.base_minimal: already distilled (.BTF.base_minimal present); use --force to distill it again`] });
    expect(readFileSync(f).equals(before)).toBe(true);
    const forced = await modbtf('distill', '--force', '-B', VMLINUX, '--section', '.BTF.base', f);
    expect(forced.code).toBe(0);
    expect((await section(f, '.BTF'))!.equals(gold('tcp_bbr', 'split.raw'))).toBe(true);
    expect((await section(f, '.BTF.base'))!.equals(gold('tcp_bbr', 'base.raw'))).toBe(true);
    expect(await section(f, '.BTF.base_minimal')).toBeNull();
  });

  it('names a missing .BTF with a hint', async () => {
    const elf = (await openInput(mod('crc7'))).elf!;
    const f = join(tmp, 'nobtf.ko');
    writeFileSync(f, editElf(elf, { remove: ['.BTF'] }));
    const r = await modbtf('distill', '-B', VMLINUX, f);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`modbtf: ${f}: .BTF: no .BTF section: the module was built without BTF (kbuild skips it when vmlinux is missing); generate it with \`pahole -J --btf_base vmlinux\`, or with \`pahole -J\` and \`modbtf distill --base VMLINUX\``]);
  });

  it('rejects a module not split on the given base', async () => {
    const small = join(tmp, 'small.btf');
    writeFileSync(small, gold('crc7', 'base.raw'));
    const f = join(tmp, 'wrongbase.ko.xz');
    copyFileSync(mod('af_key'), f);
    const r = await modbtf('distill', '-B', small, f);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(new RegExp(`^modbtf: ${f.replace(/\./g, '\\.')}: \\.BTF: type \\[\\d+\\]: not split BTF on the given base: `));
    expect(readFileSync(f).equals(readFileSync(mod('af_key')))).toBe(true);
  });

  const bad: [string, () => Buffer, string][] = [
    ['a text file', () => Buffer.from('hello\n'), 'not an ELF file, raw BTF, or compressed module'],
    ['a truncated ELF', () => readFileSync(join(tmp, 'crc7.plain.ko')).subarray(0, 40), 'truncated ELF header (40 bytes)'],
    ['an ELF whose sections run past the end', () => readFileSync(join(tmp, 'crc7.plain.ko')).subarray(0, 3000), 'section header table at offset'],
    ['xz data that does not decompress', () => Buffer.concat([readFileSync(mod('crc7')).subarray(0, 200), Buffer.alloc(50)]), 'corrupt xz data'],
    ['gzip data that does not decompress', () => Buffer.concat([gzipSync(Buffer.from('x'.repeat(1000))).subarray(0, 12), Buffer.alloc(20, 1)]), 'truncated gzip data'],
    ['a bad signature trailer', () => Buffer.concat([readFileSync(join(tmp, 'crc7.plain.ko')).subarray(0, 100), Buffer.from([0, 0, 2, 0, 0, 0, 0, 0, 0x7f, 0, 0, 0]), Buffer.from('~Module signature appended~\n')]), 'module signature claims 2130706432 bytes, more than the 100 bytes before it'],
    ['an ELF32 file', () => { const b = Buffer.from(readFileSync(join(tmp, 'crc7.plain.ko'))); b[4] = 1; return b; }, "32-bit ELF is not supported: modbtf reads 64-bit kernels' modules and vmlinux"],
  ];
  beforeAll(async () => {
    const r = spawnSync('xz', ['-dc', mod('crc7')]);
    writeFileSync(join(tmp, 'crc7.plain.ko'), r.stdout);
  });
  for (const [what, make, msg] of bad) {
    it(`reports ${what}`, async () => {
      const f = join(tmp, `bad-${what.replace(/\W+/g, '_')}`);
      writeFileSync(f, make());
      for (const cmd of [['inspect', f], ['distill', '-B', VMLINUX, f], ['reconcile', '-k', VMLINUX, f]]) {
        const r = await modbtf(...cmd);
        expect(r.code, `${cmd[0]} ${what}`).toBe(1);
        expect(r.err.length).toBe(1);
        expect(r.err[0]!.startsWith(`modbtf: ${f}: `)).toBe(true);
        expect(r.err[0]).toContain(msg);
        expect(r.err[0]).not.toMatch(/internal error|\n\s+at /);
      }
    });
  }

  it('bad raw BTF through dump and inspect', async () => {
    const cases: [string, Buffer, string][] = [
      ['truncated', Buffer.from([0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0]), 'truncated BTF header (hdr_len 24, 10 bytes)'],
      ['hdrlen', (() => { const b = Buffer.from(gold('crc7', 'base.raw')); b[4] = 16; return b; })(), 'BTF hdr_len 16 is less than 24'],
      ['kind', (() => { const b = Buffer.from(gold('crc7', 'base.raw')); b[24 + 7] = 0x1d; return b; })(), 'type [1]: unknown BTF kind 29 (no kind layout section to size it)'],
      ['vlen', (() => { const b = Buffer.from(gold('crc7', 'base.raw')); b.writeUInt32LE(0x04000fff, 24 + 3 * 16 + 4); return b; })(), 'type [4]: STRUCT with vlen 4095 runs past the end of the type section'],
      ['typeid', (() => { const b = Buffer.from(gold('crc7', 'split.raw')); b.writeUInt32LE(999, 24 + 8); return b; })(), 'type [5]: CONST refers to type id 999, out of range (last id 16)'],
      ['split', Buffer.from(gold('crc7', 'split.raw')), 'string section does not start with a NUL byte (split BTF? pass --base)'],
    ];
    const base = join(tmp, 'crc7.base.raw');
    writeFileSync(base, gold('crc7', 'base.raw'));
    for (const [name, bytes, msg] of cases) {
      const f = join(tmp, `raw-${name}.btf`);
      writeFileSync(f, bytes);
      const r = await modbtf('dump', ...(name === 'typeid' ? ['-B', base] : []), f);
      expect(r.code, name).toBe(1);
      expect(r.err.length).toBe(1);
      expect(r.err[0]).toContain(`modbtf: ${f}: `);
      expect(r.err[0]).toContain(msg);
    }
  });

  it('usage errors exit 2', async () => {
    expect((await modbtf()).code).toBe(2);
    expect((await modbtf('frobnicate')).code).toBe(2);
    const r = await modbtf('distill', '-o', join(tmp, 'x'), mod('crc7'), mod('tcp_bbr'));
    expect(r).toEqual({ code: 2, out: [], err: ['modbtf: distill: -o takes exactly one module; use --out-dir for several'] });
    expect((await modbtf('distill', '-B', VMLINUX, '--sign-key', 'k', mod('crc7'))).code).toBe(2);
  });

  it('a missing file', async () => {
    const r = await modbtf('inspect', join(tmp, 'nope.ko'));
    expect(r).toEqual({ code: 1, out: [], err: [`modbtf: ${join(tmp, 'nope.ko')}: cannot read: no such file`] });
  });

  it('help still renders for each command (start-up skips yargs\' help caching)', () => {
    for (const cmd of ['distill', 'reconcile', 'check', 'map', 'dump', 'inspect', 'extract']) {
      const r = spawnSync(process.execPath, [join(repoRoot, 'bin/modbtf'), cmd, '--help'], { encoding: 'utf8' });
      expect(r.status, cmd).toBe(0);
      expect(r.stdout).toContain(`modbtf ${cmd}`);
      expect(r.stdout).toContain('--help');
    }
  });

  it('bin/modbtf prints one line and no stack trace', () => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin/modbtf'), 'inspect', join(tmp, 'nope.ko')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`modbtf: ${join(tmp, 'nope.ko')}: cannot read: no such file\n`);
  });
});

describe('files: modes, symlinks, atomicity', () => {
  it('keeps the mode and replaces a symlinked output instead of following it', async () => {
    const f = join(tmp, 'mode.ko.xz');
    copyFileSync(mod('crc7'), f);
    chmodSync(f, 0o600);
    expect((await modbtf('distill', '-B', VMLINUX, f)).code).toBe(0);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const target = join(tmp, 'link-target');
    writeFileSync(target, 'keep me');
    const link = join(tmp, 'link.ko.xz');
    symlinkSync(target, link);
    expect((await modbtf('distill', '-B', VMLINUX, '-o', link, mod('crc7'))).code).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    expect(lstatSync(link).isSymbolicLink()).toBe(false);
    expect(readdirSync(tmp).filter((n) => n.includes('.modbtf-'))).toEqual([]);
  });
});

describe('dump equals bpftool', () => {
  it('raw dump of a module against its vmlinux (compressed inputs both)', async () => {
    const expected = readFileSync(fixture('dump/tcp_bbr.raw.txt'), 'latin1');
    const out: string[] = [];
    const code = await run(['dump', '-B', fixture('k612/vmlinux.btf.xz'), mod('tcp_bbr')], { out: (l) => out.push(l), err: () => undefined });
    expect(code).toBe(0);
    expect(`${out.join('\n')}\n`).toBe(expected);
  });
});

