/** Generated headers compile: `clang -target bpf` on programs including vmlinux.h or a module header. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { dumpC } from '../src/btf/dumpc.js';
import { loadBaseBtf, rawBtfOf } from '../src/btf/load.js';
import { ElfFile } from '../src/elf/index.js';
import { openInput } from '../src/module/index.js';
import { fixture } from './helpers.js';

/** clang, or a versioned one (CI installs clang-16). */
const clang = ['clang', 'clang-19', 'clang-16', 'clang-15', 'clang-14'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
const haveClang = clang !== undefined;
if (!haveClang) console.log('note: clang not installed: generated headers are not compiled');

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-dumpc-clang-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Compile `src` (which includes `header`, written as `name`) for BPF; returns the object's ELF. */
function compile(name: string, header: string, src: string): ElfFile {
  writeFileSync(join(tmp, name), Buffer.from(header, 'latin1'));
  const c = join(tmp, `${name}.c`);
  const o = join(tmp, `${name}.o`);
  writeFileSync(c, `#include "${name}"\n${src}`);
  const r = spawnSync(clang!, ['-target', 'bpf', '-O2', '-g', '-Werror', '-c', c, '-o', o], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return ElfFile.parse(readFileSync(o), o);
}

describe.skipIf(!haveClang)('clang -target bpf compiles programs over generated headers', () => {
  it('vmlinux.h: a CO-RE field read of struct task_struct', async () => {
    const vm = await loadBaseBtf(fixture('k612/vmlinux.btf.xz'));
    const elf = compile('vmlinux.h', dumpC(vm), [
      '__attribute__((section("tp_btf/sched_switch"), used))',
      'int prog(struct task_struct *t) { return t->pid + t->real_parent->tgid; }',
    ].join('\n'));
    // preserve_access_index (the header's pragma) makes every field access a CO-RE relocation.
    expect(elf.section('.BTF.ext')).toBeDefined();
  });

  it('a module header (tcp_bbr with -B vmlinux): module and kernel types, bitfields included', async () => {
    const vm = await loadBaseBtf(fixture('k612/vmlinux.btf.xz'));
    const btf = Btf.parse(rawBtfOf(await openInput(fixture('k612/modules/tcp_bbr.ko.xz'))), { base: vm });
    const elf = compile('tcp_bbr.h', dumpC(btf), [
      '__attribute__((section("struct_ops/x"), used))',
      'int prog(struct bbr *b, struct sock *sk) { return b->min_rtt_us + b->mode + sk->sk_rcvbuf; }',
    ].join('\n'));
    expect(elf.section('.BTF.ext')).toBeDefined();
  });

  it('a distilled module on its distilled base: kernel types as padded shells of the right size', () => {
    const base = Btf.parse(readFileSync(fixture('k612/golden/tcp_bbr.base.raw')));
    const split = Btf.parse(readFileSync(fixture('k612/golden/tcp_bbr.split.raw')), { base });
    compile('tcp_bbr.distilled.h', dumpC(split), [
      '_Static_assert(sizeof(struct sock) == 776, "sock keeps its size");',
      '__attribute__((section("struct_ops/x"), used))',
      'int prog(struct bbr *b) { return b->min_rtt_us + b->mode; }',
    ].join('\n'));
  });
});
