/** inspect names what it sees; every command's --help describes its arguments and options, an example, exit codes. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, run } from '../src/cli/main.js';
import { flag } from '../src/cli/options.js';
import { corpus, fixture, haveCorpus, repoRoot } from './helpers.js';

async function modbtf(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-inspect-'));
const plain = join(tmp, 'crc7.ko');
beforeAll(() => {
  writeFileSync(plain, spawnSync('xz', ['-dc', fixture('k612/modules/crc7.ko.xz')]).stdout);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The module's bytes with ELF header fields changed: e_type at 16, e_machine at 18. */
function patched(name: string, at: number, value: number): string {
  const b = Buffer.from(readFileSync(plain));
  b.writeUInt16LE(value, at);
  const f = join(tmp, name);
  writeFileSync(f, b);
  return f;
}

describe('inspect names what it sees', () => {
  it('kernel BTF (raw, as /sys/kernel/btf/vmlinux), and raw split BTF', async () => {
    const k = join(tmp, 'vmlinux.btf');
    writeFileSync(k, spawnSync('xz', ['-dc', fixture('k612/vmlinux.btf.xz')], { maxBuffer: 1 << 26 }).stdout);
    const r = await modbtf('inspect', k);
    expect(r.out.slice(0, 2)).toEqual([`${k}: kernel BTF (raw, as /sys/kernel/btf/vmlinux)`, '  BTF: kernel BTF (the base of module BTF), little-endian']);
    const split = join(tmp, 'crc7.btf');
    expect((await modbtf('extract', '-o', split, plain)).code).toBe(0);
    expect((await modbtf('inspect', split)).out.slice(0, 2)).toEqual([`${split}: raw BTF`, '  BTF: split BTF on the vmlinux it was built against, little-endian']);
  });

  it('a kernel module', async () => {
    const r = await modbtf('inspect', fixture('k612/modules/crc7.ko.xz'));
    expect(r.out[0]).toBe(`${fixture('k612/modules/crc7.ko.xz')}: kernel module, xz-compressed, signed, built for 6.12.117+deb13-cloud-amd64`);
  });

  it('a BPF object (e_machine 247) is not a module', async () => {
    const f = patched('prog.bpf.o', 18, 247);
    const r = await modbtf('inspect', '--json', f);
    expect(JSON.parse(r.out[0]!)).toMatchObject({ kind: 'bpf-object', kernelRelease: null });
    expect((await modbtf('inspect', f)).out.slice(0, 2)).toEqual([`${f}: BPF object (ELF, machine BPF), not a kernel module`, '  BTF: BPF program BTF, little-endian']);
  });

  const haveClang = spawnSync('clang', ['--version']).status === 0;
  it.skipIf(!haveClang)('a BPF object clang built', async () => {
    const c = join(tmp, 'p.bpf.c');
    writeFileSync(c, 'int x; __attribute__((section("tc"), used)) int prog(void *ctx) { return x; }\nchar _license[] __attribute__((section("license"), used)) = "GPL";\n');
    const o = join(tmp, 'p.bpf.o');
    expect(spawnSync('clang', ['-target', 'bpf', '-g', '-O2', '-c', c, '-o', o]).status).toBe(0);
    expect((await modbtf('inspect', o)).out[0]).toBe(`${o}: BPF object (ELF, machine BPF), not a kernel module`);
  });

  it('an ELF that is not a module', async () => {
    const r = await modbtf('inspect', '/bin/true');
    expect(r.out.slice(0, 2)).toEqual(['/bin/true: ELF shared object, not a kernel module (no .modinfo)', '  BTF: no BTF']);
    expect(JSON.parse((await modbtf('inspect', '--json', '/bin/true')).out[0]!)).toMatchObject({ file: '/bin/true', ok: true, kind: 'elf', state: 'none' });
  });

  it('a vmlinux ELF (an executable with .BTF)', async () => {
    const f = patched('vmlinux', 16, 2);
    expect((await modbtf('inspect', f)).out.slice(0, 2)).toEqual([`${f}: kernel image (vmlinux ELF)`, '  BTF: kernel BTF (the base of module BTF), little-endian']);
  });

  it.skipIf(!haveCorpus)('a boot image', async () => {
    const z = corpus('k612cloud/boot/vmlinuz-6.12.117+deb13-cloud-amd64');
    const r = await modbtf('inspect', '--json', z);
    expect(JSON.parse(r.out[0]!)).toMatchObject({ file: z, ok: true, kind: 'boot-image', format: 'elf', state: 'standalone' });
    expect((await modbtf('inspect', z)).out.slice(0, 2)).toEqual([`${z}: boot image (bzImage; the vmlinux inside is shown)`, '  BTF: kernel BTF (the base of module BTF), little-endian']);
  });
});

describe('help', () => {
  const help = (...a: string[]) => spawnSync(process.execPath, [join(repoRoot, 'bin/modbtf'), ...a], { encoding: 'utf8' });

  it('modbtf --help lists every command with its line', () => {
    const r = help('--help');
    expect(r.status).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  modbtf ${c.name} <${c.arg.name}(\\.\\.)?>\\s+${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    expect(r.stdout).toContain('Exit codes: 0 done');
  });

  for (const c of COMMANDS) {
    it(`modbtf ${c.name} --help: argument, each option, an example, exit codes`, () => {
      const r = help(c.name, '--help');
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain(`  ${c.arg.name}  ${c.arg.describe}`);
      for (const o of c.options) {
        const line = r.stdout.split('\n').find((l) => new RegExp(`(^|[ ,])${flag(o.name)}(\\s|,)`).test(l));
        expect(line, `${c.name} ${flag(o.name)}`).toBeDefined();
        expect(line).toContain(o.describe);
        for (const a of o.alias ?? []) expect(line).toContain(flag(a));
      }
      expect(r.stdout).toContain(`Examples:\n  ${c.example.command.replace('$0', 'modbtf')}  ${c.example.describe}`);
      expect(r.stdout).toContain(c.exits);
      expect(c.exits).toMatch(/^Exit codes: 0 .*, 1 .*, 2 usage error/);
    });
  }
});
