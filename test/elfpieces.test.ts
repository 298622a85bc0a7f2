/** Rewritten modules as pieces over the input: written without copying the unchanged ranges. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBaseBtf } from '../src/btf/load.js';
import { distillModule } from '../src/distill/module.js';
import { ElfFile, editElf, editElfPieces, elfBytes } from '../src/elf/index.js';
import { openInput, writeFileAtomic } from '../src/module/index.js';
import { reconcileModule } from '../src/reconcile/module.js';
import { fixture } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'modbtf-pieces-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const VMLINUX = fixture('k612/vmlinux.btf.xz');

describe('ELF rewrite as pieces', () => {
  it('distill and reconcile: the pieces join to the module, unchanged ranges are views of the input, writev writes them', async () => {
    const base = await loadBaseBtf(VMLINUX);
    for (const m of ['crc7', 'af_key', 'tcp_bbr']) {
      const input = await openInput(fixture('k612/modules', `${m}.ko.xz`));
      const elf = input.elf!;
      const d = distillModule(elf, base, { file: m });
      expect(d.pieces.length).toBe(d.elf.length);
      expect(Buffer.from(elfBytes(d.pieces)).equals(Buffer.from(d.elf))).toBe(true);
      // the bulk of the file is not copied: its largest piece lies in the input's buffer
      const largest = d.pieces.pieces.reduce((a, b) => (b.length > a.length ? b : a));
      expect(largest.buffer).toBe(elf.bytes.buffer);
      const out = join(tmp, `${m}.ko`);
      await writeFileAtomic(out, d.pieces.pieces);
      expect(readFileSync(out).equals(Buffer.from(d.elf))).toBe(true);

      const r = reconcileModule(ElfFile.parse(d.elf, m), base, { file: m });
      if (r.status !== 'reconciled') throw new Error('not reconciled');
      expect(Buffer.from(elfBytes(r.pieces)).equals(Buffer.from(r.elf))).toBe(true);
    }
  });

  it('sections overlapping each other: edits apply in order over one copy of the original range', async () => {
    const input = await openInput(fixture('k612/modules', 'crc7.ko.xz'));
    const bytes = input.elf!.bytes.slice();
    const elf0 = ElfFile.parse(bytes, 'crc7');
    const btf = elf0.section('.BTF')!;
    const other = elf0.sections.find((s) => s.index !== btf.index && s.type === 1 && s.size >= 16 && s.name !== '.shstrtab')!;
    // make `other` cover the first 16 bytes of .BTF
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const h = elf0.shoff + other.index * 64;
    dv.setBigUint64(h + 24, BigInt(btf.offset), true);
    dv.setBigUint64(h + 32, 16n, true);
    const elf = ElfFile.parse(bytes, 'crc7');
    const data = new Uint8Array(8).fill(0xab);
    const p = editElfPieces(elf, { replace: new Map([['.BTF', data]]), remove: [other.name] });
    expect(p.pieces[0]!.buffer).not.toBe(elf.bytes.buffer); // the original range is one copy
    const out = editElf(elf, { replace: new Map([['.BTF', data]]), remove: [other.name] });
    // replaced in place, then the removed section's range (over it) cleared
    expect([...out.subarray(btf.offset, btf.offset + 16)]).toEqual(new Array(16).fill(0));
    expect(out.length).toBe(p.length);
  });
});
