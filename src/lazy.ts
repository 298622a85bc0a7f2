/**
 * Node built-ins that only some runs need, loaded on first use: importing
 * them up front costs every command's start-up (child_process and zlib bring
 * in net and stream) for work most runs never do.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** `node:child_process`: the system's decompressors, sign-file. */
export const childProcess = (): typeof import('node:child_process') => load('node:child_process') as typeof import('node:child_process');

/** `node:zlib`: gzip-compressed modules. */
export const zlib = (): typeof import('node:zlib') => load('node:zlib') as typeof import('node:zlib');
