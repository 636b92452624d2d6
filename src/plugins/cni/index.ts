export { CniRunner, cniOptionsFromEnv, pluginStdin, DEFAULT_CNI_CONF_DIR, DEFAULT_CNI_DIRS, DEFAULT_CNI_TIMEOUT_MS } from './runner.js';
export type { CniOptions } from './runner.js';
export { cniRequest, compareVersions, supportsCheck } from './config.js';
export type { CniConfList, CniPluginConf, CniRequest } from './config.js';
export { checkResult } from './result.js';
export { runCni } from './exec.js';
