/** BTF kinds and the per-kind record layout table every algorithm in modbtf is driven by. */

export const BTF_MAGIC = 0xeb9f;

/** Whether `b` starts with the BTF magic, in either byte order. */
export function isRawBtf(b: Uint8Array): boolean {
  return b.length >= 2 && ((b[0] === 0x9f && b[1] === 0xeb) || (b[0] === 0xeb && b[1] === 0x9f));
}
export const BTF_VERSION = 1;
/** The original header: magic, version, flags, hdr_len, type_off/len, str_off/len. */
export const BTF_HEADER_LEN = 24;
/** The 2026 header: the original plus layout_off/len (libbpf master, pahole's `layout` feature). */
export const BTF_HEADER_LEN_LAYOUT = 32;
/**
 * Header length for BTF made from `src`: 32 (layout fields zero, no layout)
 * when `src` has the 2026 header, as libbpf >= 1.8 writes every new BTF;
 * else the original 24 bytes, as libbpf <= 1.7 writes it.
 */
export function headerLenLike(srcHdrLen: number): number {
  return srcHdrLen >= BTF_HEADER_LEN_LAYOUT ? BTF_HEADER_LEN_LAYOUT : BTF_HEADER_LEN;
}
/** Largest kind the info word can hold (7 bits) and largest vlen (24 bits). */
export const BTF_MAX_KIND = 0x7f;
export const BTF_MAX_VLEN = 0xffffff;
/** Bytes of one `struct btf_layout` entry: u8 info_sz, u8 elem_sz, u16 flags. */
export const BTF_LAYOUT_ENTRY = 4;

export const enum Kind {
  UNKN = 0,
  INT = 1,
  PTR = 2,
  ARRAY = 3,
  STRUCT = 4,
  UNION = 5,
  ENUM = 6,
  FWD = 7,
  TYPEDEF = 8,
  VOLATILE = 9,
  CONST = 10,
  RESTRICT = 11,
  FUNC = 12,
  FUNC_PROTO = 13,
  VAR = 14,
  DATASEC = 15,
  FLOAT = 16,
  DECL_TAG = 17,
  TYPE_TAG = 18,
  ENUM64 = 19,
}

/** Largest kind modbtf knows; any other kind is sized from the kind layout section. */
export const KIND_MAX = 19;

/** Whether modbtf knows what the fields of `kind` mean (else it is only sized, from the layout). */
export function isKnownKind(kind: number): boolean {
  return kind >= 1 && kind <= KIND_MAX;
}

export const KIND_NAMES: readonly string[] = [
  'UNKN', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE',
  'CONST', 'RESTRICT', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG',
  'TYPE_TAG', 'ENUM64',
];

export function kindName(kind: number): string {
  return KIND_NAMES[kind] ?? `UNKNOWN(${kind})`;
}

/**
 * Layout of one kind's record after the common 12-byte `struct btf_type`
 * (name_off, info, size/type):
 * - `typeIsId`: the u32 at +8 is a type id (else a size, or unused);
 * - `extra`: fixed bytes after the common part;
 * - `extraIds`: offsets (from the record start) of type ids inside `extra`;
 * - `member`: bytes per vlen entry (0 when vlen carries no entries);
 * - `memberIds` / `memberStrs`: offsets inside one entry of type ids / string offsets.
 * The common name_off at +0 is a string offset for every kind.
 */
export interface KindLayout {
  readonly typeIsId: boolean;
  readonly extra: number;
  readonly extraIds: readonly number[];
  readonly member: number;
  readonly memberIds: readonly number[];
  readonly memberStrs: readonly number[];
}

const L = (
  typeIsId: boolean, extra: number, extraIds: number[], member: number,
  memberIds: number[], memberStrs: number[],
): KindLayout => ({ typeIsId, extra, extraIds, member, memberIds, memberStrs });

export const LAYOUT: readonly (KindLayout | undefined)[] = [
  undefined,
  /* INT        */ L(false, 4, [], 0, [], []),
  /* PTR        */ L(true, 0, [], 0, [], []),
  /* ARRAY      */ L(false, 12, [12, 16], 0, [], []),
  /* STRUCT     */ L(false, 0, [], 12, [4], [0]),
  /* UNION      */ L(false, 0, [], 12, [4], [0]),
  /* ENUM       */ L(false, 0, [], 8, [], [0]),
  /* FWD        */ L(false, 0, [], 0, [], []),
  /* TYPEDEF    */ L(true, 0, [], 0, [], []),
  /* VOLATILE   */ L(true, 0, [], 0, [], []),
  /* CONST      */ L(true, 0, [], 0, [], []),
  /* RESTRICT   */ L(true, 0, [], 0, [], []),
  /* FUNC       */ L(true, 0, [], 0, [], []),
  /* FUNC_PROTO */ L(true, 0, [], 8, [4], [0]),
  /* VAR        */ L(true, 4, [], 0, [], []),
  /* DATASEC    */ L(false, 0, [], 12, [0], []),
  /* FLOAT      */ L(false, 0, [], 0, [], []),
  /* DECL_TAG   */ L(true, 4, [], 0, [], []),
  /* TYPE_TAG   */ L(true, 0, [], 0, [], []),
  /* ENUM64     */ L(false, 0, [], 12, [], [0]),
];

/** Fixed record size (12 + extra) per kind, 0 for kinds modbtf does not know. */
export const FIXED_SIZE = new Uint8Array(BTF_MAX_KIND + 1);
/** Bytes per vlen entry per kind. */
export const MEMBER_SIZE = new Uint8Array(BTF_MAX_KIND + 1);
for (let k = 1; k <= KIND_MAX; k++) {
  const l = LAYOUT[k]!;
  FIXED_SIZE[k] = 12 + l.extra;
  MEMBER_SIZE[k] = l.member;
}

/** Kind: bits 24-30 of the info word (7 bits since 2026; 5 before, bits 29-30 were zero). */
export function infoKind(info: number): number {
  return (info >>> 24) & BTF_MAX_KIND;
}
/** vlen: bits 0-23 of the info word (24 bits since 2026; 16 before, bits 16-23 were zero). */
export function infoVlen(info: number): number {
  return info & BTF_MAX_VLEN;
}
export function infoKflag(info: number): boolean {
  return (info >>> 31) !== 0;
}
export function makeInfo(kind: number, vlen: number, kflag: boolean): number {
  return ((kflag ? 0x80000000 : 0) | ((kind & BTF_MAX_KIND) << 24) | (vlen & BTF_MAX_VLEN)) >>> 0;
}

/**
 * The kind layout libbpf master writes (`btf__new_empty_opts()` with
 * `add_layout`; pahole's `layout` feature): for kinds 0-19, the bytes after
 * the common 12-byte record (info_sz) and per vlen entry (elem_sz), flags 0.
 */
export function defaultKindLayout(): { infoSz: number; elemSz: number; flags: number }[] {
  const out = [{ infoSz: 0, elemSz: 0, flags: 0 }];
  for (let k = 1; k <= KIND_MAX; k++) out.push({ infoSz: LAYOUT[k]!.extra, elemSz: LAYOUT[k]!.member, flags: 0 });
  return out;
}

/** BTF_INT encoding bits (in the u32 following an INT record). */
export const INT_SIGNED = 1;
export const INT_CHAR = 2;
export const INT_BOOL = 4;

export function isComposite(kind: number): boolean {
  return kind === Kind.STRUCT || kind === Kind.UNION;
}

/**
 * The LAYOUT table flattened into typed arrays of u32 word counts and offsets, for loops over
 * raw records (every field of every known kind is a u32): fixed words per record (0 for kinds
 * modbtf does not know), words per vlen entry, whether word 2 is a type id, and the word
 * offset inside a vlen entry of its one type id / string offset (NO_FIELD when it has none).
 * ARRAY's two extra ids (words 3 and 4) are the only fixed ids past word 2.
 */
export const NO_FIELD = 0xff;
/** Byte order of this machine, the order in which a `Uint32Array` reads words. */
export const HOST_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
export const FIXED_WORDS = new Uint8Array(BTF_MAX_KIND + 1);
export const MEMBER_WORDS = new Uint8Array(BTF_MAX_KIND + 1);
export const TYPE_IS_ID = new Uint8Array(BTF_MAX_KIND + 1);
export const MEMBER_ID_WORD = new Uint8Array(BTF_MAX_KIND + 1).fill(NO_FIELD);
export const MEMBER_STR_WORD = new Uint8Array(BTF_MAX_KIND + 1).fill(NO_FIELD);
for (let k = 1; k <= KIND_MAX; k++) {
  const l = LAYOUT[k]!;
  FIXED_WORDS[k] = (12 + l.extra) / 4;
  MEMBER_WORDS[k] = l.member / 4;
  TYPE_IS_ID[k] = l.typeIsId ? 1 : 0;
  if (l.memberIds.length > 1 || l.memberStrs.length > 1) throw new Error('kind layout: more than one id or string per vlen entry');
  if (l.memberIds.length) MEMBER_ID_WORD[k] = l.memberIds[0]! / 4;
  if (l.memberStrs.length) MEMBER_STR_WORD[k] = l.memberStrs[0]! / 4;
  if (l.extraIds.length && (k !== Kind.ARRAY || l.extraIds.join() !== '12,16')) throw new Error('kind layout: unexpected fixed ids');
}
