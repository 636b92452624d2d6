export { RecordStore, parseRecord, recordFile, requestHash } from './records.js';
export { applyPluginAdds, applyPluginDeletes, messageOf, planPlugins, pluginPlanLines, recordKey } from './phase.js';
export type { PluginApplyContext, PluginPlan, PluginPlanInput } from './phase.js';
export { observedDrift } from './drift.js';
export { PluginError } from './types.js';
export type { PluginChange, PluginFailure, PluginRecord, PluginResult, PluginRunner, PluginWarning, RunnerContext } from './types.js';
