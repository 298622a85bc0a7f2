/**
 * The one error type modbtf throws for bad input or a failed operation.
 *
 * `code` is a stable machine-readable identifier; the message is one line that
 * names what went wrong. `file`, `section` and `typeId` locate it; the CLI
 * prints `modbtf: FILE: SECTION: [ID] message`.
 */
export type ModbtfErrorCode =
  | 'E_USAGE'
  | 'E_IO'
  | 'E_NOT_BTF'
  | 'E_BTF_MAGIC'
  | 'E_BTF_TRUNCATED'
  | 'E_BTF_HEADER'
  | 'E_BTF_KIND'
  | 'E_BTF_VLEN'
  | 'E_BTF_TYPE_ID'
  | 'E_BTF_STRING'
  | 'E_BTF_INVALID'
  | 'E_ELF'
  | 'E_ELF_CLASS'
  | 'E_ELF_MACHINE'
  | 'E_ELF_SECTION'
  | 'E_NO_BTF'
  | 'E_DECOMPRESS'
  | 'E_TOO_LARGE'
  | 'E_COMPRESS'
  | 'E_SIGNATURE'
  | 'E_NOT_SPLIT'
  | 'E_ALREADY_DISTILLED'
  | 'E_NOT_DISTILLED'
  | 'E_DISTILL'
  | 'E_RELOCATE'
  | 'E_BTF_IDS'
  | 'E_MAP'
  | 'E_NO_BASE'
  | 'E_WRITE'
  | 'E_BTF_EXT'
  | 'E_BPF_OBJECT'
  | 'E_CORE';

export interface ErrorLocation {
  file?: string;
  section?: string;
  typeId?: number;
}

export class ModbtfError extends Error {
  readonly code: ModbtfErrorCode;
  file?: string;
  section?: string;
  typeId?: number;

  constructor(code: ModbtfErrorCode, message: string, where: ErrorLocation = {}) {
    super(message);
    this.name = 'ModbtfError';
    this.code = code;
    this.file = where.file;
    this.section = where.section;
    this.typeId = where.typeId;
  }

  /** Fill in location fields that are not yet set (inner code knows less than outer code). */
  at(where: ErrorLocation): this {
    if (this.file === undefined && where.file !== undefined) this.file = where.file;
    if (this.section === undefined && where.section !== undefined) this.section = where.section;
    if (this.typeId === undefined && where.typeId !== undefined) this.typeId = where.typeId;
    return this;
  }

  /** One line: `FILE: SECTION: type [ID]: message`, omitting unknown parts. */
  describe(): string {
    const parts: string[] = [];
    if (this.file !== undefined) parts.push(this.file);
    if (this.section !== undefined) parts.push(this.section);
    if (this.typeId !== undefined) parts.push(`type [${this.typeId}]`);
    parts.push(this.message);
    return parts.join(': ');
  }
}

/** Run `fn`, attaching a location to any ModbtfError it throws. */
export function withLocation<T>(where: ErrorLocation, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ModbtfError) throw e.at(where);
    throw e;
  }
}

const IO_REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory', EACCES: 'permission denied', EPERM: 'operation not permitted',
  EROFS: 'read-only file system', ENOSPC: 'no space left on device', EDQUOT: 'disk quota exceeded',
  EISDIR: 'is a directory', ENOTDIR: 'a path component is not a directory', ELOOP: 'too many levels of symbolic links',
  EIO: 'input/output error', ENXIO: 'no such device or address', EFBIG: 'file too large', EPIPE: 'the reader closed it',
  EMFILE: 'too many open files', ENFILE: 'too many open files', ENAMETOOLONG: 'file name too long', EBADF: 'bad file descriptor',
  EAGAIN: 'resource temporarily unavailable', EINVAL: 'invalid argument', EXDEV: 'not on the same file system', EBUSY: 'device or resource busy',
};

/** A system call's failure in words (`no space left on device`), never Node's own message text. */
export function ioReason(e: unknown, overrides: Record<string, string> = {}): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code && overrides[code]) return overrides[code]!;
  if (code && IO_REASONS[code]) return IO_REASONS[code]!;
  return code ? `system error ${code}` : 'unknown error';
}
