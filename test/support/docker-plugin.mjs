/* global process, console */
// A small Docker remote network driver and IPAM driver for the test suite. It speaks the plugin
// protocol (JSON over HTTP POST) on a unix socket, makes veth pairs the way real remote drivers do
// (one bridge per network, the host end of each endpoint on it), records every call it gets, and
// misbehaves on request. Run it inside a test namespace so its links land there:
//   ip netns exec NS node test/support/docker-plugin.mjs --socket DIR/NAME.sock --log FILE [options]
// Options:
//   --state FILE          keep networks and pools across restarts (as a real plugin would)
//   --no-kernel           touch no links (for unit tests without root)
//   --implements A,B      what Plugin.Activate lists (default NetworkDriver,IpamDriver)
//   --garbage CALL|all    answer CALL (or every call) with text that is not JSON
//   --bad CALL|all        answer CALL with JSON of the wrong shape
//   --fail CALL           answer CALL with {"Err": "..."}
//   --hang CALL|all       never answer CALL (the connection stays open)
//   --exit-on CALL        exit as soon as CALL arrives, answering nothing
//   --huge CALL           answer CALL with 4 MiB of JSON
//   --choose-mac MAC      CreateEndpoint answers with this MAC address (as drivers that pick one do)
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import http from 'node:http';

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
}
const socket = opt('--socket');
const logFile = opt('--log');
const stateFile = opt('--state');
const kernel = !args.includes('--no-kernel');
const implementsList = opt('--implements', 'NetworkDriver,IpamDriver').split(',').filter(Boolean);
const matches = (name, call) => {
  const v = opt(name);
  return v !== undefined && (v === 'all' || v.split(',').includes(call));
};
if (!socket || !logFile) {
  console.error('usage: docker-plugin.mjs --socket PATH --log FILE [options]');
  process.exit(2);
}

const state = stateFile && existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : { networks: {}, pools: {} };
const save = () => stateFile && writeFileSync(stateFile, JSON.stringify(state));

const ip = (...a) => {
  if (kernel) execFileSync('ip', a, { stdio: ['ignore', 'ignore', 'pipe'] });
};
/** `ip` that may find the object already gone (a restart, or weft removed the peer). */
const ipMaybe = (...a) => {
  try {
    ip(...a);
  } catch {
    /* already gone */
  }
};
const bridgeOf = (nid) => `tpb${nid.slice(0, 8)}`;
const hostEnd = (eid) => `tph${eid.slice(0, 8)}`;
const peerEnd = (eid) => `tpc${eid.slice(0, 8)}`;

class PluginErr extends Error {}

const handlers = {
  'Plugin.Activate': () => ({ Implements: implementsList }),
  'NetworkDriver.GetCapabilities': () => ({ Scope: 'local', ConnectivityScope: 'local' }),
  'NetworkDriver.CreateNetwork': (b) => {
    const gw = b.IPv4Data?.[0]?.Gateway;
    if (!state.networks[b.NetworkID]) {
      const br = bridgeOf(b.NetworkID);
      ipMaybe('link', 'del', br);
      ip('link', 'add', br, 'type', 'bridge');
      if (gw) ip('addr', 'add', gw, 'dev', br);
      ip('link', 'set', br, 'up');
      state.networks[b.NetworkID] = { bridge: br, gateway: gw ? gw.split('/')[0] : undefined, options: b.Options ?? {} };
      save();
    }
    return {};
  },
  'NetworkDriver.DeleteNetwork': (b) => {
    if (!state.networks[b.NetworkID]) throw new PluginErr(`network ${b.NetworkID} not found`);
    ipMaybe('link', 'del', bridgeOf(b.NetworkID));
    delete state.networks[b.NetworkID];
    save();
    return {};
  },
  'NetworkDriver.CreateEndpoint': (b) => {
    const net = state.networks[b.NetworkID];
    if (!net) throw new PluginErr(`network ${b.NetworkID} not found`);
    ipMaybe('link', 'del', hostEnd(b.EndpointID));
    ip('link', 'add', hostEnd(b.EndpointID), 'type', 'veth', 'peer', 'name', peerEnd(b.EndpointID));
    ip('link', 'set', hostEnd(b.EndpointID), 'master', net.bridge, 'up');
    const mac = opt('--choose-mac');
    return { Interface: mac ? { MacAddress: mac } : null };
  },
  'NetworkDriver.DeleteEndpoint': (b) => {
    ipMaybe('link', 'del', hostEnd(b.EndpointID));
    return {};
  },
  'NetworkDriver.Join': (b) => {
    const net = state.networks[b.NetworkID];
    if (!net) throw new PluginErr(`network ${b.NetworkID} not found`);
    return {
      InterfaceName: { SrcName: peerEnd(b.EndpointID), DstPrefix: 'eth' },
      ...(net.gateway ? { Gateway: net.gateway } : {}),
      StaticRoutes: [{ Destination: '198.51.100.0/24', RouteType: 1 }],
    };
  },
  'NetworkDriver.Leave': () => ({}),
  'NetworkDriver.EndpointOperInfo': (b) => ({ Value: { hostVeth: hostEnd(b.EndpointID) } }),
  'IpamDriver.GetCapabilities': () => ({ RequiresMACAddress: false }),
  'IpamDriver.GetDefaultAddressSpaces': () => ({ LocalDefaultAddressSpace: 'tplocal', GlobalDefaultAddressSpace: 'tpglobal' }),
  'IpamDriver.RequestPool': (b) => {
    const pool = b.Pool || (b.V6 ? '2001:db8:77::/64' : '10.231.0.0/24');
    const id = `tp-${b.AddressSpace}-${pool}`;
    state.pools[id] = state.pools[id] ?? { pool, used: [] };
    save();
    return { PoolID: id, Pool: pool, Data: {} };
  },
  'IpamDriver.ReleasePool': (b) => {
    if (!state.pools[b.PoolID]) throw new PluginErr(`pool ${b.PoolID} not found`);
    delete state.pools[b.PoolID];
    save();
    return {};
  },
  'IpamDriver.RequestAddress': (b) => {
    const p = state.pools[b.PoolID];
    if (!p) throw new PluginErr(`pool ${b.PoolID} not found`);
    const [base, len] = p.pool.split('/');
    if (base.includes(':')) throw new PluginErr('this test plugin hands out IPv4 addresses only');
    let addr = b.Address;
    if (!addr) {
      const o = base.split('.').map(Number);
      for (let i = 2; i < 255 && !addr; i++) {
        const cand = `${o[0]}.${o[1]}.${o[2]}.${i}`;
        if (!p.used.includes(cand)) addr = cand;
      }
    }
    if (!addr) throw new PluginErr('pool exhausted');
    if (p.used.includes(addr) && b.Address) throw new PluginErr(`address ${addr} in use`);
    p.used.push(addr);
    save();
    return { Address: `${addr}/${len}`, Data: {} };
  },
  'IpamDriver.ReleaseAddress': (b) => {
    const p = state.pools[b.PoolID];
    if (p) p.used = p.used.filter((a) => a !== b.Address);
    save();
    return {};
  },
};

/** Wrong types for each call: the shape a confused plugin might send. */
const bad = {
  'Plugin.Activate': { Implements: 'NetworkDriver' },
  'NetworkDriver.Join': { InterfaceName: { SrcName: 42, DstPrefix: 'eth' } },
  'NetworkDriver.CreateEndpoint': { Interface: { Address: 'not-an-address' } },
  'NetworkDriver.GetCapabilities': { Scope: 'everywhere' },
};

const server = http.createServer((req, res) => {
  const call = (req.url ?? '/').slice(1);
  let text = '';
  req.on('data', (c) => (text += c));
  req.on('end', () => {
    let body = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    appendFileSync(logFile, `${JSON.stringify({ call, body, contentType: req.headers['content-type'] ?? '' })}\n`);
    if (matches('--exit-on', call)) process.exit(3);
    if (matches('--hang', call)) return; // never answers
    const send = (status, payload) => res.writeHead(status, { 'Content-Type': 'application/vnd.docker.plugins.v1+json' }).end(payload);
    if (matches('--garbage', call)) return send(200, '<html>Internal gremlins</html>\u0007');
    if (matches('--huge', call)) return send(200, JSON.stringify({ Value: { pad: 'x'.repeat(4 * 1024 * 1024) } }));
    if (matches('--bad', call)) return send(200, JSON.stringify(bad[call] ?? []));
    if (matches('--fail', call)) return send(200, JSON.stringify({ Err: `test plugin refuses ${call}` }));
    const handler = handlers[call];
    if (!handler) return send(404, '404 page not found');
    try {
      send(200, JSON.stringify(handler(body)));
    } catch (e) {
      send(200, JSON.stringify({ Err: e instanceof Error ? e.message : String(e) }));
    }
  });
});

rmSync(socket, { force: true });
server.listen(socket, () => console.log('listening'));
const stop = () => {
  server.close();
  rmSync(socket, { force: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
