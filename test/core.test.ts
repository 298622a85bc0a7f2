/**
 * The CO-RE engine and min-core: values of every relocation kind, and
 * minimized BTF byte-identical to `bpftool gen min_core_btf` (Debian's 7.1.0,
 * libbpf 1.1) — on committed fixtures always, on the corpus kernels and the
 * libbpf-tools objects when present, live against bpftool when installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { readBpfObject, readBpfObjects, type BpfObject } from '../src/bpfobj/object.js';
import { Btf } from '../src/btf/btf.js';
import { loadBaseBtf } from '../src/btf/load.js';
import { minCoreBtf } from '../src/core/mincore.js';
import { CandidateIndex, resolveCoreRelocations } from '../src/core/relo.js';
import { corpus, fixture, haveCorpus } from './helpers.js';

const fx = (...p: string[]): string => fixture('bpfobj', ...p);
const readObj = (p: string): BpfObject => readBpfObject(new Uint8Array(readFileSync(p)), p);
const FIXTURE_OBJS = ['core_kinds.bpfel.o', ...readdirSync(fx('libbpf-tools')).sort().map((f) => `libbpf-tools/${f}`)];
const mini = (): Btf => Btf.parse(new Uint8Array(readFileSync(fx('k612-mini.btf'))), { file: 'k612-mini.btf' });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const haveBpftool = spawnSync('bpftool', ['version'], { encoding: 'utf8' }).status === 0;
const tools = spawnSync('dpkg', ['-L', 'libbpf-tools'], { encoding: 'utf8' });
const toolBins = tools.status === 0 ? tools.stdout.split('\n').filter((p) => p.startsWith('/usr/sbin/') && existsSync(p)).sort() : [];
const toolsVersion = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libbpf-tools'], { encoding: 'utf8' }).stdout;
const sameTools = toolsVersion === '0.26.0+ds-1';
const cachedK61 = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'modbtf/kernels/root/boot');
const k61 = existsSync(cachedK61) ? readdirSync(cachedK61).find((f) => /^vmlinuz-6\.1\./.test(f)) : undefined;

// Values libbpf computes for core_kinds.bpf.c on Debian's 6.12.117 cloud kernel
// (offsets as `bpftool btf dump` of its vmlinux shows them).
const CORE_KINDS_6_12: [string, string, string | null][] = [
  ['FIELD_BYTE_OFFSET', '.tgid', '2436'],
  ['FIELD_BYTE_SIZE', '.comm', '16'],
  ['FIELD_EXISTS', '.real_parent', '1'],
  ['FIELD_SIGNED', '.pid', '1'],
  ['FIELD_LSHIFT_U64', '.sk_kern_sock', '62'],
  ['FIELD_RSHIFT_U64', '.sk_kern_sock', '63'],
  ['FIELD_BYTE_OFFSET', '.__sk_common.skc_family', '16'],
  ['FIELD_BYTE_OFFSET', '.d_name.len', '36'],
  ['FIELD_BYTE_OFFSET', '.comm[3]', '2979'],
  ['FIELD_BYTE_OFFSET', '.tasks.prev', '2232'],
  ['FIELD_EXISTS', '.state', '0'],
  ['FIELD_EXISTS', '.__state', '1'],
  ['FIELD_BYTE_SIZE', '.d_parent', '8'],
  ['TYPE_EXISTS', '', '1'],
  ['TYPE_SIZE', '', '9792'],
  ['TYPE_EXISTS', '', '0'],
  ['TYPE_ID_LOCAL', '', '5'],
  ['TYPE_ID_TARGET', '', null],
  ['ENUMVAL_EXISTS', '::PIDTYPE_TGID', '1'],
  ['ENUMVAL_VALUE', '::PIDTYPE_SID', '3'],
  ['ENUMVAL_EXISTS', '::PIDTYPE_NOPE___x', '0'],
  ['TYPE_SIZE', '', '16'],
];

describe('resolveCoreRelocations', () => {
  it('computes every kind on a 6.12 kernel (minimized BTF)', () => {
    for (const name of ['core_kinds.bpfel.o', 'core_kinds.bpfeb.o']) {
      const rel = resolveCoreRelocations(readObj(fx(name)), mini());
      expect(rel.map((r) => [r.kindName, r.target?.path ?? r.local.path, r.kind === 7 ? null : String(r.value)])).toEqual(CORE_KINDS_6_12);
      expect(rel.map((r) => r.status)).toEqual(CORE_KINDS_6_12.map(([, , v], i) => (v === '0' && [10, 15, 20].includes(i) ? 'missing' : 'ok')));
      expect(rel[0]).toMatchObject({ section: 'kprobe/do_nothing', func: 'prog_fields', insnOff: 0, local: { type: 'struct task_struct', access: '0:1', path: '.tgid' } });
      expect(rel[7]!.target).toMatchObject({ type: 'struct dentry', path: '.d_name.len', bitOffset: 288 });
      expect(rel[14]!.func).toBe('prog_types');
    }
  });

  it('flags a relocation with no candidate as missing and poisons what is not an existence check', () => {
    const rel = resolveCoreRelocations(readObj(fx('core_kinds.bpfel.o')), mini());
    const byte = rel.find((r) => r.local.type === 'struct task_struct___old')!;
    expect(byte).toMatchObject({ status: 'missing', value: 0n, target: null, candidates: 1 });
  });

  it.skipIf(!haveCorpus)('gives the same values on the full 6.12 BTF as on the minimized one', async () => {
    const full = await loadBaseBtf(corpus('k612cloud/vmlinux.btf'));
    const idx = new CandidateIndex(full);
    const m = mini();
    for (const f of FIXTURE_OBJS) {
      const o = readObj(fx(f));
      const a = resolveCoreRelocations(o, full, { candidates: idx });
      const b = resolveCoreRelocations(o, m);
      const view = (rs: typeof a): unknown[] => rs.map((r) => [r.kindName, r.status, r.kind === 7 ? null : r.value, r.target?.path, r.target?.bitOffset]);
      expect(view(b), f).toEqual(view(a));
    }
  });
});

describe('minCoreBtf equals bpftool gen min_core_btf', () => {
  it('on committed objects and a committed kernel BTF, per object and all at once', () => {
    const k = mini();
    const idx = new CandidateIndex(k);
    const all: BpfObject[] = [];
    for (const f of FIXTURE_OBJS) {
      const o = readObj(fx(f));
      all.push(o);
      const exp = readFileSync(fx('expected', `${f.replace(/^.*\//, '').replace(/\.o$/, '')}.k612-mini.btf`));
      expect(hex(minCoreBtf(k, [o], { candidates: idx }).bytes), f).toBe(exp.toString('hex'));
    }
    const r = minCoreBtf(k, all, { candidates: idx });
    expect(hex(r.bytes)).toBe(readFileSync(fx('expected/ALL.k612-mini.btf')).toString('hex'));
    // minimizing the minimized BTF again is a fixpoint
    expect(hex(r.bytes)).toBe(readFileSync(fx('k612-mini.btf')).toString('hex'));
  });

  const kernels: [string, () => string | undefined][] = [
    ['k612', () => (haveCorpus ? corpus('k612cloud/vmlinux.btf') : undefined)],
    ['h618', () => (haveCorpus ? corpus('host618/vmlinux.btf') : undefined)],
    ['k61', () => (k61 ? join(cachedK61, k61) : undefined)],
  ];
  for (const [tag, path] of kernels) {
    const kp = path();
    it.skipIf(!kp || toolBins.length === 0)(`${tag}: every libbpf-tools object and all at once${haveBpftool ? ' (live bpftool)' : ''}`, async () => {
      const kernel = await loadBaseBtf(kp!);
      const idx = new CandidateIndex(kernel);
      const dir = mkdtempSync(join(tmpdir(), 'modbtf-mincore-'));
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
      let kfile = kp!;
      if (haveBpftool && !kp!.endsWith('.btf')) {
        kfile = join(dir, 'vmlinux.btf');
        writeFileSync(kfile, kernel.toBytes());
      }
      // Per object: bpftool's outputs for Debian's libbpf-tools 0.26.0 are committed
      // (bpftool over 3 x 61 objects takes a minute); all at once: committed and live.
      const expDir = fx('expected/libbpf-tools-0.26.0', tag);
      const all: BpfObject[] = [];
      const files: string[] = [];
      for (const bin of toolBins) {
        for (const o of readBpfObjects(new Uint8Array(readFileSync(bin)), bin)) {
          all.push(o);
          const of = join(dir, `${bin.replace(/^.*\//, '')}.bpf.o`);
          writeFileSync(of, o.bytes);
          files.push(of);
          if (!sameTools) continue;
          const ours = minCoreBtf(kernel, [o], { candidates: idx }).bytes;
          expect(hex(ours), o.name).toBe(readFileSync(join(expDir, `${bin.replace(/^.*\//, '')}.btf`)).toString('hex'));
        }
      }
      const ours = minCoreBtf(kernel, all, { candidates: idx }).bytes;
      if (sameTools) expect(hex(ours)).toBe(readFileSync(join(expDir, 'ALL.btf')).toString('hex'));
      if (haveBpftool) {
        const out = join(dir, 'all.btf');
        const p = spawnSync('bpftool', ['gen', 'min_core_btf', kfile, out, ...files], { encoding: 'utf8' });
        expect(p.status, p.stderr).toBe(0);
        expect(hex(ours)).toBe(readFileSync(out).toString('hex'));
      }
    }, 120_000);
  }
});
