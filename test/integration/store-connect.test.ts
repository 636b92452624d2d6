import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestEtcd, Pki } from '../support/etcd.js';
import { etcdKeys, makePki, startEtcd } from '../support/etcd.js';
import type { TestHost } from '../support/netns.js';
import { TestHost as Host, must, run, weftBin } from '../support/netns.js';

/**
 * How weft reaches the membership store (issue 11, finding 13 and part 3 of "what to build"):
 * from inside the --host-netns namespace only, over TLS with client certificates, and with a
 * user and password that never appear on the command line or in the output.
 *
 * Every etcd here listens only inside the test host's namespace: on its loopback or on a
 * 198.18.x address of an interface there. The loopback case is the proof that weft connects
 * from inside: the machine's own 127.0.0.1 has nothing on that port (checked), so a connection
 * from the machine's namespace would be refused and never leave the machine. The other cases run
 * only once that proof holds, so no test ever sends a packet to the machine's real network.
 */
describe('weft --store: connections from inside the host namespace, TLS, user/password', () => {
  let h: TestHost;
  let dir = '';
  let pki: Pki;
  const underlay = '198.18.202.1';
  const port = 20000 + Math.floor(Math.random() * 9000) * 4;
  const etcds: TestEtcd[] = [];
  /** Set once weft is proven to connect from inside the namespace. */
  let insideProven = false;

  const manifests = {
    'hosts.yaml': `apiVersion: weft/v1\nkind: Host\nmetadata: {name: node-1}\nspec: {address: ${underlay}}\n`,
    'net.yaml': 'apiVersion: weft/v1\nkind: Network\nmetadata: {name: ovl}\nspec: {driver: overlay, ipam: {config: [{subnet: 10.0.9.0/24}]}}\n',
    'web1.yaml': 'apiVersion: weft/v1\nkind: Container\nmetadata: {name: web1}\nspec: {host: node-1, networks: [ovl]}\n',
  };
  /** weft run from the machine's namespace, as a user would, with --host-netns. */
  const weft = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(['node', weftBin, '--host-netns', h.name, '--state-dir', h.stateDir, '--node', 'node-1', ...args], { env: { ...process.env, ...env } });
  const published = (etcd: TestEtcd, extra: string[] = []) => etcdKeys(etcd, '/weft/v1/endpoints/', extra);

  beforeAll(async () => {
    h = await Host.create('sc');
    // A veth pair with both ends in the namespace (this kernel has no dummy module).
    await must(['ip', '-n', h.name, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0p']);
    await must(['ip', '-n', h.name, 'addr', 'add', `${underlay}/32`, 'dev', 'ul0']);
    for (const dev of ['ul0', 'ul0p']) await must(['ip', '-n', h.name, 'link', 'set', dev, 'up']);
    dir = await h.manifests(manifests);
    pki = await makePki(underlay);
  }, 60_000);
  afterAll(async () => {
    for (const e of etcds) await e.stop();
    await h?.cleanup();
    await pki?.cleanup();
  }, 60_000);

  it('plan and apply reach a store that only the host namespace can reach (its loopback)', async () => {
    // Nothing listens on that port in the machine's own namespace: a connection from there is refused.
    expect((await run(['ss', '-Hltn', `sport = :${port}`])).stdout.trim()).toBe('');
    const etcd = await startEtcd(h, { address: '127.0.0.1', port });
    etcds.push(etcd);
    const store = `etcd://127.0.0.1:${port}`;
    const plan = await weft(['--store', store, 'plan', '-f', dir]);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/^\+ /m);
    const apply = await weft(['--store', store, 'apply', '-f', dir]);
    expect(apply.stderr).not.toMatch(/weft: (?!.*(applied|converged))/);
    expect(apply.code).toBe(0);
    expect(await published(etcd)).toEqual(['/weft/v1/endpoints/node-1/ovl/web1']);
    insideProven = true;
    // destroy goes the same way: this node's endpoints leave the store.
    expect((await weft(['--store', store, 'destroy', '-f', dir])).code).toBe(0);
    expect(await published(etcd)).toEqual([]);
  }, 90_000);

  it('apply reaches a store on a 198.18.x address that exists only inside the host namespace', async () => {
    expect(insideProven).toBe(true);
    const etcd = await startEtcd(h, { address: underlay, port: port + 4 });
    etcds.push(etcd);
    const r = await weft(['--store', `etcd://${underlay}:${port + 4}`, 'apply', '-f', dir]);
    expect(r.code).toBe(0);
    expect(await published(etcd)).toEqual(['/weft/v1/endpoints/node-1/ovl/web1']);
  }, 60_000);

  describe('etcds:// with client-certificate auth', () => {
    let etcd: TestEtcd;
    const store = () => `etcds://${underlay}:${port + 8}`;
    beforeAll(async () => {
      if (!insideProven) return;
      etcd = await startEtcd(h, { address: underlay, port: port + 8, pki });
      etcds.push(etcd);
    }, 60_000);

    it('connects with the CA, certificate and key (flags or environment)', async () => {
      expect(insideProven).toBe(true);
      const r = await weft(['--store', store(), '--store-ca', pki.ca, '--store-cert', pki.clientCert, '--store-key', pki.clientKey, 'apply', '-f', dir]);
      expect(r.stderr).not.toMatch(/weft: (?!.*(applied|converged))/);
      expect(r.code).toBe(0);
      expect(await published(etcd)).toEqual(['/weft/v1/endpoints/node-1/ovl/web1']);
      const env = { WEFT_STORE_CA: pki.ca, WEFT_STORE_CERT: pki.clientCert, WEFT_STORE_KEY: pki.clientKey };
      expect((await weft(['--store', store(), 'plan', '-f', dir], env)).code).toBe(0);
    }, 60_000);

    it('fails clearly without a client certificate, or without the CA', async () => {
      expect(insideProven).toBe(true);
      for (const args of [['--store-ca', pki.ca], ['--store-cert', pki.clientCert, '--store-key', pki.clientKey]]) {
        const r = await weft(['--store', store(), ...args, 'plan', '-f', dir]);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`^weft: membership store etcds://${underlay.replace(/\./g, '\\.')}:${port + 8}: reading endpoints failed: `, 'm'));
        expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      }
      // TLS files with a plain etcd:// URL are a usage error.
      const plain = await weft(['--store', `etcd://${underlay}:${port + 8}`, '--store-ca', pki.ca, 'plan', '-f', dir]);
      expect(plain.code).toBe(2);
      expect(plain.stderr).toMatch(/write etcds:\/\//);
    }, 60_000);
  });

  describe('user and password', () => {
    let etcd: TestEtcd;
    const store = () => `etcd://${underlay}:${port + 12}`;
    const password = 'c0rrect-h0rse';
    beforeAll(async () => {
      if (!insideProven) return;
      etcd = await startEtcd(h, { address: underlay, port: port + 12 });
      etcds.push(etcd);
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      // As `etcdctl user add / role grant-permission / auth enable` would, through the HTTP gateway.
      for (const [p, body] of [
        ['/v3/auth/user/add', { name: 'root', password: 'root-pw' }],
        ['/v3/auth/user/grant', { user: 'root', role: 'root' }],
        ['/v3/auth/role/add', { name: 'weft-rw' }],
        ['/v3/auth/role/grant', { name: 'weft-rw', perm: { permType: 'READWRITE', key: b64('/weft/'), range_end: b64('/weft0') } }],
        ['/v3/auth/user/add', { name: 'weft', password }],
        ['/v3/auth/user/grant', { user: 'weft', role: 'weft-rw' }],
        ['/v3/auth/enable', {}],
      ] as const) {
        const out = await etcd.curl(p, body);
        if (/"error"/.test(out)) throw new Error(`${p}: ${out}`);
      }
    }, 60_000);

    it('connects as the user, with the password from WEFT_STORE_PASSWORD or a file; never prints it', async () => {
      expect(insideProven).toBe(true);
      const r = await weft(['--store', store(), '--store-user', 'weft', '--log-level', 'debug', 'apply', '-f', dir], { WEFT_STORE_PASSWORD: password });
      expect(r.code).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(password);
      const pwFile = `${h.dir}/store-password`;
      await must(['sh', '-c', `umask 077; printf '%s\\n' '${password}' > ${pwFile}`]);
      const f = await weft(['--store', store(), '--store-user', 'weft', '--store-password-file', pwFile, 'plan', '-f', dir]);
      expect(f.code).toBe(0);
      // The store holds the endpoint; reading it needs the credentials too.
      const token = JSON.parse(await etcd.curl('/v3/auth/authenticate', { name: 'weft', password })) as { token: string };
      expect(await published(etcd, ['-H', `Authorization: ${token.token}`])).toEqual(['/weft/v1/endpoints/node-1/ovl/web1']);
    }, 60_000);

    it('a wrong password or no user fails clearly, without printing the password', async () => {
      expect(insideProven).toBe(true);
      const wrong = await weft(['--store', store(), '--store-user', 'weft', 'plan', '-f', dir], { WEFT_STORE_PASSWORD: 'not-the-password' });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/^weft: membership store etcd:\/\/.*: reading endpoints failed: .*(authentication failed|invalid)/im);
      expect(wrong.stderr).not.toContain('not-the-password');
      const anonymous = await weft(['--store', store(), 'plan', '-f', dir]);
      expect(anonymous.code).toBe(1);
      expect(anonymous.stderr).toMatch(/^weft: membership store etcd:\/\/.*: reading endpoints failed: /m);
    }, 60_000);
  });
});
