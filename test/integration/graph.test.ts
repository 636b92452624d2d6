import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIFT_COLOUR } from '../../src/inspect/graph.js';
import type { DaemonProc } from '../support/daemon.js';
import { eventually, TestHost, must, repoRoot, run, weftBin } from '../support/netns.js';
import { http, startWatch, stopDaemon } from '../support/daemon.js';

/**
 * weft graph on the seed's walkthrough in a throwaway host namespace: every container and network
 * is drawn; a veth deleted by hand shows as drift; the daemon serves the same picture.
 */
describe('weft graph', () => {
  let host: TestHost;
  let daemon: DaemonProc | undefined;
  const examples = path.join(repoRoot, 'examples/walkthrough');
  const containers = ['container1', 'container2', 'container3'];
  const networks = ['bridge', 'isolated_nw'];

  beforeAll(async () => {
    host = await TestHost.create('gr');
    const r = await host.weft(['apply', '-f', examples]);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await stopDaemon(daemon);
    await host?.cleanup();
  });

  const graph = async (format: string) => {
    const r = await host.weft(['graph', '--format', format, '-f', examples]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  it('draws each container and network with its addresses, no drift after apply (dot, mermaid, svg)', { timeout: 180_000 }, async () => {
    const dot = await graph('dot');
    for (const c of containers) expect(dot).toContain(`"ctr:${c}" [label="container ${c}`);
    for (const n of networks) expect(dot).toContain(`"net:${n}" [label="network ${n}`);
    expect(dot).toMatch(/"ctr:container2" -- "net:isolated_nw" \[label="eth1 172\.21\.0\.2\/16"/);
    expect(dot).toContain(`label="host ${host.name}`);
    expect(dot).not.toContain(DRIFT_COLOUR.missing);
    expect(dot).not.toContain(DRIFT_COLOUR.differs);
    const mermaid = await graph('mermaid');
    expect(mermaid.split('\n')[0]).toBe('flowchart LR');
    for (const c of containers) expect(mermaid).toContain(`container ${c}`);
    expect(mermaid).not.toMatch(/^ {2}class /m);
    const svg = await graph('svg');
    expect(svg).toMatch(/<svg[\s>]/);
    for (const name of [...containers, 'isolated_nw']) expect(svg).toContain(name);
  });

  it('a veth deleted by hand shows in the drift colour, on that container only', async () => {
    const links = JSON.parse(await must(['ip', '-n', host.name, '-j', 'link', 'show', 'type', 'veth'])) as { ifname: string; ifalias?: string }[];
    const veth = links.find((l) => l.ifalias?.includes('ctr=container3;'));
    expect(veth).toBeDefined();
    await must(['ip', '-n', host.name, 'link', 'del', veth!.ifname]);
    const dot = await graph('dot');
    const line = (id: string) => dot.split('\n').find((l) => l.trimStart().startsWith(`"${id}" [`)) ?? '';
    expect(line('ctr:container3')).toContain(DRIFT_COLOUR.differs);
    expect(dot).toMatch(new RegExp(`"ctr:container3" -- "net:isolated_nw" .*color="${DRIFT_COLOUR.missing}"`));
    expect(line('ctr:container1')).not.toContain(DRIFT_COLOUR.differs);
    expect(line('net:isolated_nw')).not.toContain(DRIFT_COLOUR.differs);
    const svg = await graph('svg');
    expect(svg).toContain(DRIFT_COLOUR.missing);
  });

  it('the daemon serves the picture at /topology.svg', async () => {
    daemon = startWatch(host, ['-f', examples, '--resync', '10m']);
    await eventually(async () => (await http(host, '/readyz')).code === 200, 30_000, 200);
    const r = await http(host, '/topology.svg');
    expect(r.code).toBe(200);
    expect(r.body).toMatch(/<svg[\s>]/);
    for (const c of containers) expect(r.body).toContain(c);
    // The daemon repaired the veth: no drift left in the picture.
    expect(r.body).not.toContain(DRIFT_COLOUR.missing);
  });

  it('without Graphviz, --format svg names the package to install', { timeout: 180_000 }, async () => {
    const bin = path.join(host.dir, 'bin');
    await mkdir(bin, { recursive: true });
    // A PATH with node, ip and nft but no dot.
    for (const tool of ['node', 'ip', 'nft', 'bridge', 'sh', 'nsenter', 'cat', 'mktemp', 'rm']) {
      const where = (await run(['sh', '-c', `command -v ${tool}`])).stdout.trim();
      if (where) await writeFile(path.join(bin, tool), `#!/bin/sh\nexec ${where} "$@"\n`, { mode: 0o755 });
    }
    const r = await run([path.join(bin, 'node'), weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, 'graph', '-f', examples], { env: { ...process.env, PATH: bin } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('apt-get install graphviz');
    // The same PATH with dot: the picture is drawn, so the message above came from dot's absence.
    await writeFile(path.join(bin, 'dot'), `#!/bin/sh\nexec ${(await run(['sh', '-c', 'command -v dot'])).stdout.trim()} "$@"\n`, { mode: 0o755 });
    const ok = await run([path.join(bin, 'node'), weftBin, '--host-netns', host.name, '--state-dir', host.stateDir, 'graph', '-f', examples], { env: { ...process.env, PATH: bin } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/<svg[\s>]/);
  });
});
