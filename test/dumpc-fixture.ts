/**
 * A hand-made BTF holding every construct the C printer handles: typedef
 * chains, function prototypes (variadic, no arguments, returning function
 * pointers), arrays of function pointers, multi-dimensional arrays, inline
 * anonymous structs, unions and enums, bitfields with gaps, packed and empty
 * structs, pointer cycles, name conflicts, enum64, type and decl tags,
 * forward declarations and the va_list special cases.
 */
import { info, rawBtf } from './helpers.js';

export function kitchenSinkBtf(): Uint8Array {
  const strs = [''];
  const offs = new Map<string, number>([['', 0]]);
  let next = 1;
  const s = (x: string): number => {
    let o = offs.get(x);
    if (o === undefined) {
      o = next;
      offs.set(x, o);
      strs.push(x);
      next += Buffer.byteLength(x, 'latin1') + 1;
    }
    return o;
  };
  const bf = (bits: number, off: number): number => ((bits << 24) | off) >>> 0;
  const r: number[][] = [
    /* 1 */ [s('int'), info(1), 4, 0x01000020],
    /* 2 */ [s('char'), info(1), 1, 0x02000008],
    /* 3 */ [s('long int'), info(1), 8, 0x01000040],
    /* 4 */ [s('long unsigned int'), info(1), 8, 0x00000040],
    /* 5 */ [s('short int'), info(1), 2, 0x01000010],
    /* 6 */ [0, info(2), 0],
    /* 7 */ [0, info(10), 2],
    /* 8 */ [0, info(2), 7],
    /* 9 */ [s('myint'), info(8), 1],
    /* 10 */ [s('myint_t'), info(8), 9],
    /* 11 */ [0, info(13, 2), 1, s('a'), 10, 0, 0],
    /* 12 */ [0, info(2), 11],
    /* 13 */ [0, info(13, 0), 0],
    /* 14 */ [0, info(2), 13],
    /* 15 */ [0, info(3), 0, 14, 1, 4],
    /* 16 */ [s('node'), info(4, 3, true), 48, s('next'), 17, bf(0, 0), s('cb'), 15, bf(0, 64), s('vfn'), 12, bf(0, 320)],
    /* 17 */ [0, info(2), 16],
    /* 18 */ [s('outer'), info(4, 6, true), 32,
      0, 19, bf(0, 0), s('e'), 20, bf(0, 64), s('flags'), 1, bf(3, 96), s('mode'), 1, bf(4, 104),
      s('grid'), 22, bf(0, 128), s('tagged'), 24, bf(0, 192)],
    /* 19 */ [0, info(5, 2), 8, s('p'), 6, 0, s('l'), 3, 0],
    /* 20 */ [0, info(6, 2), 4, s('RED'), 0, s('BLUE'), 1],
    /* 21 */ [0, info(3), 0, 2, 1, 3],
    /* 22 */ [0, info(3), 0, 21, 1, 2],
    /* 23 */ [s('user'), info(18), 1],
    /* 24 */ [0, info(2), 23],
    /* 25 */ [s('big'), info(19, 2), 8, s('BIG_A'), 0, 0x100, s('BIG_B'), 0xffffffff, 0xffffffff],
    /* 26 */ [s('sbig'), info(19, 1, true), 8, s('NEG'), 0xfffffffb, 0xffffffff],
    /* 27 */ [s('dup'), info(6, 2, true), 4, s('RED'), 7, s('MINUS'), 0xfffffffe],
    /* 28 */ [s('node'), info(4, 1), 8, s('x'), 3, 0],
    /* 29 */ [s('opaque'), info(7), 0],
    /* 30 */ [0, info(2), 29],
    /* 31 */ [s('uopaque'), info(7, 0, true), 0],
    /* 32 */ [s('__builtin_va_list'), info(8), 6],
    /* 33 */ [s('__gnuc_va_list'), info(8), 0],
    /* 34 */ [0, info(6, 1), 4, s('CONST_A'), 3],
    /* 35 */ [0, info(9), 1],
    /* 36 */ [0, info(2), 35],
    /* 37 */ [0, info(11), 8],
    /* 38 */ [0, info(13, 2), 36, s('s'), 37, s('o'), 30],
    /* 39 */ [s('do_it'), info(12, 1), 38],
    /* 40 */ [s('dtag'), info(17), 39, 0xffffffff],
    /* 41 */ [s('double'), info(16), 8],
    /* 42 */ [s('gv'), info(14), 1, 1],
    /* 43 */ [s('.data'), info(15, 1), 4, 42, 0, 4],
    /* 44 */ [s('packed_s'), info(4, 2), 5, s('c'), 2, 0, s('i'), 1, 8],
    /* 45 */ [s('empty'), info(4, 0), 0],
    /* 46 */ [s('tn_t'), info(8), 47],
    /* 47 */ [s('tn'), info(4, 1), 8, s('next'), 48, 0],
    /* 48 */ [0, info(2), 46],
    /* 49 */ [s('a'), info(4, 1), 8, s('b'), 51, 0],
    /* 50 */ [s('b'), info(4, 1), 8, s('a'), 52, 0],
    /* 51 */ [0, info(2), 50],
    /* 52 */ [0, info(2), 49],
    /* 53 */ [s('holder'), info(4, 4), 24, s('fn'), 54, 0, s('arr'), 57, 64, s('cgrid'), 58, 128, s('d'), 41, 128],
    /* 54 */ [0, info(2), 55],
    /* 55 */ [0, info(13, 1), 14, s('x'), 1],
    /* 56 */ [0, info(3), 0, 1, 1, 5],
    /* 57 */ [0, info(2), 56],
    /* 58 */ [0, info(10), 21],
    /* 59 */ [s('small'), info(6, 1), 1, s('S1'), 1],
    /* 60 */ [s('with_anon_ptr'), info(4, 1), 8, s('p'), 61, 0],
    /* 61 */ [0, info(2), 62],
    /* 62 */ [0, info(4, 1), 32, s('o'), 18, 0],
    /* 63 */ [s('u'), info(5, 2), 8, s('c'), 2, 0, s('w'), 4, 0],
    /* 64 */ [s('u'), info(5, 1), 4, s('i'), 1, 0],
    /* 65 */ [s('node'), info(8), 17],
    /* 66 */ [s('odd'), info(4, 2), 6, s('a'), 1, 0, s('b'), 5, 32],
    /* 67 */ [s('pad_only'), info(4, 0), 4],
    /* 68 */ [s('__Poly8_t'), info(1), 1, 0x00000008],
    /* 69 */ [s('poly'), info(8), 68],
    /* 70 */ [s('myint'), info(8), 3],
  ];
  return rawBtf(r, strs);
}
