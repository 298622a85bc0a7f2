export * from './elf.js';
export * from './writer.js';
