import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { run, sleep } from './proc.js';

/** The machine and tool versions a result belongs to, and how busy the machine was. */

export interface MachineInfo {
  date: string;
  nproc: number;
  cpu: string;
  memGiB: number;
  kernel: string;
  versions: Record<string, string>;
}

async function firstLine(argv: string[], re?: RegExp): Promise<string> {
  try {
    const r = await run(argv, { timeoutMs: 10_000 });
    const text = `${r.stdout}\n${r.stderr}`.trim();
    if (re) return re.exec(text)?.[1] ?? 'unknown';
    return text.split('\n')[0]?.trim() || 'unknown';
  } catch {
    return 'not installed';
  }
}

async function debVersion(pkg: string): Promise<string> {
  const r = await run(['dpkg-query', '-W', '-f', '${Version}', pkg]).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.trim() : 'not installed';
}

export async function machineInfo(repoDir: string): Promise<MachineInfo> {
  const cpus = os.cpus();
  const weftVersion = JSON.parse(await readFile(`${repoDir}/package.json`, 'utf8')) as { version: string };
  const commit = await firstLine(['git', '-C', repoDir, 'rev-parse', '--short', 'HEAD']);
  return {
    date: new Date().toISOString(),
    nproc: cpus.length,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    versions: {
      weft: `${weftVersion.version} (${commit})`,
      node: process.version,
      iproute2: await firstLine(['ip', '-V'], /iproute2-([\w.-]+)/),
      nftables: await firstLine(['nft', '--version'], /v([\d.]+)/),
      'util-linux (nsenter)': await firstLine(['nsenter', '--version'], /util-linux ([\d.]+)/),
      netavark: await firstLine(['/usr/lib/podman/netavark', '--version'], /netavark ([\d.]+)/),
      'containernetworking-plugins': await debVersion('containernetworking-plugins'),
      iptables: await firstLine(['iptables', '--version'], /v([\d.]+ \([\w_]+\))/),
    },
  };
}

interface CpuTimes {
  idle: number;
  total: number;
}

async function cpuTimes(): Promise<CpuTimes> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}

/** The fraction of CPU time idle over `ms` (all cores). */
export async function idleFraction(ms: number): Promise<number> {
  const a = await cpuTimes();
  await sleep(ms);
  const b = await cpuTimes();
  const total = b.total - a.total;
  return total > 0 ? (b.idle - a.idle) / total : 1;
}

/**
 * Waits (up to `maxMs`) until the machine is at least `threshold` idle over 250 ms: the kernel
 * finishes tearing down deleted namespaces in the background, and other work may be running.
 * Returns the last idle fraction seen, which the report keeps next to each sample.
 */
export async function waitQuiet(threshold: number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  let idle = await idleFraction(250);
  while (idle < threshold && Date.now() < deadline) idle = await idleFraction(250);
  return idle;
}

export async function loadAverage(): Promise<[number, number, number]> {
  const [a = 0, b = 0, c = 0] = (await readFile('/proc/loadavg', 'utf8')).split(' ').map(Number);
  return [a, b, c];
}
