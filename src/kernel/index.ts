export type * from './types.js';
export { emptyProgram, programIsEmpty, nftTableKey } from './types.js';
export { RealKernel } from './real-kernel.js';
export { exec, inNamespace, mapLimit } from './exec.js';
export { renderIpOp } from './ip-render.js';
export { parseLinks, parseAddresses, parseRoutes } from './ip-parse.js';
export { NETNS_ENV, inHostNetns, onParentGone, reexecInNetns } from './reexec.js';
