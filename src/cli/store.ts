import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PeerSource, ReconcileResult } from '../reconcile/index.js';
import { localEndpoints } from '../store/endpoints.js';
import type { StoreCredentials } from '../store/etcd.js';
import { openStoreUrl } from '../store/open.js';
import type { StoreClient } from '../store/open.js';
import { StoreRejections } from '../store/rejections.js';
import type { GlobalOptions } from './context.js';

/** The environment variables that stand in for the --store-* flags (a flag wins). */
export const STORE_ENV = {
  ca: 'WEFT_STORE_CA',
  cert: 'WEFT_STORE_CERT',
  key: 'WEFT_STORE_KEY',
  user: 'WEFT_STORE_USER',
  password: 'WEFT_STORE_PASSWORD',
  passwordFile: 'WEFT_STORE_PASSWORD_FILE',
} as const;

/**
 * The membership store named by --store (etcd://, etcds:// or zk://), or undefined, with the
 * rejections sink its endpoints' checks report to. Its client library is loaded only then
 * (etcd's gRPC costs more than the rest of weft's start-up). Throws UsageError for a bad URL or
 * unreadable credential files.
 */
export async function openStore(g: GlobalOptions, log: Logger): Promise<StoreClient | undefined> {
  if (g.store === undefined) return undefined;
  const credentials = await storeCredentials(g, process.env);
  const tls = g.store.startsWith('etcds://');
  if (!tls && (credentials.ca || credentials.cert || credentials.key)) {
    throw new UsageError(`--store ${g.store}: TLS files are given but the URL has no TLS; write etcds://`);
  }
  if (g.store.startsWith('zk://') && credentials.user !== undefined) {
    throw new UsageError(`--store ${g.store}: ZooKeeper is reached without authentication here; --store-user is for etcd`);
  }
  if (!tls && credentials.password !== undefined) {
    log.warn({ store: g.store }, 'the store password is sent without TLS; use etcds://');
  }
  return openStoreUrl(g.store, log, { credentials, rejections: storeRejections(log) });
}

let rejections: StoreRejections | undefined;
/** One sink per process: the store reports garbage values to it, reconciles the rest (trust.ts). */
export function storeRejections(log: Logger): StoreRejections {
  return (rejections ??= new StoreRejections(log));
}

/**
 * Credentials from --store-ca/--store-cert/--store-key/--store-user (or WEFT_STORE_*), the
 * password only from WEFT_STORE_PASSWORD or a file (--store-password-file): never argv, which
 * every local user can read in /proc. Throws UsageError naming the file (never its content).
 */
export async function storeCredentials(g: GlobalOptions, env: NodeJS.ProcessEnv): Promise<StoreCredentials> {
  const pick = (flag: string | undefined, name: string) => flag ?? (env[name] || undefined);
  const file = async (what: string, p: string | undefined): Promise<Buffer | undefined> => {
    if (p === undefined) return undefined;
    try {
      return await readFile(p);
    } catch (err) {
      throw new UsageError(`${what} ${p}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const out: StoreCredentials = {};
  const ca = await file('--store-ca', pick(g.storeCa, STORE_ENV.ca));
  const cert = await file('--store-cert', pick(g.storeCert, STORE_ENV.cert));
  const key = await file('--store-key', pick(g.storeKey, STORE_ENV.key));
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--store-cert and --store-key go together: the client certificate and its private key');
  if (ca) out.ca = ca;
  if (cert && key) {
    out.cert = cert;
    out.key = key;
  }
  const user = pick(g.storeUser, STORE_ENV.user);
  const passwordFile = pick(g.storePasswordFile, STORE_ENV.passwordFile);
  const fromFile = await file('--store-password-file', passwordFile);
  // A password file ends with a newline more often than not; the password does not.
  const password = fromFile !== undefined ? fromFile.toString('utf8').replace(/\r?\n$/, '') : env[STORE_ENV.password];
  if (password !== undefined && user === undefined) throw new UsageError('a store password without a user: pass --store-user (or WEFT_STORE_USER)');
  if (user !== undefined) {
    out.user = user;
    out.password = password ?? '';
  }
  return out;
}

/** The store as a reconcile reads it: its endpoints, and where the rejected ones are reported. */
export function peerSource(store: StoreClient | undefined, log: Logger): PeerSource | undefined {
  if (!store) return undefined;
  const sink = storeRejections(log);
  return { endpoints: () => store.endpoints(), rejected: (r) => sink.add(r) };
}

/**
 * After a successful apply: publish this node's endpoints on global networks (all of them, also
 * when nothing changed, which renews the lease); after destroy, publish none.
 */
export async function publishResult(store: StoreClient, r: ReconcileResult, opts: { none?: boolean } = {}): Promise<void> {
  const node = r.topology.node;
  const address = r.topology.nodeAddress;
  if (node === undefined || address === undefined) return;
  await store.publish(node, address, opts.none ? [] : localEndpoints(r.topology));
}

/** Runs fn, then closes the store if there is one (keeping this node's lease: it expires on its own). */
export async function closing<T>(store: StoreClient | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await store?.close();
  }
}
