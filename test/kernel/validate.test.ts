/**
 * The 6.12 kernel's own verdict on hand-made module BTF: each case appends a
 * few types to a stock module's `.BTF` (split BTF on the kernel's), the
 * kernel boots with every such module, and a module whose BTF it accepts has
 * /sys/kernel/btf/<module>. modbtf's validateBtf must give the same verdict.
 *
 * Two rules modbtf takes from kernels 6.15 and later (kind_flag on TYPE_TAG
 * and DECL_TAG), which 6.12 refuses, are checked as such.
 *
 * MODBTF_TEST_KERNEL: Debian's 6.12 cloud vmlinuz (corpus/k612cloud/boot);
 * its modules and BTF come from the corpus.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Btf } from '../../src/btf/btf.js';
import { Kind } from '../../src/btf/kinds.js';
import { loadBaseBtf } from '../../src/btf/load.js';
import { validateBtf } from '../../src/btf/validate.js';
import { editElf } from '../../src/elf/index.js';
import { ModbtfError } from '../../src/errors.js';
import { openInput } from '../../src/module/index.js';
import { corpus, haveCorpus, info } from '../helpers.js';
import { bootWithModules, kernelTestSetup } from './harness.js';

const setup = kernelTestSetup();
const skip = setup.skip ?? (haveCorpus ? undefined : 'the corpus (../shared/corpus) is not there');
if (skip) console.log(`kernel validation tests skipped: ${skip}`);

/** Types to append: `t` is the first new id, `int` the kernel's int, `s(name)` a new string's offset. */
type Make = (t: number, int: number, s: (name: string) => number) => number[][];

/**
 * [stock module (no dependencies, no .BTF_ids), case, the types, and for the
 * rules modbtf takes from later kernels the version that accepts them (6.12
 * refuses, modbtf accepts)].
 */
const CASES: [string, string, Make, string?][] = [
  ['crc7', "FLOAT 'long double'", (_t, _i, s) => [[s('long double'), info(Kind.FLOAT), 16]]],
  ['loop', "STRUCT '.data' (a dot)", (_t, int, s) => [[s('.data'), info(Kind.STRUCT, 1), 4, s('a'), int, 0]]],
  ['sysv', "STRUCT '\xe9t\xe9' (Latin-1 letters)", (_t, int, s) => [[s('\xe9t\xe9'), info(Kind.STRUCT, 1), 4, s('a'), int, 0]]],
  ['nls_ucs2_utils', 'TYPE_TAG with kind_flag', (_t, int, s) => [[s('x'), info(Kind.TYPE_TAG, 0, true), int]], '6.15'],
  ['ledtrig-netdev', 'INT of size 3', (_t, _i, s) => [[s('i3'), info(Kind.INT), 3, 24]]],
  ['virtio_balloon', 'FUNC with extern linkage', (t, int, s) => [[0, info(Kind.FUNC_PROTO, 0), int], [s('f'), info(Kind.FUNC, 2), t]]],
  ['virtio_blk', "DATASEC 'sec$1 (x)'", (t, int, s) => [[s('v'), info(Kind.VAR), int, 0], [s('sec$1 (x)'), info(Kind.DATASEC, 1), 4, t, 0, 4]]],
  ['act_bpf', "TYPE_TAG 'x y'", (_t, int, s) => [[s('x y'), info(Kind.TYPE_TAG), int]]],
  ['cls_bpf', 'a struct member past the struct size', (_t, int, s) => [[s('big'), info(Kind.STRUCT, 1), 2, s('a'), int, 0]]],
  ['dm-mod', 'a struct of itself (a loop)', (t, _i, s) => [[s('self'), info(Kind.STRUCT, 1), 4, s('a'), t, 0]]],
  ['md-mod', 'a FUNC whose prototype has an unnamed parameter', (t, int, s) => [[0, info(Kind.FUNC_PROTO, 1), int, 0, int], [s('g'), info(Kind.FUNC), t]]],
  ['tls', 'DECL_TAG with kind_flag', (t, int, s) => [[s('dt'), info(Kind.STRUCT, 1), 4, s('a'), int, 0], [s('attr'), info(Kind.DECL_TAG, 0, true), t, -1 >>> 0]], '6.15'],
  ['vsock', 'a CONST before a TYPE_TAG', (t, int, s) => [[0, info(Kind.CONST), t + 1], [s('tag'), info(Kind.TYPE_TAG), int]]],
  ['virtio_scsi', 'INT with two encodings', (_t, _i, s) => [[s('i2'), info(Kind.INT), 4, 0x03000020]]],
];

/** The module's .BTF with `make`'s types appended (ids and strings after its own). */
function appendTypes(raw: Uint8Array, base: Btf, make: Make): Uint8Array {
  const split = Btf.parse(raw, { base });
  const strs: string[] = [];
  const offs = new Map<string, number>();
  let strLen = split.strings.length;
  const s = (name: string): number => {
    let o = offs.get(name);
    if (o === undefined) {
      o = split.strEnd + (strLen - split.strings.length);
      offs.set(name, o);
      strs.push(name);
      strLen += Buffer.byteLength(name, 'latin1') + 1;
    }
    return o;
  };
  let int = 0;
  for (let id = 1; id < base.typeCount && !int; id++) if (base.kind(id) === Kind.INT && base.name(id) === 'int') int = id;
  const words = make(split.typeCount, int, s).flat();
  const types = Buffer.alloc(split.types.length + words.length * 4);
  Buffer.from(split.types).copy(types);
  words.forEach((w, i) => types.writeUInt32LE(w >>> 0, split.types.length + i * 4));
  const strings = Buffer.concat([Buffer.from(split.strings), Buffer.from(strs.map((x) => `${x}\0`).join(''), 'latin1')]);
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0); hdr[2] = 1; hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8); hdr.writeUInt32LE(types.length, 12);
  hdr.writeUInt32LE(types.length, 16); hdr.writeUInt32LE(strings.length, 20);
  return Buffer.concat([hdr, types, strings]);
}

describe.skipIf(!!skip)('the kernel\'s verdict on hand-made module BTF equals validateBtf\'s', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modbtf-kvalid-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every case', async () => {
    const base = await loadBaseBtf(corpus('k612cloud/vmlinux.btf'));
    const files: string[] = [];
    const mine = new Map<string, string>();
    for (const [mod, , make] of CASES) {
      const stock = corpus('k612cloud/modules', `${mod}.ko.xz`);
      const elf = (await openInput(stock)).elf!;
      const btf = appendTypes(elf.data(elf.section('.BTF')!), base, make);
      try {
        validateBtf(Btf.parse(btf, { base }));
        mine.set(mod, 'accepted');
      } catch (e) {
        if (!(e instanceof ModbtfError)) throw e;
        mine.set(mod, `refused: ${e.message}`);
      }
      const f = join(dir, `${mod}.ko`);
      writeFileSync(f, editElf(elf, { replace: new Map([['.BTF', btf]]) }));
      files.push(f);
    }
    const boot = await bootWithModules(setup.kernel!, files);
    expect(boot.done, boot.serialLog.slice(-3000)).toBe(true);
    const rows: string[] = [];
    const disagree: string[] = [];
    for (const [mod, what, , since] of CASES) {
      const v = boot.modules.get(mod.replace(/-/g, '_'));
      expect(v, mod).toBeDefined();
      const kernel = v!.btf ? 'accepted' : `refused (${v!.klog.filter((l) => /BPF:/.test(l)).map((l) => l.replace(/^\[[ 0-9.]+\] /, '')).join(' | ')})`;
      rows.push(`${what}: kernel ${kernel}; modbtf ${mine.get(mod)}`);
      const expected = since ? 'accepted' : v!.btf ? 'accepted' : 'refused';
      if (since) expect(v!.btf, `${what}: 6.12 refuses what ${since} accepts`).toBeNull();
      if (mine.get(mod)!.split(':')[0] !== expected) disagree.push(rows.at(-1)!);
    }
    console.log(rows.join('\n'));
    expect(disagree).toEqual([]);
  });
});
