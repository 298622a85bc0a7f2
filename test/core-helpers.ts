/** Shared by the CO-RE tests: .BTF.ext core_relo records read directly; engine results against libbpf's. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { Btf } from '../src/btf/btf.js';
import { ElfFile } from '../src/elf/index.js';
import type { CoreRelocationResult } from '../src/index.js';
import type { OracleRelo } from '../scripts/core-oracle/oracle.js';

/** The core_relo records of a .BTF.ext, per section name (the format, read directly). */
export function coreRelos(path: string, bytes: Uint8Array = readFileSync(path)): Map<string, { insnOff: number; typeId: number; access: string; kind: number }[]> {
  const elf = ElfFile.parse(bytes, path);
  expect(elf.machine).toBe(247);
  const btfSec = elf.section('.BTF');
  const extSec = elf.section('.BTF.ext');
  if (!btfSec || !extSec) throw new Error(`${path}: no .BTF or .BTF.ext`);
  const btf = Btf.parse(elf.data(btfSec), { file: path, section: '.BTF' });
  const ext = elf.data(extSec);
  const dv = new DataView(ext.buffer, ext.byteOffset, ext.byteLength);
  expect(dv.getUint16(0, true)).toBe(0xeb9f);
  const hdrLen = dv.getUint32(4, true);
  const out = new Map<string, { insnOff: number; typeId: number; access: string; kind: number }[]>();
  // a header without core_relo_off/len (hdr_len 24), or an empty core_relo block: no records
  if (hdrLen < 32 || dv.getUint32(28, true) === 0) return out;
  const off = hdrLen + dv.getUint32(24, true);
  const end = off + dv.getUint32(28, true);
  const recSize = dv.getUint32(off, true);
  for (let p = off + 4; p < end; ) {
    const sec = btf.str(dv.getUint32(p, true));
    const n = dv.getUint32(p + 4, true);
    p += 8;
    const list = [];
    for (let i = 0; i < n; i++, p += recSize) {
      list.push({ insnOff: dv.getUint32(p, true), typeId: dv.getUint32(p + 4, true), access: btf.str(dv.getUint32(p + 8, true)), kind: dv.getUint32(p + 12, true) });
    }
    out.set(sec, list);
  }
  return out;
}


/** The engine's results for one object equal libbpf's (core-oracle records), relocation by relocation. */
export function expectEngineEquals(got: CoreRelocationResult[], want: OracleRelo[], label: string): void {
  expect(got.length, label).toBe(want.length);
  for (const w of want) {
    const g = got.find((r) => r.section === w.sec && r.index === w.relo);
    const where = `${label} ${w.sec} #${w.relo} ${w.local}`;
    expect(g, where).toBeDefined();
    if (w.insn_off !== undefined) expect(g!.insnOff, where).toBe(w.insn_off);
    if (w.result === 'ok') expect({ value: g!.value, poison: g!.poison, error: g!.error }, where).toEqual({ value: BigInt(w.value!), poison: false, error: null });
    else if (w.result === 'poison') expect({ poison: g!.poison, error: g!.error }, where).toEqual({ poison: true, error: null });
    else expect(g!.error?.message, where).toMatch(w.error!.includes('ambiguity') ? /ambigu/ : /./);
  }
}

/**
 * Relocated against a minimized BTF (min-core of the same objects), every relocation gives what it
 * gives against the full BTF: same value, poisoning or refusal; TYPE_ID_TARGET ids are the
 * minimized BTF's own, so only whether the type was found is compared.
 */
export function expectSameOnMinimized(full: readonly OracleRelo[], onMin: readonly OracleRelo[], label: string): void {
  expect(onMin.length, label).toBe(full.length);
  for (const w of full) {
    const g = onMin.find((r) => r.sec === w.sec && r.relo === w.relo);
    const where = `${label} ${w.sec} #${w.relo} ${w.local}`;
    expect(g?.result, where).toBe(w.result);
    if (w.kind === 'target_type_id') expect(BigInt(g!.value!) === 0n, where).toBe(BigInt(w.value!) === 0n);
    else expect(g!.value, where).toEqual(w.value);
  }
}

/** The engine's results in the oracle's shape, for expectSameOnMinimized. */
export function asOracle(rs: readonly CoreRelocationResult[]): OracleRelo[] {
  return rs.map((r) => ({
    sec: r.section, relo: r.index, prog: r.func ?? '', insn_off: r.insnOff, kind: r.kindName, local: '', candidates: [],
    result: r.error ? 'error' : r.poison ? 'poison' : 'ok',
    ...(r.error || r.poison ? {} : { value: r.value! <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r.value) : r.value!.toString() }),
  }));
}
