import http from 'node:http';
import type { PluginAddress } from './discovery.js';
import { DockerPluginError, pluginText } from './plugin-error.js';

/** Docker's plugin content type (requests); answers are read as JSON whatever they declare. */
export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1+json';
const PLUGIN_ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

export interface TransportOptions {
  /** The whole call, connect to last byte; Docker's default is 30 s. */
  timeoutMs: number;
  /** Larger answers are cut off and refused (a plugin never needs more). */
  maxAnswerBytes: number;
}

export const DEFAULT_TRANSPORT: TransportOptions = { timeoutMs: 30_000, maxAnswerBytes: 1024 * 1024 };

/** What came back: `notImplemented` for a 404 (Docker: the plugin lacks that call), else the JSON body. */
export type Answer = { notImplemented: true } | { notImplemented: false; body: unknown };

/**
 * POSTs `body` as JSON to `/<call>` of the plugin at `addr` (HTTP/1.1, one connection per call)
 * and parses the answer. Throws DockerPluginError: reachable false when the plugin is not there or does
 * not answer in time; reachable true for an HTTP error status or an answer that is not JSON.
 */
export function postJson(plugin: string, addr: PluginAddress, call: string, body: unknown, opts: TransportOptions): Promise<Answer> {
  const payload = Buffer.from(JSON.stringify(body ?? {}));
  const target = addr.kind === 'unix' ? { socketPath: addr.path } : { host: addr.host, port: addr.port };
  return new Promise<Answer>((resolve, reject) => {
    let settled = false;
    const finish = (err: DockerPluginError | undefined, answer?: Answer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (err) reject(err);
      else resolve(answer!);
    };
    const req = http.request({
      ...target,
      method: 'POST',
      path: `/${call}`,
      agent: false,
      headers: { 'Content-Type': PLUGIN_CONTENT_TYPE, Accept: PLUGIN_ACCEPT, 'Content-Length': payload.length, Host: 'plugin' },
    });
    const timer = setTimeout(() => finish(new DockerPluginError(plugin, call, `no answer within ${opts.timeoutMs} ms`, { reachable: false })), opts.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => finish(new DockerPluginError(plugin, call, `cannot reach ${where(addr)}: ${e.code ?? e.message}`, { reachable: false, cause: e })));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > opts.maxAnswerBytes) finish(new DockerPluginError(plugin, call, `answer larger than ${opts.maxAnswerBytes} bytes`));
        else chunks.push(c);
      });
      res.on('error', (e) => finish(new DockerPluginError(plugin, call, `answer cut off: ${e.message}`, { reachable: false, cause: e })));
      res.on('aborted', () => finish(new DockerPluginError(plugin, call, 'answer cut off', { reachable: false })));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status === 404) return finish(undefined, { notImplemented: true });
        let parsed: unknown;
        let isJson = true;
        try {
          parsed = text.trim() === '' ? {} : JSON.parse(text);
        } catch {
          isJson = false;
        }
        if (status < 200 || status >= 300) {
          const err = isJson ? errText(parsed) : undefined;
          return finish(new DockerPluginError(plugin, call, `HTTP ${status}: ${err ?? (pluginText(text) || 'no message')}`));
        }
        if (!isJson) return finish(new DockerPluginError(plugin, call, `answer is not JSON: ${JSON.stringify(pluginText(text, 80))}`));
        finish(undefined, { notImplemented: false, body: parsed });
      });
    });
    req.end(payload);
  });
}

function where(addr: PluginAddress): string {
  return addr.kind === 'unix' ? addr.path : `${addr.host}:${addr.port}`;
}

/** A non-empty `Err` string of an answer, made printable; undefined when there is none. */
export function errText(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const err = (body as Record<string, unknown>)['Err'];
  return typeof err === 'string' && err.trim() !== '' ? pluginText(err) : undefined;
}
