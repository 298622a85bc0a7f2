export * from './compress.js';
export * from './signature.js';
export * from './open.js';
export * from './write.js';
export * from './bzimage.js';
export * from './bootimage.js';
export * from './lz4.js';
export * from './limits.js';
