#!/usr/bin/env node
// merge-split-btf.mjs BASE.btf SPLIT.btf OUT.btf
// One standalone BTF: the base's types then the split's types, the base's strings then the
// split's. Split BTF already numbers its types after the base's and offsets its strings after
// the base's string section, so nothing inside the records changes. This is the target libbpf
// needs as btf_custom_path for programs that read module types (libbpf reads no module BTF when
// a custom BTF is given). Little-endian raw BTF with the 24-byte header only.
import { readFileSync, writeFileSync } from 'node:fs';

const [basePath, splitPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: merge-split-btf.mjs BASE.btf SPLIT.btf OUT.btf');
  process.exit(2);
}
function parse(path) {
  const b = readFileSync(path);
  if (b.length < 24 || b.readUInt16LE(0) !== 0xeb9f) throw new Error(`${path}: not little-endian raw BTF`);
  const hdrLen = b.readUInt32LE(4);
  const [typeOff, typeLen, strOff, strLen] = [8, 12, 16, 20].map((o) => b.readUInt32LE(o));
  return {
    types: b.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen),
    strs: b.subarray(hdrLen + strOff, hdrLen + strOff + strLen),
  };
}
const base = parse(basePath);
const split = parse(splitPath);
const hdr = Buffer.alloc(24);
hdr.writeUInt16LE(0xeb9f, 0);
hdr.writeUInt8(1, 2);
hdr.writeUInt8(0, 3);
hdr.writeUInt32LE(24, 4);
const typeLen = base.types.length + split.types.length;
hdr.writeUInt32LE(0, 8);
hdr.writeUInt32LE(typeLen, 12);
hdr.writeUInt32LE(typeLen, 16);
hdr.writeUInt32LE(base.strs.length + split.strs.length, 20);
writeFileSync(outPath, Buffer.concat([hdr, base.types, split.types, base.strs, split.strs]));
