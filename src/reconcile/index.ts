export { reconcile, destroy, hostRef, readHostResolvConf, detectNode } from './reconcile.js';
export type { ReconcileContext, ReconcileOptions, ReconcileResult } from './reconcile.js';
export { planChanges } from './plan.js';
export type { Plan, PlannedChange } from './plan.js';
export { buildProgram } from './apply.js';
export { acquireLock } from './lock.js';
export { ConflictError } from './conflicts.js';
export type { Lock } from './lock.js';
export { describeChange, describeOrphan, planLines } from './describe.js';
