export type { PluginAddress, PluginDirs } from './discovery.js';
export { DOCKER_PLUGIN_DIRS, findPlugin, isPluginName, parseSpec, pluginDirs } from './discovery.js';
export type { DockerPluginOptions, PluginKind } from './client.js';
export { DockerPlugin, DockerPlugins } from './client.js';
export { DockerPluginError } from './plugin-error.js';
export * from './protocol.js';
export { DEFAULT_TRANSPORT, PLUGIN_CONTENT_TYPE } from './transport.js';
