/**
 * What map folds into the kernel's types, on small hand-made BTF: references
 * reaching a forward declaration (through every reference kind) become the
 * kernel's references to the type it resolves to; FUNC and DECL_TAG fold as
 * deduplication folds them, unless keepModuleFuncs; VAR and DATASEC never.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { BtfBuilder } from '../src/btf/builder.js';
import { Kind, kindName } from '../src/btf/kinds.js';
import { mapOntoBase, toStandalone } from '../src/map/map.js';
import { openInput } from '../src/module/index.js';
import { fixture, info } from './helpers.js';
import { loadBaseBtf } from '../src/btf/load.js';

/** A few words over BtfBuilder to write types the way bpftool prints them. */
class Types {
  readonly b: BtfBuilder;
  constructor(base: Btf | null = null) {
    this.b = new BtfBuilder(base, true);
  }
  private vlen(id: number, kind: number, vlen: number, kflag = false): number {
    this.b.setU32(this.b.recordOffset(id) + 4, info(kind, vlen, kflag));
    return id;
  }
  int(name: string, size: number): number {
    return this.b.addSimple(Kind.INT, name, false, size, [size * 8]);
  }
  ref(kind: Kind, to: number, name = ''): number {
    return this.b.addSimple(kind, name, false, to);
  }
  enumeration(name: string, size: number, values: [string, number][]): number {
    const id = this.b.addSimple(Kind.ENUM, name, false, size);
    this.b.appendRaw(values.flatMap(([n, v]) => [this.b.addString(n), v]));
    return this.vlen(id, Kind.ENUM, values.length);
  }
  fwd(name: string, union = false): number {
    return this.b.addSimple(Kind.FWD, name, union, 0);
  }
  array(elem: number, index: number, n: number): number {
    return this.b.addSimple(Kind.ARRAY, '', false, 0, [elem, index, n]);
  }
  struct(name: string, size: number, members: [string, number, number][], kind: Kind.STRUCT | Kind.UNION = Kind.STRUCT): number {
    const id = this.b.addSimple(kind, name, false, size);
    this.b.appendRaw(members.flatMap(([n, t, bits]) => [this.b.addString(n), t, bits]));
    return this.vlen(id, kind, members.length);
  }
  proto(ret: number, params: [string, number][]): number {
    const id = this.b.addSimple(Kind.FUNC_PROTO, '', false, ret);
    this.b.appendRaw(params.flatMap(([n, t]) => [this.b.addString(n), t]));
    return this.vlen(id, Kind.FUNC_PROTO, params.length);
  }
  func(name: string, proto: number, linkage: 0 | 1 | 2): number {
    return this.vlen(this.b.addSimple(Kind.FUNC, name, false, proto), Kind.FUNC, linkage);
  }
  declTag(name: string, to: number, component: number): number {
    return this.b.addSimple(Kind.DECL_TAG, name, false, to, [component >>> 0]);
  }
  variable(name: string, type: number): number {
    return this.b.addSimple(Kind.VAR, name, false, type, [1]);
  }
  build(): Btf {
    return this.b.build();
  }
}

/** The kernel: `struct foo` and its references of every kind, a function on it, duplicate names. */
function kernel(): Btf {
  const k = new Types();
  k.int('int', 4); // 1
  k.struct('foo', 8, [['a', 1, 0], ['b', 1, 32]]); // 2
  k.ref(Kind.PTR, 2); // 3
  k.ref(Kind.CONST, 2); // 4
  k.ref(Kind.VOLATILE, 2); // 5
  k.ref(Kind.TYPEDEF, 2, 'foo_t'); // 6
  k.ref(Kind.TYPE_TAG, 2, 'user'); // 7
  k.ref(Kind.PTR, 7); // 8
  k.array(3, 1, 4); // 9: struct foo *[4]
  k.ref(Kind.RESTRICT, 3); // 10: struct foo *restrict
  k.proto(1, [['p', 3]]); // 11: int (struct foo *p)
  k.func('foo_op', 11, 0); // 12: static
  k.declTag('tagged', 12, -1); // 13
  k.proto(1, [['x', 2]]); // 14: int (struct foo x)
  k.array(2, 1, 2); // 15: struct foo [2]
  k.struct('dup', 4, [['a', 1, 0]]); // 16
  k.struct('dup', 8, [['a', 1, 0], ['b', 1, 32]]); // 17
  k.ref(Kind.PTR, 16); // 18
  k.struct('onlyu', 4, [['a', 1, 0]], Kind.UNION); // 19
  k.ref(Kind.PTR, 19); // 20
  k.variable('shared', 1); // 21
  k.func('foo_op_global', 11, 1); // 22
  k.declTag('tagged', 2, 1); // 23: on foo.b
  k.proto(3, []); // 24: struct foo *(void)
  k.struct('holder', 8, [['p', 3, 0]]); // 25
  k.enumeration('color', 4, [['RED', 0], ['GREEN', 1]]); // 26
  k.ref(Kind.PTR, 26); // 27
  return k.build();
}

const dump = (b: Btf, ids: number[]): string[] => ids.map((id) => `${kindName(b.kind(id))} '${b.name(id)}'`);

describe('map: references to a forward declaration are the kernel\'s references', () => {
  const base = kernel();
  // The module's standalone BTF: `struct foo` only forward-declared, referenced every way.
  const m = new Types();
  m.int('int', 4); // 1
  m.fwd('foo'); // 2
  const refs = {
    ptr: m.ref(Kind.PTR, 2), // 3
    konst: m.ref(Kind.CONST, 2), // 4
    vol: m.ref(Kind.VOLATILE, 2), // 5
    typedef: m.ref(Kind.TYPEDEF, 2, 'foo_t'), // 6
    tag: m.ref(Kind.TYPE_TAG, 2, 'user'), // 7
    tagPtr: m.ref(Kind.PTR, 7), // 8
    arrPtr: m.array(3, 1, 4), // 9
    restrict: m.ref(Kind.RESTRICT, 3), // 10
    protoPtr: m.proto(1, [['p', 3]]), // 11
    protoVal: m.proto(1, [['x', 2]]), // 12
    arr: m.array(2, 1, 2), // 13
    protoRet: m.proto(3, []), // 14
    holder: m.struct('holder', 8, [['p', 3, 0]]), // 15
    colorFwd: m.enumeration('color', 0, []), // 16: enum declared without values (no size)
    colorPtr: m.ref(Kind.PTR, 16), // 17
  };
  const mod = m.build();
  const want: Record<keyof typeof refs, number> = {
    ptr: 3, konst: 4, vol: 5, typedef: 6, tag: 7, tagPtr: 8, arrPtr: 9, restrict: 10, protoPtr: 11, protoVal: 14, arr: 15,
    protoRet: 24, holder: 25, colorFwd: 26, colorPtr: 27,
  };

  it('PTR, CONST, VOLATILE, TYPEDEF, TYPE_TAG, ARRAY, RESTRICT, FUNC_PROTO (parameter, return) and a member reaching FWD foo, and a pointer to an enum declared without values, map onto the kernel\'s', () => {
    const r = mapOntoBase(mod, base);
    expect(r.idMap[2]).toBe(2);
    for (const [k, id] of Object.entries(refs)) expect([k, r.idMap[id]]).toEqual([k, want[k as keyof typeof refs]]);
    expect(r.split.nrTypes).toBe(0);
    expect(r.kept).toBe(0);
  });

  it('the same references stay when the forward declaration cannot be resolved', () => {
    // dup: two kernel structs of the name; onlyu: a union where the module declares a struct;
    // nokernel: no such type; mine: the module has a struct of that name of its own.
    const n = new Types();
    n.int('int', 4); // 1
    n.fwd('dup'); // 2
    n.ref(Kind.PTR, 2); // 3
    n.fwd('onlyu'); // 4
    n.ref(Kind.CONST, 4); // 5
    n.fwd('nokernel'); // 6
    n.ref(Kind.TYPEDEF, 6, 'nk_t'); // 7
    n.fwd('foo'); // 8
    n.ref(Kind.PTR, 8); // 9
    n.struct('foo', 4, [['only', 1, 0]]); // 10: not the kernel's foo
    n.fwd('onlyu', true); // 11: union onlyu
    n.ref(Kind.PTR, 11); // 12
    const r = mapOntoBase(n.build(), base);
    expect(Array.from(r.idMap.subarray(1))).toEqual([1, 28, 29, 30, 31, 32, 33, 34, 35, 36, 19, 20]);
    expect(dump(r.split, [28, 30, 32, 34, 36])).toEqual(["FWD 'dup'", "FWD 'onlyu'", "FWD 'nokernel'", "FWD 'foo'", "STRUCT 'foo'"]);
  });
});

describe('map: functions and tags fold as deduplication folds them', () => {
  const base = kernel();
  const m = new Types();
  m.int('int', 4); // 1
  m.fwd('foo'); // 2
  m.ref(Kind.PTR, 2); // 3
  m.proto(1, [['p', 3]]); // 4
  m.func('foo_op', 4, 0); // 5: the kernel's static foo_op, same prototype
  m.declTag('tagged', 5, -1); // 6
  m.func('foo_op_global', 4, 0); // 7: static here, global in the kernel
  m.proto(1, [['q', 3]]); // 8: another parameter name
  m.func('foo_op', 8, 0); // 9 (a second foo_op, another prototype)
  m.variable('shared', 1); // 10: variables are never folded
  m.struct('foo', 8, [['a', 1, 0], ['b', 1, 32]]); // 11
  m.declTag('tagged', 11, 1); // 12
  const mod = m.build();

  it('by default: the FUNC with the kernel\'s name, linkage and prototype and its tag are the kernel\'s', () => {
    const r = mapOntoBase(mod, base);
    expect(Array.from(r.idMap.subarray(1))).toEqual([1, 2, 3, 11, 12, 13, 28, 29, 30, 31, 2, 23]);
    expect(dump(r.split, [28, 29, 30, 31])).toEqual(["FUNC 'foo_op_global'", "FUNC_PROTO ''", "FUNC 'foo_op'", "VAR 'shared'"]);
    expect(r.funcsFolded).toBe(1);
    expect(r.funcsKept).toBe(0);
  });

  it('keepModuleFuncs keeps every FUNC (and the tags on them) and counts the one the kernel has', () => {
    const r = mapOntoBase(mod, base, { keepModuleFuncs: true });
    expect(Array.from(r.idMap.subarray(1))).toEqual([1, 2, 3, 11, 28, 29, 30, 31, 32, 33, 2, 23]);
    expect(dump(r.split, [28, 29, 30, 31, 32, 33])).toEqual(["FUNC 'foo_op'", "DECL_TAG 'tagged'", "FUNC 'foo_op_global'", "FUNC_PROTO ''", "FUNC 'foo_op'", "VAR 'shared'"]);
    expect(r.split.sizeOrType(28)).toBe(11);
    expect(r.split.sizeOrType(29)).toBe(28);
    expect(r.funcsFolded).toBe(0);
    expect(r.funcsKept).toBe(1);
  });
});

describe('modbtf map --keep-module-funcs', () => {
  it('says how many functions it kept; without it they are the kernel\'s', async () => {
    const { run } = await import('../src/cli/main.js');
    const { editElf } = await import('../src/elf/index.js');
    const vm = await loadBaseBtf(fixture('k612/vmlinux.btf.xz'));
    const elf = (await openInput(fixture('k612/modules/tcp_bbr.ko.xz'))).elf!;
    const sa = toStandalone(Btf.parse(elf.data(elf.section('.BTF')!), { base: vm }));
    let funcs = 0;
    let own = 0; // VAR and DATASEC: never folded
    let tags = 0; // DECL_TAGs on functions (bpf_kfunc): kept with them
    for (let id = 1; id < sa.typeCount; id++) {
      const k = sa.kind(id);
      if (k === Kind.FUNC) funcs++;
      if (k === Kind.VAR || k === Kind.DATASEC) own++;
      if (k === Kind.DECL_TAG && sa.kind(sa.sizeOrType(id)) === Kind.FUNC) tags++;
    }
    expect([funcs, tags]).toEqual([16, 8]);
    const dir = mkdtempSync(join(tmpdir(), 'modbtf-mapfold-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    // The kernel here is the module's own standalone BTF: every function has its twin there.
    const kbtf = join(dir, 'kernel.btf');
    writeFileSync(kbtf, sa.toBytes());
    const f = join(dir, 'tcp_bbr.ko');
    const ids = new Uint8Array(elf.section('.BTF_ids')!.size);
    writeFileSync(f, editElf(elf, { replace: new Map([['.BTF', sa.toBytes()], ['.BTF_ids', ids]]) }));
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const g = join(dir, 'keep.ko');
    expect(await run(['map', '-B', kbtf, '--keep-module-funcs', '-o', g, f], io), err.join('\n')).toBe(0);
    expect(out[0]).toMatch(new RegExp(`^${f.replace(/[.]/g, '\\.')}: mapped onto .*: \\d+ types are the kernel's, ${funcs + tags + own} kept as split BTF \\(.*\\); --keep-module-funcs: ${funcs} functions the kernel also has kept as the module's own -> .*keep\\.ko$`));
    const kept = Btf.parse((await openInput(g)).elf!.data((await openInput(g)).elf!.section('.BTF')!), { base: sa });
    expect(dump(kept, Array.from({ length: kept.nrTypes }, (_, i) => kept.startId + i)).filter((s) => s.startsWith('FUNC ')).length).toBe(funcs);
    out.length = 0;
    const h = join(dir, 'fold.ko');
    expect(await run(['map', '-B', kbtf, '-o', h, f], io), err.join('\n')).toBe(0);
    expect(out[0]).not.toContain('--keep-module-funcs');
    const folded = Btf.parse((await openInput(h)).elf!.data((await openInput(h)).elf!.section('.BTF')!), { base: sa });
    expect(folded.nrTypes).toBe(own);
    expect(out[0]).toContain(`, ${own} kept as split BTF`);
    out.length = 0;
    expect(await run(['map', '-B', kbtf, '--keep-module-funcs', '--json', '-o', g, f], io)).toBe(0);
    expect(JSON.parse(out[0]!)).toMatchObject({ status: 'mapped', kept: funcs + tags + own, moduleFuncsKept: funcs });
  });
});
