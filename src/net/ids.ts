import { createHash } from 'node:crypto';

/**
 * Stable identifiers and kernel names. Everything derives from names in the manifests, so every
 * host computes the same ids and a re-run computes the same names. Pure.
 */

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Docker-style 64-hex network id, stable for a network name. */
export function networkId(name: string): string {
  return sha256Hex(`weft:network:${name}`);
}

export function containerId(name: string): string {
  return sha256Hex(`weft:container:${name}`);
}

export function endpointId(container: string, network: string): string {
  return sha256Hex(`weft:endpoint:${container}:${network}`);
}

/** Bridge name for a user-defined network, as Docker names them: br-<12 hex of the id>. */
export function bridgeName(netId: string): string {
  return `br-${netId.slice(0, 12)}`;
}

/** Host-side veth name: "veth" + 7 hex, as Docker; hashed so any container name works. */
export function vethName(hostKey: string, container: string, network: string): string {
  return `veth${sha256Hex(`weft:veth:${hostKey}:${container}:${network}`).slice(0, 7)}`;
}

/** Docker's MAC for an IPv4 address: 02:42 followed by the four address bytes. */
export function macFromIpv4(value: bigint): string {
  const bytes = [0x02, 0x42, ...[24n, 16n, 8n, 0n].map((s) => Number((value >> s) & 255n))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The IPv4 address a Docker MAC (02:42 + four bytes) was made from, as "a.b.c.d"; undefined for any other MAC. */
export function ipv4FromMac(mac: string): string | undefined {
  const m = /^02:42:([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(mac);
  return m ? m.slice(1).map((h) => parseInt(h, 16)).join('.') : undefined;
}

/** A locally administered MAC from a seed, for endpoints without IPv4. */
export function macFromSeed(seed: string): string {
  const h = sha256Hex(`weft:mac:${seed}`);
  const bytes = [0x02, 0x42, ...[0, 2, 4, 6].map((i) => parseInt(h.slice(i, i + 2), 16))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Linux interface names: at most 15 bytes, no '/', ':', or white space, not "." or "..". */
export function isValidIfname(name: string): boolean {
  return /^[A-Za-z0-9_.@-]{1,15}$/.test(name) && name !== '.' && name !== '..';
}
