import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestHost } from './netns.js';
import { eventually, must, run } from './netns.js';

/**
 * etcd for store tests, started inside a test namespace (never the machine's own), with a data
 * directory of its own. `tls` makes it serve HTTPS with its server certificate and require client
 * certificates signed by the CA; `stop()` ends it by PID and removes its data.
 */
export interface TestEtcd {
  /** host:port clients connect to. */
  endpoint: string;
  /** Runs curl against the etcd HTTP API inside the namespace (with the client certificate when TLS). */
  curl(urlPath: string, body?: unknown, extra?: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startEtcd(host: TestHost, opts: { address: string; port: number; pki?: Pki; alsoListen?: string[] }): Promise<TestEtcd> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'weft-etcd-'));
  const scheme = opts.pki ? 'https' : 'http';
  const client = `${scheme}://${opts.address}:${opts.port}`;
  const peer = `http://127.0.0.1:${opts.port + 1}`;
  const tls = opts.pki
    ? ['--cert-file', opts.pki.serverCert, '--key-file', opts.pki.serverKey, '--trusted-ca-file', opts.pki.ca, '--client-cert-auth']
    : [];
  const proc = host.spawn([
    'ip', 'netns', 'exec', host.name, 'etcd', '--name', 'weft-test', '--data-dir', dataDir,
    '--listen-client-urls', [client, ...(opts.alsoListen ?? []).map((a) => `${scheme}://${a}:${opts.port}`)].join(','), '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `weft-test=${peer}`,
    '--log-level', 'error', ...tls,
  ]);
  const certs = opts.pki ? ['--cacert', opts.pki.ca, '--cert', opts.pki.clientCert, '--key', opts.pki.clientKey] : [];
  const curl = async (urlPath: string, body?: unknown, extra: string[] = []) => {
    const data = body === undefined ? [] : ['-X', 'POST', '-d', JSON.stringify(body)];
    const r = await run(['ip', 'netns', 'exec', host.name, 'curl', '-sS', '-m', '5', ...certs, ...extra, ...data, `${client}${urlPath}`]);
    return r.stdout + r.stderr;
  };
  try {
    await eventually(async () => (await curl('/health')).includes('"true"'), 20_000, 200);
  } catch (err) {
    process.kill(proc.pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`etcd did not start: ${proc.output()}`, { cause: err });
  }
  return {
    endpoint: `${opts.address}:${opts.port}`,
    curl,
    async stop() {
      try {
        process.kill(proc.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      await proc.exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Puts a raw value under a key through etcd's HTTP gateway (what any writer with access can do). */
export async function etcdPut(etcd: TestEtcd, key: string, value: string, extra: string[] = []): Promise<string> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return etcd.curl('/v3/kv/put', { key: b64(key), value: b64(value) }, extra);
}

/** The keys under a prefix (decoded). */
export async function etcdKeys(etcd: TestEtcd, prefix: string, extra: string[] = []): Promise<string[]> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  const out = await etcd.curl('/v3/kv/range', { key: b64(prefix), range_end: b64(end), keys_only: true }, extra);
  const kvs = (JSON.parse(out) as { kvs?: { key: string }[] }).kvs ?? [];
  return kvs.map((kv) => Buffer.from(kv.key, 'base64').toString());
}

/** A throwaway CA with a server certificate (for `address`) and a client certificate, made by openssl. */
export interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  cleanup(): Promise<void>;
}

export async function makePki(address: string): Promise<Pki> {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-pki-'));
  const p = (f: string) => path.join(dir, f);
  const key = (f: string) => must(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(f)]);
  await key('ca.key');
  await must(['openssl', 'req', '-x509', '-new', '-key', p('ca.key'), '-out', p('ca.pem'), '-days', '1', '-subj', '/CN=weft-test-ca']);
  const sign = async (name: string, cn: string, ext: string) => {
    await key(`${name}.key`);
    await must(['openssl', 'req', '-new', '-key', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await writeFile(p(`${name}.ext`), ext);
    await must(['openssl', 'x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${name}.pem`), '-days', '1', '-extfile', p(`${name}.ext`)]);
  };
  await sign('server', 'etcd', `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await sign('client', 'weft', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: p('ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
