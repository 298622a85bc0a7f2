/**
 * `.BTF_ids`: the u32 type-id slots resolve_btfids patched into a module at
 * build time (kfunc sets, BTF id lists). They must follow any renumbering of
 * the module's BTF, or the kernel refuses the module (EINVAL).
 */
import { ModbtfError, type ErrorLocation } from '../errors.js';

export const BTF_IDS_SECTION = '.BTF_ids';

/** The part of an ELF symbol this module needs. */
export interface BtfIdsSymbol {
  name: string;
  value: bigint | number;
  shndx: number;
}

export interface BtfIdsLayout {
  /** Byte offsets of every id slot, ascending. */
  slots: number[];
  /** `BTF_SET`s: offset of the count; ids follow as u32s. */
  sets: number[];
  /** `BTF_SET8`s: offset of the count; (id, flags) u32 pairs start 8 bytes in. */
  sets8: number[];
  /** Symbol naming each slot (for messages). */
  slotNames: Map<number, string>;
}

const PREFIX = '__BTF_ID__';

/** Find every id slot from the `__BTF_ID__*` symbols defined in section `shndx`. */
export function btfIdsLayout(section: Uint8Array, shndx: number, symbols: readonly BtfIdsSymbol[], le: boolean, where: ErrorLocation = {}): BtfIdsLayout {
  const dv = new DataView(section.buffer, section.byteOffset, section.byteLength);
  const slotNames = new Map<number, string>();
  const sets: number[] = [];
  const sets8: number[] = [];
  const loc = { ...where, section: BTF_IDS_SECTION };
  const need = (off: number, len: number, sym: string): void => {
    if (off < 0 || off + len > section.length) {
      throw new ModbtfError('E_BTF_IDS', `symbol ${sym} points at bytes [${off}, ${off + len}) outside the section (${section.length} bytes)`, loc);
    }
  };
  const addSlot = (off: number, sym: string): void => {
    need(off, 4, sym);
    if (!slotNames.has(off)) slotNames.set(off, sym);
  };
  for (const s of symbols) {
    if (s.shndx !== shndx || !s.name.startsWith(PREFIX)) continue;
    const v = Number(s.value);
    if (s.name.startsWith(`${PREFIX}set8__`)) {
      need(v, 8, s.name);
      const cnt = dv.getUint32(v, le);
      need(v + 8, cnt * 8, s.name);
      sets8.push(v);
      for (let i = 0; i < cnt; i++) addSlot(v + 8 + i * 8, s.name);
    } else if (s.name.startsWith(`${PREFIX}set__`)) {
      need(v, 4, s.name);
      const cnt = dv.getUint32(v, le);
      need(v + 4, cnt * 4, s.name);
      sets.push(v);
      for (let i = 0; i < cnt; i++) addSlot(v + 4 + i * 4, s.name);
    } else {
      addSlot(v, s.name);
    }
  }
  const slots = [...slotNames.keys()].sort((a, b) => a - b);
  return { slots, sets, sets8, slotNames };
}

export interface BtfIdsRemap {
  bytes: Uint8Array;
  /** Slots holding a non-zero id (all of which were rewritten). */
  slots: number;
  /** Slots whose value changed. */
  changed: number;
}

/**
 * Rewrite every slot through `map` (old id -> new id; 0 or out of range means
 * the new BTF has no such type, an error). Zero slots (unresolved or
 * BTF_ID_UNUSED) stay zero. Sets are kept sorted by id, as resolve_btfids
 * leaves them, since the kernel binary-searches them.
 */
export function remapBtfIds(section: Uint8Array, layout: BtfIdsLayout, map: Uint32Array, le: boolean, where: ErrorLocation = {}): BtfIdsRemap {
  const out = new Uint8Array(section); // a copy, also when `section` is a Buffer
  const dv = new DataView(out.buffer);
  let slots = 0;
  let changed = 0;
  for (const off of layout.slots) {
    const v = dv.getUint32(off, le);
    if (v === 0) continue;
    const nv = v < map.length ? map[v]! : 0;
    if (nv === 0) {
      throw new ModbtfError('E_BTF_IDS',
        `slot at offset ${off} (${layout.slotNames.get(off)}) holds type id ${v}, which has no counterpart in the new BTF`,
        { ...where, section: BTF_IDS_SECTION, typeId: v });
    }
    slots++;
    if (nv !== v) changed++;
    dv.setUint32(off, nv, le);
  }
  for (const s of layout.sets) {
    const cnt = dv.getUint32(s, le);
    const ids: number[] = [];
    for (let i = 0; i < cnt; i++) ids.push(dv.getUint32(s + 4 + i * 4, le));
    ids.sort((a, b) => a - b);
    ids.forEach((id, i) => dv.setUint32(s + 4 + i * 4, id, le));
  }
  for (const s of layout.sets8) {
    const cnt = dv.getUint32(s, le);
    const pairs: [number, number][] = [];
    for (let i = 0; i < cnt; i++) pairs.push([dv.getUint32(s + 8 + i * 8, le), dv.getUint32(s + 12 + i * 8, le)]);
    pairs.sort((a, b) => a[0] - b[0]);
    pairs.forEach(([id, fl], i) => {
      dv.setUint32(s + 8 + i * 8, id, le);
      dv.setUint32(s + 12 + i * 8, fl, le);
    });
  }
  return { bytes: out, slots, changed };
}
