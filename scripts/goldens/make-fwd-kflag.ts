/**
 * make-fwd-kflag.ts BTF_GOLDENS: the FWD fixtures (test/fixtures/fwd-kflag):
 * a module whose base only forward-declares `regulator` (as a struct, and as
 * a union), and four target kernels that define it as a STRUCT or UNION with
 * kind_flag 0 or 1 (bitfield encoding); then, with BTF_GOLDENS (the
 * scripts/goldens/btf-goldens.c binary, linked with libbpf), what libbpf
 * makes of each combination: <flavour>-on-<target>.{base,split}.raw and
 * .reloc.raw, or .reloc.err when btf__relocate() refuses.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { info, rawBtf, strOff } from '../../test/helpers.js';
import { Kind } from '../../src/btf/kinds.js';

const dir = resolve(import.meta.dirname, '../../test/fixtures/fwd-kflag');
const oracle = process.argv[2];

const BS = ['', 'int', 'regulator'];
const b = (s: string): number => strOff(BS, s);
const INT = [b('int'), info(Kind.INT), 4, 0x01000020];
/** The kernel the module was built on: `struct regulator;` (or `union regulator;`) only. */
const base = (union: boolean): Uint8Array => rawBtf([INT, [b('regulator'), info(Kind.FWD, 0, union), 0]], BS);

/** The module: struct mod_dev { struct regulator *reg; }, split on either base (both have 2 types, same strings). */
const MS = ['mod_dev', 'reg'];
const baseStrLen = Buffer.byteLength(BS.map((s) => `${s}\0`).join(''), 'latin1');
const m = (s: string): number => baseStrLen + strOff(MS, s);
const module = rawBtf([[0, info(Kind.PTR), 2], [m('mod_dev'), info(Kind.STRUCT, 1), 8, m('reg'), 3, 0]], MS);

/** Targets: [1] char, [2] int, [3] regulator as STRUCT/UNION, kind_flag 0 (plain member) or 1 (a 3-bit field). */
const TS = ['', 'char', 'int', 'regulator', 'on'];
const t = (s: string): number => strOff(TS, s);
const target = (kind: number, kflag: boolean): Uint8Array => rawBtf([
  [t('char'), info(Kind.INT), 1, 0x02000008],
  [t('int'), info(Kind.INT), 4, 0x01000020],
  [t('regulator'), info(kind, 1, kflag), 4, t('on'), 2, kflag ? 3 << 24 : 0],
], TS);

const files: Record<string, Uint8Array> = {
  'base-struct.btf': base(false),
  'base-union.btf': base(true),
  'module.btf': module,
  'struct-k0.btf': target(Kind.STRUCT, false),
  'struct-k1.btf': target(Kind.STRUCT, true),
  'union-k0.btf': target(Kind.UNION, false),
  'union-k1.btf': target(Kind.UNION, true),
};
for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);

if (oracle) {
  for (const flavour of ['struct', 'union']) {
    for (const tgt of ['struct-k0', 'struct-k1', 'union-k0', 'union-k1']) {
      const tmp = mkdtempSync(join(tmpdir(), 'fwd-kflag-'));
      const r = spawnSync(oracle, [join(dir, `base-${flavour}.btf`), join(dir, `${tgt}.btf`), tmp, join(dir, 'module.btf')], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${oracle}: ${r.stderr}`);
      for (const f of readdirSync(tmp)) renameSync(join(tmp, f), join(dir, `${flavour}-on-${tgt}.${f.slice('module.'.length)}`));
      rmSync(tmp, { recursive: true, force: true });
    }
  }
}
