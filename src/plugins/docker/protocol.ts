import { parseCidr, parseIp } from '../../net/cidr.js';
import { isValidIfname } from '../../net/ids.js';

/**
 * The JSON of Docker's plugin protocols (libnetwork's remote driver and IPAM driver APIs), and
 * the checks every answer passes before weft uses it. Field names are Docker's, exactly. Pure.
 */

/** Docker passes a network's `--opt` map under this key of `Options`. */
export const GENERIC_OPTIONS = 'com.docker.network.generic';

export interface IpamData {
  AddressSpace: string;
  /** CIDR */
  Pool: string;
  /** CIDR form (address/prefix), as Docker sends it */
  Gateway?: string;
  AuxAddresses?: Record<string, string>;
}

export interface CreateNetworkRequest {
  NetworkID: string;
  Options: Record<string, unknown>;
  IPv4Data: IpamData[];
  IPv6Data: IpamData[];
}

export interface EndpointInterface {
  /** CIDR */
  Address?: string;
  AddressIPv6?: string;
  MacAddress?: string;
}

export interface CreateEndpointRequest {
  NetworkID: string;
  EndpointID: string;
  Options: Record<string, unknown>;
  Interface: EndpointInterface;
}

export interface JoinRequest {
  NetworkID: string;
  EndpointID: string;
  SandboxKey: string;
  Options: Record<string, unknown>;
}

export interface StaticRoute {
  Destination: string;
  /** 0: via NextHop; 1: connected */
  RouteType: 0 | 1;
  NextHop?: string;
}

export interface JoinAnswer {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway?: string;
  GatewayIPv6?: string;
  StaticRoutes: StaticRoute[];
  DisableGatewayService: boolean;
}

export interface Capabilities {
  Scope: 'local' | 'global';
  ConnectivityScope?: 'local' | 'global';
}

/** A check that failed: what in the answer is wrong. */
export class AnswerError extends Error {}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AnswerError(`${what} is not a JSON object`);
  return v as Obj;
}

/** An optional string: absent, null and "" are all "not given". */
function optString(o: Obj, key: string, max = 256): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new AnswerError(`"${key}" is not a string`);
  if (v.length > max) throw new AnswerError(`"${key}" is longer than ${max} characters`);
  return v;
}

function reqString(o: Obj, key: string, max = 256): string {
  const v = optString(o, key, max);
  if (v === undefined) throw new AnswerError(`"${key}" is missing`);
  return v;
}

function checkCidr(key: string, v: string | undefined, family?: 4 | 6): string | undefined {
  if (v === undefined) return undefined;
  const c = parseCidr(v);
  if (!c || (family !== undefined && c.family !== family)) throw new AnswerError(`"${key}" ${JSON.stringify(v)} is not an IPv${family ?? ''} CIDR`);
  return v;
}

function checkIp(key: string, v: string | undefined, family?: 4 | 6): string | undefined {
  if (v === undefined) return undefined;
  const ip = parseIp(v);
  if (!ip || (family !== undefined && ip.family !== family)) throw new AnswerError(`"${key}" ${JSON.stringify(v)} is not an IPv${family ?? ''} address`);
  return v;
}

const MAC = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;

/** Plugin.Activate: {"Implements": [...]} */
export function readActivate(body: unknown): string[] {
  const o = obj(body, 'the answer');
  const impl = o['Implements'];
  if (!Array.isArray(impl) || impl.length > 32 || !impl.every((s): s is string => typeof s === 'string' && s.length <= 64)) {
    throw new AnswerError('"Implements" is not a list of names');
  }
  return impl;
}

/** NetworkDriver.GetCapabilities: {"Scope": "local"|"global", "ConnectivityScope"?} */
export function readCapabilities(body: unknown): Capabilities {
  const o = obj(body, 'the answer');
  const scope = reqString(o, 'Scope');
  if (scope !== 'local' && scope !== 'global') throw new AnswerError(`"Scope" ${JSON.stringify(scope)} is neither "local" nor "global"`);
  const conn = optString(o, 'ConnectivityScope');
  if (conn !== undefined && conn !== 'local' && conn !== 'global') throw new AnswerError(`"ConnectivityScope" ${JSON.stringify(conn)} is neither "local" nor "global"`);
  return { Scope: scope, ...(conn ? { ConnectivityScope: conn } : {}) };
}

/** An answer that carries nothing: any JSON object (CreateNetwork, DeleteEndpoint, Leave, ...). */
export function readEmpty(body: unknown): void {
  obj(body, 'the answer');
}

/** CreateEndpoint: {"Interface": {...}} with what the driver chose, or nothing (null or {}). */
export function readCreateEndpoint(body: unknown): EndpointInterface | undefined {
  const o = obj(body, 'the answer');
  if (o['Interface'] === undefined || o['Interface'] === null) return undefined;
  const i = obj(o['Interface'], '"Interface"');
  const Address = checkCidr('Interface.Address', optString(i, 'Address'), 4);
  const AddressIPv6 = checkCidr('Interface.AddressIPv6', optString(i, 'AddressIPv6'), 6);
  const MacAddress = optString(i, 'MacAddress');
  if (MacAddress !== undefined && !MAC.test(MacAddress)) throw new AnswerError(`"Interface.MacAddress" ${JSON.stringify(MacAddress)} is not a MAC address`);
  if (Address === undefined && AddressIPv6 === undefined && MacAddress === undefined) return undefined;
  return { ...(Address ? { Address } : {}), ...(AddressIPv6 ? { AddressIPv6 } : {}), ...(MacAddress ? { MacAddress } : {}) };
}

/** Join: the interface to move in, gateways and static routes. */
export function readJoin(body: unknown): JoinAnswer {
  const o = obj(body, 'the answer');
  const names = obj(o['InterfaceName'], '"InterfaceName"');
  const SrcName = reqString(names, 'SrcName', 64);
  if (!isValidIfname(SrcName)) throw new AnswerError(`"InterfaceName.SrcName" ${JSON.stringify(SrcName)} is not an interface name`);
  const DstPrefix = reqString(names, 'DstPrefix', 64);
  // The prefix plus an index must still be an interface name (at most 15 bytes).
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,12}$/.test(DstPrefix)) throw new AnswerError(`"InterfaceName.DstPrefix" ${JSON.stringify(DstPrefix)} is not an interface name prefix (a letter, then at most 12 letters, digits, "_" or "-")`);
  const Gateway = checkIp('Gateway', optString(o, 'Gateway'), 4);
  const GatewayIPv6 = checkIp('GatewayIPv6', optString(o, 'GatewayIPv6'), 6);
  const routes = o['StaticRoutes'];
  if (routes !== undefined && routes !== null && (!Array.isArray(routes) || routes.length > 256)) throw new AnswerError('"StaticRoutes" is not a list (of at most 256 routes)');
  const StaticRoutes = ((routes ?? []) as unknown[]).map((r, i) => readRoute(r, i));
  const dgs = o['DisableGatewayService'];
  if (dgs !== undefined && dgs !== null && typeof dgs !== 'boolean') throw new AnswerError('"DisableGatewayService" is not true or false');
  return {
    InterfaceName: { SrcName, DstPrefix },
    ...(Gateway ? { Gateway } : {}),
    ...(GatewayIPv6 ? { GatewayIPv6 } : {}),
    StaticRoutes,
    DisableGatewayService: dgs === true,
  };
}

function readRoute(r: unknown, i: number): StaticRoute {
  const o = obj(r, `"StaticRoutes[${i}]"`);
  const Destination = checkCidr(`StaticRoutes[${i}].Destination`, reqString(o, 'Destination'))!;
  const type = o['RouteType'] ?? 0;
  if (type !== 0 && type !== 1) throw new AnswerError(`"StaticRoutes[${i}].RouteType" is neither 0 (next hop) nor 1 (connected)`);
  const NextHop = checkIp(`StaticRoutes[${i}].NextHop`, optString(o, 'NextHop'), parseCidr(Destination)!.family);
  if (type === 0 && NextHop === undefined) throw new AnswerError(`"StaticRoutes[${i}]" has RouteType 0 but no "NextHop"`);
  return { Destination, RouteType: type, ...(type === 0 && NextHop ? { NextHop } : {}) };
}

/** EndpointOperInfo: {"Value": {...}} (any map; kept for `network inspect`, capped in size by the transport). */
export function readOperInfo(body: unknown): Record<string, unknown> {
  const o = obj(body, 'the answer');
  if (o['Value'] === undefined || o['Value'] === null) return {};
  return obj(o['Value'], '"Value"');
}

// --- IpamDriver ---

export interface AddressSpaces {
  LocalDefaultAddressSpace: string;
  GlobalDefaultAddressSpace: string;
}

export interface RequestPoolRequest {
  AddressSpace: string;
  Pool: string;
  SubPool: string;
  Options: Record<string, string>;
  V6: boolean;
}

export interface PoolAnswer {
  PoolID: string;
  /** CIDR */
  Pool: string;
  Data: Record<string, string>;
}

export interface RequestAddressRequest {
  PoolID: string;
  Address: string;
  Options: Record<string, string>;
}

export function readAddressSpaces(body: unknown): AddressSpaces {
  const o = obj(body, 'the answer');
  return { LocalDefaultAddressSpace: reqString(o, 'LocalDefaultAddressSpace'), GlobalDefaultAddressSpace: reqString(o, 'GlobalDefaultAddressSpace') };
}

export function readPool(body: unknown, v6: boolean): PoolAnswer {
  const o = obj(body, 'the answer');
  const PoolID = reqString(o, 'PoolID');
  const Pool = checkCidr('Pool', reqString(o, 'Pool'), v6 ? 6 : 4)!;
  return { PoolID, Pool, Data: stringMap(o['Data'], 'Data') };
}

/** RequestAddress: {"Address": "ip/prefix"} */
export function readAddress(body: unknown): string {
  const o = obj(body, 'the answer');
  return checkCidr('Address', reqString(o, 'Address'))!;
}

function stringMap(v: unknown, key: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  const o = obj(v, `"${key}"`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string') throw new AnswerError(`"${key}.${k}" is not a string`);
    out[k] = val;
  }
  return out;
}
