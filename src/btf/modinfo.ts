/** `.modinfo`: NUL-separated `key=value` strings; modbtf needs `vermagic` and `name`. */
export function parseModinfo(data: Uint8Array): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let start = 0;
  for (let i = 0; i <= data.length; i++) {
    if (i === data.length || data[i] === 0) {
      if (i > start) {
        const s = Buffer.from(data.buffer, data.byteOffset + start, i - start).toString('latin1');
        const eq = s.indexOf('=');
        if (eq > 0) {
          const k = s.slice(0, eq);
          const list = out.get(k);
          if (list) list.push(s.slice(eq + 1));
          else out.set(k, [s.slice(eq + 1)]);
        }
      }
      start = i + 1;
    }
  }
  return out;
}

/** Kernel release a module was built for: the first word of its vermagic. */
export function moduleKernelRelease(modinfo: Map<string, string[]>): string | null {
  const v = modinfo.get('vermagic')?.[0];
  if (!v) return null;
  const rel = v.trim().split(/\s+/)[0];
  return rel || null;
}
