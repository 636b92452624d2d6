import { existsSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The benchmark's topology, the same for every tool: NETWORKS user-defined bridge networks,
 * N containers spread round-robin over them, each publishing one TCP port (host 20000+i -> 80).
 */

export const NETWORKS = 10;
export const CONTAINER_PORT = 80;
export const FIRST_HOST_PORT = 20000;
/**
 * Whether containers publish their port (BENCH_PORTS=0: none, for the figures without a firewall
 * load; every tool then skips its port machinery and the "change 1 published port" step).
 */
export const PUBLISH = process.env['BENCH_PORTS'] !== '0';
/** The host port "change one published port" moves container 0 to. */
export const CHANGED_HOST_PORT = 40000;

export interface BenchNetwork {
  index: number;
  name: string;
  subnet: string;
  prefixLen: number;
  gateway: string;
}

export interface BenchContainer {
  index: number;
  name: string;
  network: BenchNetwork;
  /** Static address for the peers (weft's IPAM picks its own, the lowest free). */
  ip: string;
  mac: string;
  hostPort: number;
}

export function network(k: number): BenchNetwork {
  return { index: k, name: `bn${k}`, subnet: `10.${100 + k}.0.0/16`, prefixLen: 16, gateway: `10.${100 + k}.0.1` };
}

export function networks(): BenchNetwork[] {
  return Array.from({ length: NETWORKS }, (_, k) => network(k));
}

export function container(i: number, hostPort = FIRST_HOST_PORT + i): BenchContainer {
  const net = network(i % NETWORKS);
  const host = Math.floor(i / NETWORKS) + 2;
  const ip = `10.${100 + net.index}.${host >> 8}.${host & 255}`;
  const mac = `02:42:${ip
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join(':')}`;
  return { index: i, name: `c${i}`, network: net, ip, mac, hostPort };
}

export function containers(n: number): BenchContainer[] {
  return Array.from({ length: n }, (_, i) => container(i));
}

function networksYaml(): string {
  return networks()
    .map((n) => `apiVersion: weft/v1\nkind: Network\nmetadata: {name: ${n.name}}\nspec:\n  driver: bridge\n  ipam: {config: [{subnet: ${n.subnet}, gateway: ${n.gateway}}]}\n`)
    .join('---\n');
}

function containersYaml(cs: readonly BenchContainer[]): string {
  return cs
    .map((c) => `apiVersion: weft/v1\nkind: Container\nmetadata: {name: ${c.name}}\nspec:\n  networks: [${c.network.name}]\n${PUBLISH ? `  ports: ["${c.hostPort}:${CONTAINER_PORT}/tcp"]\n` : ''}`)
    .join('---\n');
}

/**
 * Writes the manifests for `cs` into `dir`: networks.yaml once, containers.yaml every time. The
 * containers file is replaced atomically (written next to the folder, then renamed), as an editor
 * or `git checkout` would, so a watching daemon never reads half a file.
 */
export async function writeManifests(dir: string, cs: readonly BenchContainer[]): Promise<void> {
  const nets = path.join(dir, 'networks.yaml');
  if (!existsSync(nets)) await writeFile(nets, networksYaml());
  const tmp = `${dir}.containers.tmp`;
  await writeFile(tmp, containersYaml(cs));
  await rename(tmp, path.join(dir, 'containers.yaml'));
}
