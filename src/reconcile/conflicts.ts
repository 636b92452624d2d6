import path from 'node:path';
import { WeftError } from '../errors.js';
import { ETC_NETNS, fileNames } from '../providers/index.js';
import type { Observation } from '../providers/index.js';
import type { KernelState, LinkEntry } from '../state/types.js';
import { HOST } from '../state/types.js';

/** weft wants to create an object whose name is taken by something it does not own. */
export class ConflictError extends WeftError {
  readonly conflicts: readonly string[];
  constructor(conflicts: readonly string[]) {
    super('CONFLICT', `names taken by objects weft does not own (it never changes those):\n${conflicts.map((c) => `  ${c}`).join('\n')}`);
    this.name = 'ConflictError';
    this.conflicts = conflicts;
  }
}

/**
 * Desired namespaces and links whose names are already taken by foreign objects. Pure: found
 * before anything is written, so a clash fails the apply cleanly instead of halfway.
 */
export function findConflicts(observation: Observation, observed: KernelState, desired: KernelState): string[] {
  const out: string[] = [];
  const ownedDirs = new Set(Object.values(observed.files).map((f) => path.dirname(f.path)));
  for (const [id, ns] of Object.entries(desired.netns)) {
    if (!observed.netns[id] && observation.netnsNames.has(ns.name)) {
      out.push(`namespace ${ns.name} (for container ${ns.owner.name}) exists and is not weft's; delete it or rename the container`);
    }
    // `ip netns exec` mounts this folder over the container's /etc: files weft did not write
    // there are not weft's to replace (an empty folder is harmless and used).
    const dir = `${ETC_NETNS}/${ns.name}`;
    if (!observation.etcNetnsDirs.includes(ns.name) || ownedDirs.has(dir)) continue;
    if (fileNames.some((f) => typeof observation.files.get(`${dir}/${f}`) === 'string')) {
      out.push(`folder ${dir} (for container ${ns.owner.name}) holds files weft did not write; move them away or rename the container`);
    }
  }
  for (const [id, link] of Object.entries(desired.links) as [string, LinkEntry][]) {
    if (observed.links[id] || link.kind === 'veth-peer' || link.kind === 'loopback') continue;
    const snap = link.ns === HOST ? observation.hostSnapshot : observation.namespaces.get(link.ns);
    if (snap?.links.some((l) => l.name === link.name)) {
      const hint = link.kind === 'bridge' ? `set com.docker.network.bridge.name on network ${link.owner.name}, or remove that link` : 'remove that link';
      out.push(`${link.kind} ${link.name}${link.ns === HOST ? '' : ` in ${link.ns}`} (for ${link.owner.kind} ${link.owner.name}) exists and is not weft's; ${hint}`);
    }
  }
  return out;
}
