/**
 * Kernel modules for min-core: each module's BTF as split BTF on the given
 * vmlinux (whatever form the module comes in), all of them merged with
 * vmlinux into one standalone BTF (one id space for candidate search and
 * marking), and a minimized merged BTF cut back into a minimized vmlinux plus
 * one split BTF per module on it.
 */
import { basename } from 'node:path';
import { Btf } from '../btf/btf.js';
import { BtfBuilder } from '../btf/builder.js';
import { rawBtfOf } from '../btf/load.js';
import { SEC_BTF } from '../btf/sections.js';
import { ModbtfError } from '../errors.js';
import { openInput } from '../module/index.js';
import { distilledParts, relocateSplit } from '../reconcile/module.js';

export interface KernelModuleBtf {
  /** Module name: the file name without .ko / compression / .btf suffixes. */
  name: string;
  file: string;
  /** Split BTF on the vmlinux BTF. */
  btf: Btf;
}

/** `xfs.ko.xz` -> `xfs`, `nf_conntrack.btf` -> `nf_conntrack`. */
export function moduleName(file: string): string {
  return basename(file).replace(/\.(xz|zst|gz)$/, '').replace(/\.(ko|btf|raw)$/, '');
}

/**
 * A module's BTF as split BTF on `vmlinux`: a distilled (or reconciled)
 * module is relocated onto it; a plain module's `.BTF`, or a raw split BTF
 * file, is taken as split on it (every reference is checked to be in range).
 */
export async function loadModuleBtf(file: string, vmlinux: Btf): Promise<KernelModuleBtf> {
  const input = await openInput(file);
  let btf: Btf;
  if (input.kind === 'elf' && input.elf && distilledParts(input.elf, file)) {
    btf = relocateSplit(input.elf, vmlinux, { file }).btf;
  } else {
    const raw = rawBtfOf(input);
    btf = Btf.parse(raw, { base: vmlinux, file, section: input.kind === 'elf' ? SEC_BTF : undefined });
    if (btf.littleEndian !== vmlinux.littleEndian) {
      throw new ModbtfError('E_BTF_INVALID', 'module BTF and vmlinux BTF differ in byte order', { file });
    }
    btf.checkReferences();
  }
  return { name: moduleName(file), file, btf };
}

export interface ModuleRange {
  name: string;
  /** First id of the module's types in the merged BTF. */
  startId: number;
  /** Number of the module's types. */
  count: number;
}

export interface MergedKernel {
  btf: Btf;
  /** Types of vmlinux are ids 1 .. vmlinuxTypes. */
  vmlinuxTypes: number;
  modules: ModuleRange[];
}

/**
 * vmlinux and its modules as one standalone BTF: vmlinux's types and strings,
 * then each module's (ids and string offsets of later modules shifted past the
 * earlier ones). With one module this is the plain concatenation of the two
 * BTFs, which is what bpftool is given to minimize module types.
 */
export function mergeKernel(vmlinux: Btf, modules: readonly KernelModuleBtf[]): MergedKernel {
  if (vmlinux.base) throw new ModbtfError('E_BTF_INVALID', 'kernel BTF is split BTF; give vmlinux', vmlinux.where);
  const le = vmlinux.littleEndian;
  const typeParts: Uint8Array[] = [vmlinux.types];
  const strParts: Uint8Array[] = [vmlinux.strings];
  const ranges: ModuleRange[] = [];
  let nextId = vmlinux.typeCount;
  let nextStr = vmlinux.strEnd;
  for (const m of modules) {
    const s = m.btf;
    if (s.base !== vmlinux) throw new ModbtfError('E_BTF_INVALID', 'module BTF is not split on the given vmlinux', { file: m.file });
    const idShift = nextId - s.startId;
    const strShift = nextStr - s.startStrOff;
    let types = s.types;
    if (idShift !== 0 || strShift !== 0) {
      types = s.types.slice();
      const dv = new DataView(types.buffer);
      for (const p of s.idFieldPositions()) {
        const v = dv.getUint32(p, le);
        if (v >= s.startId) dv.setUint32(p, v + idShift, le);
      }
      for (const p of s.strFieldPositions()) {
        const v = dv.getUint32(p, le);
        if (v >= s.startStrOff) dv.setUint32(p, v + strShift, le);
      }
    }
    typeParts.push(types);
    strParts.push(s.strings);
    ranges.push({ name: m.name, startId: nextId, count: s.nrTypes });
    nextId += s.nrTypes;
    nextStr += s.strings.length;
  }
  const cat = (parts: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  const btf = modules.length === 0 ? vmlinux : Btf.fromSections(cat(typeParts), cat(strParts), le, null, { file: vmlinux.where.file });
  return { btf, vmlinuxTypes: vmlinux.typeCount - 1, modules: ranges };
}

export interface SplitMinimized {
  vmlinux: Btf;
  modules: { name: string; btf: Btf }[];
}

/**
 * Cut a minimized merged BTF into a minimized vmlinux and one split BTF per
 * module on it. `idMap` maps merged source ids to minimized ids (0: dropped).
 * Vmlinux types never refer to module types, and each module only to vmlinux
 * and itself, so each part keeps its references; a module's references into
 * its own types are renumbered to its split ids.
 */
export function splitMinimized(min: Btf, idMap: Uint32Array, merged: MergedKernel): SplitMinimized {
  const owner = new Int32Array(min.typeCount).fill(-1); // -1: vmlinux, else module index
  merged.modules.forEach((m, i) => {
    for (let id = m.startId; id < m.startId + m.count; id++) {
      const n = idMap[id]!;
      if (n) owner[n] = i;
    }
  });
  const vb = new BtfBuilder(null, min.littleEndian);
  const vmap = new Uint32Array(min.typeCount);
  const cache = new Map<number, number>();
  for (let id = 1; id < min.typeCount; id++) {
    if (owner[id] === -1) vmap[id] = vb.copyType(min, id, cache);
  }
  const remap = (btf: Btf, map: Uint32Array): Btf => {
    const le = btf.littleEndian;
    const dv = btf.dv;
    for (const p of btf.idFieldPositions()) dv.setUint32(p, map[dv.getUint32(p, le)]!, le);
    return btf;
  };
  const vmlinux = remap(vb.build(), vmap);
  const modules = merged.modules.map((m, i) => {
    const mb = new BtfBuilder(vmlinux, min.littleEndian);
    const map = vmap.slice();
    const mcache = new Map<number, number>();
    for (let id = 1; id < min.typeCount; id++) {
      if (owner[id] === i) map[id] = mb.copyType(min, id, mcache);
    }
    return { name: m.name, btf: remap(mb.build(), map) };
  });
  return { vmlinux, modules };
}
