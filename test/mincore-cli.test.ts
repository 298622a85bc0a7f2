/**
 * `modbtf min-core` and `core-check`: written bytes equal bpftool's, module
 * types (merged and split), reports, JSON, exact messages and exit codes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modbtf } from './cli-run.js';
import { readBpfObject } from '../src/bpfobj/object.js';
import { Btf } from '../src/btf/btf.js';
import { dumpRaw } from '../src/btf/dump.js';
import { mergeKernel, loadModuleBtf } from '../src/core/modules.js';
import { corpus, fixture, haveCorpus, repoRoot } from './helpers.js';


const fx = (...p: string[]): string => fixture('bpfobj', ...p);
const tmp = mkdtempSync(join(tmpdir(), 'modbtf-mincore-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const VMLINUX = join(tmp, 'vmlinux.btf');
const MINI = fx('k612-mini.btf');
const BBR = fixture('k612/modules/tcp_bbr.ko.xz');
const TOOLS = readdirSync(fx('libbpf-tools')).sort().map((f) => fx('libbpf-tools', f));
const haveBpftool = spawnSync('bpftool', ['version'], { encoding: 'utf8' }).status === 0;
const hex = (p: string | Uint8Array): string => Buffer.from(typeof p === 'string' ? readFileSync(p) : p).toString('hex');

beforeAll(() => {
  const r = spawnSync('xz', ['-dc', fixture('k612/vmlinux.btf.xz')], { maxBuffer: 1 << 26 });
  writeFileSync(VMLINUX, r.stdout);
});

describe('min-core', () => {
  it('writes what bpftool writes, and says what it wrote', async () => {
    const out = join(tmp, 'all.btf');
    const r = await modbtf('min-core', '-k', MINI, '-o', out, fx('core_kinds.bpfel.o'), ...TOOLS);
    expect(r).toMatchObject({ code: 0, err: [] });
    expect(hex(out)).toBe(hex(fx('expected/ALL.k612-mini.btf')));
    expect(r.out).toEqual([`${out}: 63 types (2.27 kB) for 7 BPF objects, 112 relocations, 28 without a target (--report lists them)`]);
  });

  it('on the full 6.12 BTF, each committed object equals bpftool\'s output for it', async () => {
    for (const o of TOOLS) {
      const name = o.replace(/^.*\//, '').replace(/\.bpf\.o$/, '');
      const out = join(tmp, `${name}.btf`);
      const r = await modbtf('min-core', '-k', VMLINUX, '-o', out, o);
      expect(r.code, r.err.join('\n')).toBe(0);
      expect(hex(out), name).toBe(hex(fx('expected/libbpf-tools-0.26.0/k612', `${name}.btf`)));
    }
  });

  it('--report lists every relocation without a target, per object and program', async () => {
    const r = await modbtf('min-core', '-k', MINI, '-o', join(tmp, 'k.btf'), '--report', fx('core_kinds.bpfel.o'));
    const o = fx('core_kinds.bpfel.o');
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      `${o}: 22 relocations, 3 without a target on ${MINI}`,
      '  kprobe/do_nothing (prog_fields) insn #22 relo #10: FIELD_EXISTS struct task_struct___old .state [0:0]: not found (1 candidate type, none matches): 0',
      '  tracepoint/sched/sched_switch (prog_types) insn #6 relo #2: TYPE_EXISTS struct no_such_struct_xyz [0]: not found (no type named no_such_struct_xyz in the kernel): 0',
      '  tracepoint/sched/sched_switch (prog_types) insn #20 relo #7: ENUMVAL_EXISTS enum pid_type___x ::PIDTYPE_NOPE___x [1]: not found (1 candidate type, none matches): 0',
      `${join(tmp, 'k.btf')}: 24 types (882 B) for 1 BPF object, 22 relocations, 3 without a target`,
    ]);
  });

  it('--json: one object per input with the relocations without a target', async () => {
    const out = join(tmp, 'j.btf');
    const r = await modbtf('min-core', '-k', MINI, '-o', out, '--json', fx('libbpf-tools/cpudist.bpf.o'));
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(1);
    const j = JSON.parse(r.out[0]!);
    expect(j).toMatchObject({ file: fx('libbpf-tools/cpudist.bpf.o'), ok: true, kernel: MINI, modules: [], output: out });
    expect(j.objects).toHaveLength(1);
    expect(j.objects[0].relocations).toBe(7);
    expect(j.objects[0].unresolved).toEqual([expect.objectContaining({
      section: '.text', func: 'handle_switch', insn: 129, kind: 'FIELD_BYTE_OFFSET', status: 'missing', poison: true, value: null,
      local: expect.objectContaining({ type: 'struct task_struct___o', path: '.state' }),
    })]);
  });

  it('usage errors name the option and read nothing (exit 2)', async () => {
    const cases: [string[], string][] = [
      [['min-core', '-k', MINI, fx('core_kinds.bpfel.o')], 'modbtf: min-core: -o is required (or --split --out-dir DIR)'],
      [['min-core', '-k', MINI, '--split', fx('core_kinds.bpfel.o')], 'modbtf: min-core: --split needs --out-dir'],
      [['min-core', '-k', MINI, '--split', '--out-dir', tmp, '-o', 'x', fx('core_kinds.bpfel.o')], 'modbtf: min-core: --split writes into --out-dir, not -o'],
      [['min-core', '-o', 'x', fx('core_kinds.bpfel.o')], 'modbtf: min-core: --kernel is required'],
      [['min-core', '-k', MINI, '-o', '-', '--json', fx('core_kinds.bpfel.o')], 'modbtf: min-core: -o - and --json cannot be used together (both write to stdout)'],
      [['core-check', '-k', MINI, '-k', VMLINUX, '-m', BBR, fx('core_kinds.bpfel.o')], 'modbtf: core-check: --module goes with one --kernel (module BTF is split on one vmlinux)'],
    ];
    for (const [argv, msg] of cases) {
      const r = await modbtf(...argv);
      expect(r, argv.join(' ')).toEqual({ code: 2, out: [], err: [msg] });
    }
  });

  it('fails as bpftool does, naming the object, section and relocation, and writes nothing', async () => {
    // a relocation whose access string names member 4 of struct dentry (2 members)
    const bytes = new Uint8Array(readFileSync(fx('core_kinds.bpfel.o')));
    const o = readBpfObject(bytes, 'x');
    const ext = o.elf.section('.BTF.ext')!;
    const dv = new DataView(bytes.buffer, bytes.byteOffset + ext.offset);
    const h = o.ext!.header;
    const relos = o.ext!.coreRelos[0]!;
    const byDentry = relos.records.findIndex((x) => x.accessStr === '0:1' && o.btf.name(x.typeId) === 'dentry');
    const tasksPrev = relos.records.find((x) => x.accessStr === '0:4:1')!;
    // record i of the first section: hdr + block off + rec_size (4) + sec header (8) + i * 16; access_str_off at +8
    dv.setUint32(h.hdrLen + h.coreReloOff + 4 + 8 + byDentry * 16 + 8, tasksPrev.accessStrOff, true);
    const bad = join(tmp, 'bad.bpf.o');
    writeFileSync(bad, bytes);
    const out = join(tmp, 'bad.btf');
    const r = await modbtf('min-core', '-k', MINI, '-o', out, bad);
    expect(r).toEqual({ code: 1, out: [], err: [
      `modbtf: min-core: ${bad}: kprobe/do_nothing: relocation #12 (FIELD_BYTE_SIZE struct dentry 0:4:1): invalid access string "0:4:1" for [17]: member index 4 out of range of [17]`,
    ] });
    expect(existsSync(out)).toBe(false);
    if (haveBpftool) {
      const b = spawnSync('bpftool', ['gen', 'min_core_btf', MINI, out, bad], { encoding: 'utf8' });
      expect(b.status).not.toBe(0);
      expect(existsSync(out)).toBe(false);
    }
    const nb = join(tmp, 'not-bpf');
    writeFileSync(nb, 'hello');
    expect(await modbtf('min-core', '-k', MINI, '-o', out, nb)).toEqual({ code: 1, out: [], err: [
      `modbtf: min-core: ${nb}: no BPF object: neither a BPF ELF file (e_machine 247) nor a program embedding one`,
    ] });
    const j = await modbtf('min-core', '-k', MINI, '-o', out, '--json', nb);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.out[0]!)).toEqual({ file: nb, ok: false, error: { code: 'E_BPF_OBJECT', message: 'no BPF object: neither a BPF ELF file (e_machine 247) nor a program embedding one' } });
  });

  it('-o - writes the BTF to stdout and the summary to stderr (bin/modbtf)', () => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin/modbtf'), 'min-core', '-k', MINI, '-o', '-', fx('libbpf-tools/mdflush.bpf.o')], { maxBuffer: 1 << 20 });
    expect(r.status).toBe(0);
    expect(r.stdout.toString('hex')).toBe(hex(fx('expected/mdflush.bpf.k612-mini.btf')));
    expect(r.stderr.toString()).toBe('stdout: 8 types (237 B) for 1 BPF object, 5 relocations, 1 without a target (--report lists them)\n');
  });

  it('finds the object embedded in a program binary', async () => {
    const host = Buffer.concat([Buffer.from('\x7fELF-not-really'), Buffer.alloc(100), readFileSync(fx('libbpf-tools/biopattern.bpf.o')), Buffer.alloc(50)]);
    const p = join(tmp, 'biopattern-host');
    writeFileSync(p, host);
    const out = join(tmp, 'host.btf');
    const r = await modbtf('min-core', '-k', VMLINUX, '-o', out, p);
    expect(r.code).toBe(0);
    expect(hex(out)).toBe(hex(fx('expected/libbpf-tools-0.26.0/k612/biopattern.btf')));
  });
});

describe('min-core with module types', () => {
  const obj = fx('core_modules.bpfel.o');

  it('merged: equals bpftool given vmlinux and the module\'s split BTF concatenated', async () => {
    const out = join(tmp, 'bbr.btf');
    const r = await modbtf('min-core', '-k', VMLINUX, '-m', BBR, '-o', out, obj);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(hex(out)).toBe(hex(fx('expected/core_modules.tcp_bbr-concat.btf')));
    // without the module, the module types are silently absent (as bpftool on vmlinux alone)
    const plain = await modbtf('min-core', '-k', VMLINUX, '-o', join(tmp, 'plain.btf'), '--report', obj);
    expect(plain.out).toContain(`  kprobe/xfs_inode_item (prog_modules) insn #10 relo #4: FIELD_LSHIFT_U64 struct bbr .prev_ca_state [0:2]: not found (no type named bbr in the kernel): instruction poisoned`);
    if (haveBpftool) {
      const k = await loadModuleBtf(BBR, Btf.parse(new Uint8Array(readFileSync(VMLINUX))));
      const cat = join(tmp, 'cat.btf');
      writeFileSync(cat, mergeKernel(k.btf.base!, [k]).btf.toBytes());
      const b = spawnSync('bpftool', ['gen', 'min_core_btf', cat, join(tmp, 'bpftool-bbr.btf'), obj], { encoding: 'utf8' });
      expect(b.status, b.stderr).toBe(0);
      expect(hex(out)).toBe(hex(join(tmp, 'bpftool-bbr.btf')));
    }
  });

  it('takes the module compressed, decompressed, as raw split BTF, or distilled, with the same result', async () => {
    const dec = join(tmp, 'tcp_bbr.ko');
    writeFileSync(dec, spawnSync('xz', ['-dc', BBR], { maxBuffer: 1 << 26 }).stdout);
    const raw = join(tmp, 'tcp_bbr.btf');
    expect((await modbtf('extract', dec, '-o', raw)).code).toBe(0);
    const dist = join(tmp, 'dist', 'tcp_bbr.ko');
    mkdirSync(join(tmp, 'dist'));
    expect((await modbtf('distill', '--base', VMLINUX, '--out-dir', join(tmp, 'dist'), dec)).code).toBe(0);
    const out = join(tmp, 'form.btf');
    for (const m of [dec, raw]) {
      const r = await modbtf('min-core', '-k', VMLINUX, '-m', m, '-o', out, obj);
      expect(r.code, r.err.join('\n')).toBe(0);
      expect(hex(out), m).toBe(hex(fx('expected/core_modules.tcp_bbr-concat.btf')));
    }
    // distilled: relocated onto --kernel first; its split BTF orders types differently, so
    // the same types come out in another order
    const r = await modbtf('min-core', '-k', VMLINUX, '-m', dist, '-o', out, obj);
    expect(r.code, r.err.join('\n')).toBe(0);
    const shape = (p: string): string[] => {
      const lines: string[] = [];
      dumpRaw(Btf.parse(new Uint8Array(readFileSync(p))), (t) => lines.push(...t.split('\n').filter(Boolean)));
      return lines.map((l) => l.replace(/^\[\d+\] /, '').replace(/type_id=\d+/g, 'type_id=N')).sort();
    };
    expect(shape(out)).toEqual(shape(fx('expected/core_modules.tcp_bbr-concat.btf')));
    expect(hex(out)).not.toBe(hex(fx('expected/core_modules.tcp_bbr-concat.btf')));
  });

  it.skipIf(!haveBpftool)('--split: vmlinux.btf and MODULE.btf dump to the merged file\'s types', async () => {
    const dir = join(tmp, 'split');
    const r = await modbtf('min-core', '-k', VMLINUX, '-m', BBR, '--split', '--out-dir', dir, obj);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['tcp_bbr.btf', 'vmlinux.btf']);
    const dump = (...a: string[]): string => spawnSync('bpftool', ['btf', 'dump', 'file', ...a], { encoding: 'utf8' }).stdout;
    const merged = dump(fx('expected/core_modules.tcp_bbr-concat.btf'));
    expect(dump(join(dir, 'vmlinux.btf')) + dump(join(dir, 'tcp_bbr.btf'), '-B', join(dir, 'vmlinux.btf'))).toBe(merged);
    expect(merged).toContain("STRUCT 'bbr' size=104 vlen=1\n\t'prev_ca_state' type_id=");
  });

  it.skipIf(!haveCorpus || !haveBpftool)('two corpus modules at once: merged equals bpftool on the three-way concatenation; split dumps the same types', async () => {
    const xfs = corpus('k612cloud/modules/xfs.ko.xz');
    const out = join(tmp, 'two.btf');
    const r = await modbtf('min-core', '-k', VMLINUX, '-m', xfs, '-m', BBR, '-o', out, obj);
    expect(r.code, r.err.join('\n')).toBe(0);
    const v = Btf.parse(new Uint8Array(readFileSync(VMLINUX)));
    const mods = [await loadModuleBtf(xfs, v), await loadModuleBtf(BBR, v)];
    const cat = join(tmp, 'cat2.btf');
    writeFileSync(cat, mergeKernel(v, mods).btf.toBytes());
    const b = spawnSync('bpftool', ['gen', 'min_core_btf', cat, join(tmp, 'bpftool-two.btf'), obj], { encoding: 'utf8' });
    expect(b.status, b.stderr).toBe(0);
    expect(hex(out)).toBe(hex(join(tmp, 'bpftool-two.btf')));
    // split: the same types (names and shapes; module ids differ as each module is split on vmlinux alone)
    const dir = join(tmp, 'split2');
    expect((await modbtf('min-core', '-k', VMLINUX, '-m', xfs, '-m', BBR, '--split', '--out-dir', dir, obj)).code).toBe(0);
    const dump = (...a: string[]): string[] => spawnSync('bpftool', ['btf', 'dump', 'file', ...a], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    const shape = (lines: string[]): string[] => lines.map((l) => l.replace(/^\[\d+\] /, '').replace(/type_id=\d+/g, 'type_id=N')).sort();
    const parts = [...dump(join(dir, 'vmlinux.btf')), ...dump(join(dir, 'xfs.btf'), '-B', join(dir, 'vmlinux.btf')), ...dump(join(dir, 'tcp_bbr.btf'), '-B', join(dir, 'vmlinux.btf'))];
    expect(shape(parts)).toEqual(shape(dump(out)));
    const x = dump(join(dir, 'xfs.btf'), '-B', join(dir, 'vmlinux.btf')).join('\n');
    expect(x).toMatch(/STRUCT 'xfs_inode' size=992 vlen=4/);
    // a module member whose type lives in vmlinux refers to the minimized vmlinux's struct inode
    const inodeId = dump(join(dir, 'vmlinux.btf')).find((l) => l.includes("STRUCT 'inode'"))!.match(/^\[(\d+)\]/)![1];
    expect(x).toContain(`'i_vnode' type_id=${inodeId} bits_offset=2496`);
  });
});

describe('core-check', () => {
  it('prints per object and kernel what does not resolve; exit 0 when libbpf refuses nothing', async () => {
    const o = fx('libbpf-tools/cpudist.bpf.o');
    const r = await modbtf('core-check', '-k', MINI, o);
    expect(r).toEqual({ code: 0, err: [], out: [
      `${o} on ${MINI}: 7 relocations, 1 poisoned (loads only if never reached)`,
      '  POISONED .text (handle_switch) insn #129 relo #4: FIELD_BYTE_OFFSET struct task_struct___o .state [0:0]: not found (1 candidate type, none matches): instruction poisoned',
    ] });
    expect((await modbtf('core-check', '--strict', '-k', MINI, o)).code).toBe(1);
  });

  it('--verbose prints every value; module types need --module', async () => {
    const obj = fx('core_modules.bpfel.o');
    const r = await modbtf('core-check', '-v', '-k', VMLINUX, '-m', BBR, obj);
    expect(r.code).toBe(0);
    expect(r.out).toContain('  kprobe/xfs_inode_item (prog_modules) insn #10 relo #4: FIELD_LSHIFT_U64 struct bbr .prev_ca_state [0:2]: struct bbr.prev_ca_state = 58');
    expect(r.out).toContain('  kprobe/xfs_inode_item (prog_modules) insn #12 relo #5: FIELD_RSHIFT_U64 struct bbr .prev_ca_state [0:2]: struct bbr.prev_ca_state = 61');
  });
});
