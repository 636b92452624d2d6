/**
 * nftables' JSON format (libnftables-json(5)), typed: the part weft writes with `nft -j -f` and
 * reads back from `nft -j list table`. Written against nft 1.0.6, whose JSON has gaps (see
 * specs/firewall.md): maps with concatenated data cannot be created, so weft never uses them.
 * Pure types; no npm package describes this format.
 */

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';
export type NftChainType = 'filter' | 'nat' | 'route';
export type NftHook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress' | 'egress';
export type NftPolicy = 'accept' | 'drop';

/** Data types of set keys and map values (nft describe shows the full list). */
export type NftDataType =
  | 'ifname'
  | 'ipv4_addr'
  | 'ipv6_addr'
  | 'inet_proto'
  | 'inet_service'
  | 'ether_addr'
  | 'mark'
  | 'verdict';

export type NftSetFlag = 'constant' | 'interval' | 'timeout' | 'dynamic';

// ---- expressions ----

export type NftMetaKey = 'iifname' | 'oifname' | 'iif' | 'oif' | 'l4proto' | 'nfproto' | 'protocol' | 'mark' | 'pkttype';
export type NftCtKey = 'state' | 'status' | 'mark' | 'direction' | 'l3proto' | 'protocol';
export type NftFibFlag = 'saddr' | 'daddr' | 'mark' | 'iif' | 'oif';

/** A value: a string (names, addresses, symbolic constants such as "tcp"), a number, or "@set". */
export type NftImmediate = string | number | boolean;

export type NftExpr =
  | NftImmediate
  | { concat: NftExpr[] }
  | { set: NftExpr[] }
  | { prefix: { addr: string; len: number } }
  | { range: [NftExpr, NftExpr] }
  | { payload: { protocol: string; field: string } }
  | { meta: { key: NftMetaKey } }
  | { ct: { key: NftCtKey; dir?: 'original' | 'reply' } }
  | { fib: { result: 'oif' | 'oifname' | 'type'; flags: NftFibFlag[] } }
  | { map: { key: NftExpr; data: NftExpr } }
  | { '&': [NftExpr, NftExpr] }
  | { '|': [NftExpr, NftExpr] }
  /** A set element with attributes (weft tags elements with a comment naming their owner). */
  | { elem: { val: NftExpr; comment?: string; timeout?: number; expires?: number } };

/** Relational operators; "in" tests flags, "!" is how nft prints a negated flag test. */
export type NftOp = '==' | '!=' | '<' | '>' | '<=' | '>=' | 'in' | '!';

export interface NftNat {
  family?: 'ip' | 'ip6';
  addr?: NftExpr;
  port?: NftExpr;
  flags?: string[];
}

export type NftStatement =
  | { match: { op: NftOp; left: NftExpr; right: NftExpr } }
  | { counter: null | { packets: number; bytes: number } }
  | { accept: null }
  | { drop: null }
  | { return: null }
  | { continue: null }
  | { jump: { target: string } }
  | { goto: { target: string } }
  | { vmap: { key: NftExpr; data: NftExpr } }
  | { masquerade: null | { port?: NftExpr; flags?: string[] } }
  | { snat: NftNat }
  | { dnat: NftNat }
  | { redirect: null | { port?: NftExpr } }
  | { log: null | { prefix?: string; level?: string } }
  | { notrack: null };

// ---- objects ----

export interface NftTable {
  family: NftFamily;
  name: string;
  handle?: number;
}

export interface NftChain {
  family: NftFamily;
  table: string;
  name: string;
  handle?: number;
  /** Base chains only. */
  type?: NftChainType;
  hook?: NftHook;
  prio?: number;
  policy?: NftPolicy;
}

/** A set element as the JSON carries it: the key, or [key, value] in a map. */
export type NftSetElem = NftExpr | [NftExpr, NftExpr];

export interface NftSet {
  family: NftFamily;
  table: string;
  name: string;
  handle?: number;
  /** One type, or several for a concatenation. */
  type: NftDataType | NftDataType[];
  flags?: NftSetFlag[];
  elem?: NftSetElem[];
}

export interface NftMap extends NftSet {
  /** The value type. nft 1.0.6 cannot create a map with concatenated values from JSON. */
  map: NftDataType;
}

export interface NftRule {
  family: NftFamily;
  table: string;
  chain: string;
  handle?: number;
  comment?: string;
  expr: NftStatement[];
}

/** Elements added to or deleted from a set or map. */
export interface NftElements {
  family: NftFamily;
  table: string;
  /** The set's or map's name. */
  name: string;
  elem: NftSetElem[];
}

export type NftObject =
  | { table: NftTable }
  | { chain: NftChain }
  | { set: NftSet }
  | { map: NftMap }
  | { rule: NftRule }
  | { element: NftElements };

/** Names an existing table. */
export interface NftTableName {
  family: NftFamily;
  name: string;
}

/** Names an existing chain, set or map. */
export interface NftObjectName {
  family: NftFamily;
  table: string;
  name: string;
}

/** Names an existing rule: rules have no name, only a handle. */
export interface NftRuleHandle {
  family: NftFamily;
  table: string;
  chain: string;
  handle: number;
}

/** One command of a `nft -j -f` transaction. */
export type NftCommand =
  | { add: NftObject }
  | {
      delete:
        | { table: NftTableName }
        | { chain: NftObjectName }
        | { set: NftObjectName }
        | { map: NftObjectName }
        | { element: NftElements }
        | { rule: NftRuleHandle };
    }
  | { flush: { chain: NftObjectName } | { set: NftObjectName } | { map: NftObjectName } };

/** One object of `nft -j list table` output (metainfo already dropped by the kernel layer). */
export type NftListed = { table: NftTable } | { chain: NftChain } | { set: NftSet } | { map: NftMap } | { rule: NftRule };
