/** `modbtf dump` against bpftool: committed expectations, and bpftool itself when it is installed. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { dumpJson, dumpRaw, toJsonText } from '../src/btf/dump.js';
import { loadBaseBtf } from '../src/btf/load.js';
import { openInput } from '../src/module/index.js';
import { corpus, fixture, haveCorpus, rawBtf, info } from './helpers.js';

const haveBpftool = spawnSync('bpftool', ['version']).status === 0;
if (!haveBpftool) console.log('note: bpftool not installed: dump is compared with committed expectations only');

function dump(btf: Btf): string {
  const lines: string[] = [];
  dumpRaw(btf, (l) => lines.push(l));
  return `${lines.join('\n')}\n`;
}

describe('dump format', () => {
  it('prints every kind as bpftool does', () => {
    const S = ['', 'int', 's', 'x', 'E', 'A', 'f', '.bss', 'v', 'tag', 'u'];
    let off = 0;
    const o: Record<string, number> = {};
    for (const s of S) { o[s] = off; off += s.length + 1; }
    const btf = Btf.parse(rawBtf([
      [o.int!, info(1), 4, 0x01000020],
      [0, info(2), 1],
      [0, info(3), 0, 1, 1, 3],
      [o.s!, info(4, 2, true), 8, o.x!, 1, 0x03000000, 0, 1, 32],
      [o.u!, info(5, 1), 4, o.x!, 1, 0],
      [o.E!, info(6, 2, true), 4, o.A!, 0xffffffff, o.x!, 7],
      [o.s!, info(7, 0, true), 0],
      [o.x!, info(8), 1],
      [0, info(9), 1], [0, info(10), 1], [0, info(11), 2],
      [0, info(13, 2), 1, o.x!, 1, 0, 0],
      [o.f!, info(12, 1), 12],
      [o.v!, info(14), 1, 1],
      [o['.bss']!, info(15, 1), 4, 14, 0, 4],
      [o.x!, info(16), 8],
      [o.tag!, info(17), 13, 0xffffffff],
      [o.tag!, info(18), 2],
      [o.E!, info(19, 1), 8, o.A!, 0xffffffff, 0xffffffff],
    ], S));
    expect(dump(btf)).toBe([
      "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
      "[2] PTR '(anon)' type_id=1",
      "[3] ARRAY '(anon)' type_id=1 index_type_id=1 nr_elems=3",
      "[4] STRUCT 's' size=8 vlen=2\n\t'x' type_id=1 bits_offset=0 bitfield_size=3\n\t'(anon)' type_id=1 bits_offset=32",
      "[5] UNION 'u' size=4 vlen=1\n\t'x' type_id=1 bits_offset=0",
      "[6] ENUM 'E' encoding=SIGNED size=4 vlen=2\n\t'A' val=-1\n\t'x' val=7",
      "[7] FWD 's' fwd_kind=union",
      "[8] TYPEDEF 'x' type_id=1",
      "[9] VOLATILE '(anon)' type_id=1",
      "[10] CONST '(anon)' type_id=1",
      "[11] RESTRICT '(anon)' type_id=2",
      "[12] FUNC_PROTO '(anon)' ret_type_id=1 vlen=2\n\t'x' type_id=1\n\t'(anon)' type_id=0",
      "[13] FUNC 'f' type_id=12 linkage=global",
      "[14] VAR 'v' type_id=1, linkage=global",
      "[15] DATASEC '.bss' size=4 vlen=1\n\ttype_id=14 offset=0 size=4 (VAR 'v')",
      "[16] FLOAT 'x' size=8",
      "[17] DECL_TAG 'tag' type_id=13 component_idx=-1",
      "[18] TYPE_TAG 'tag' type_id=2",
      "[19] ENUM64 'E' encoding=UNSIGNED size=8 vlen=1\n\t'A' val=18446744073709551615ULL",
      '',
    ].join('\n'));
    expect(toJsonText(dumpJson(btf))).toContain('"values":[{"name":"A","val":18446744073709551615}]');
  });
});

describe.skipIf(!haveCorpus)('dump on the corpus', () => {
  it('vmlinux: sha256 of the raw dump equals that of bpftool v7.1 output', async () => {
    const vm = await loadBaseBtf(corpus('k612cloud/vmlinux.btf'));
    const text = dump(vm);
    const sha = createHash('sha256').update(Buffer.from(text, 'latin1')).digest('hex');
    expect(sha).toBe(readFileSync(fixture('dump/k612-vmlinux.raw.sha256'), 'utf8').trim());
    expect(text.split('\n').length - 1).toBe(255562);
  });

  it.skipIf(!haveBpftool)('modules with -B, raw and JSON, equal live bpftool', async () => {
    const vm = await loadBaseBtf(corpus('k612cloud/vmlinux.btf'));
    const mods = readdirSync(corpus('k612cloud/modules')).filter((f) => /^(af_key|crc7|tcp_bbr|nf_tables|kvm|sunrpc|mlx5_core)\.ko\.xz$/.test(f));
    expect(mods.length).toBe(7);
    for (const f of mods) {
      const elf = (await openInput(corpus('k612cloud/modules', f))).elf!;
      const raw = elf.data(elf.section('.BTF')!);
      const btf = Btf.parse(raw, { base: vm });
      const tmpFile = `/tmp/modbtf-dump-${process.pid}-${f}.btf`;
      writeFileSync(tmpFile, raw);
      const want = spawnSync('bpftool', ['btf', 'dump', 'file', tmpFile, '-B', corpus('k612cloud/vmlinux.btf')], { encoding: 'latin1', maxBuffer: 1 << 28 }).stdout;
      expect(dump(btf), f).toBe(want);
      const wantJ = spawnSync('bpftool', ['-j', 'btf', 'dump', 'file', tmpFile, '-B', corpus('k612cloud/vmlinux.btf')], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
      expect(JSON.parse(toJsonText(dumpJson(btf))), f).toEqual(JSON.parse(wantJ));
      rmSync(tmpFile);
    }
  });

  it('module .BTF sections parse and serialize byte for byte (split on vmlinux)', async () => {
    const vm = await loadBaseBtf(corpus('k612cloud/vmlinux.btf'));
    for (const f of readdirSync(corpus('k612cloud/modules'))) {
      const elf = (await openInput(corpus('k612cloud/modules', f))).elf!;
      const raw = Buffer.from(elf.data(elf.section('.BTF')!));
      const btf = Btf.parse(raw, { base: vm });
      btf.checkReferences();
      expect(Buffer.from(btf.toBytes()).equals(raw), f).toBe(true);
    }
  });
});
