/**
 * One fuzz input through everything modbtf does with untrusted bytes: detect,
 * decompress, parse ELF and BTF, validate, dump, inspect, distill, reconcile.
 * Returns the outcome ('ok' or the ModbtfError code); anything else thrown is
 * a bug and propagates.
 */
import { Btf } from '../../src/btf/btf.js';
import { dumpRaw } from '../../src/btf/dump.js';
import { validateBtf } from '../../src/btf/validate.js';
import { inspectInput } from '../../src/cli/commands.js';
import { distill } from '../../src/distill/distill.js';
import { distillModule } from '../../src/distill/module.js';
import { ElfFile } from '../../src/elf/index.js';
import { ModbtfError } from '../../src/errors.js';
import { classifyInput } from '../../src/module/index.js';
import { checkModule, reconcileModule } from '../../src/reconcile/module.js';
import { relocate } from '../../src/reconcile/relocate.js';
import { dedupAgainstBase, mapOntoBase } from '../../src/map/map.js';

function sink(): (s: string) => void {
  let n = 0;
  return (s) => {
    n += s.length;
  };
}

export async function exercise(bytes: Uint8Array, base: Btf): Promise<string> {
  try {
    const input = await classifyInput('fuzz-input', bytes);
    inspectInput(input);
    if (input.kind === 'btf') {
      const raw = input.btf!;
      let own: Btf | null = null;
      try {
        own = Btf.parse(raw, { file: 'fuzz-input' });
        validateBtf(own);
        dumpRaw(own, sink());
        validateBtf(mapOntoBase(own, base).split);
      } catch (e) {
        if (!(e instanceof ModbtfError)) throw e;
      }
      const split = Btf.parse(raw, { base, file: 'fuzz-input' });
      validateBtf(split);
      dumpRaw(split, sink());
      const d = distill(split);
      validateBtf(d.split);
      validateBtf(dedupAgainstBase(relocate(d.split, base).btf).btf);
      return 'ok';
    }
    const elf = input.elf!;
    checkModule(elf, base);
    let distilled: ElfFile;
    try {
      distilled = ElfFile.parse(distillModule(elf, base, { force: true }).elf);
    } catch (e) {
      if (!(e instanceof ModbtfError)) throw e;
      const r = reconcileModule(elf, base);
      return r.status === 'reconciled' ? 'ok' : 'not-distilled';
    }
    const r = reconcileModule(distilled, base, { dedup: true });
    if (r.status !== 'reconciled') throw new Error('a freshly distilled module did not reconcile');
    const again = reconcileModule(ElfFile.parse(r.elf), base);
    if (again.status !== 'reconciled') throw new Error('a reconciled module did not reconcile again');
    return 'ok';
  } catch (e) {
    if (e instanceof ModbtfError) return e.code;
    throw e;
  }
}
