export type * from './types.js';
export * from './expr.js';
