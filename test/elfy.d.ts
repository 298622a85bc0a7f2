declare module 'elfy' {
  interface ElfySection {
    name: string;
    type: string | number;
    off: number;
    size: number;
    link: number;
    info: number;
  }
  interface ElfyResult {
    class: string;
    endian: string;
    machine: string | number;
    type: string | number;
    shnum: number;
    shstrndx: number;
    body: { sections: ElfySection[] };
  }
  const elfy: { parse(buf: Buffer): ElfyResult };
  export default elfy;
}
