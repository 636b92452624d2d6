import { formats } from './formats.js';
import type { FormatName } from './formats.js';

/**
 * JSON Schemas for the manifest kinds. Structure (fields, types, shapes) and the text format of
 * every field that reaches the kernel, a file, a path or the network (formats.ts); cross-object
 * rules (references, overlaps, duplicates) live in src/model/rules.
 */

/** A string of one of the formats in formats.ts. */
const text = (f: FormatName) => ({ type: 'string', pattern: formats[f].pattern }) as const;
const list = (f: FormatName) => ({ type: 'array', items: text(f) }) as const;

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const optionMap = { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'], pattern: formats.optionValue.pattern } } as const;
const stringList = { type: 'array', items: { type: 'string' } } as const;

const metadata = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 },
    labels: stringMap,
    annotations: stringMap,
  },
} as const;

function doc(kind: string, spec: object, specRequired: boolean): object {
  return {
    type: 'object',
    required: specRequired ? ['apiVersion', 'kind', 'metadata', 'spec'] : ['apiVersion', 'kind', 'metadata'],
    additionalProperties: false,
    properties: {
      apiVersion: { const: 'weft/v1' },
      kind: { const: kind },
      metadata,
      spec,
    },
  };
}

const ipamPool = {
  type: 'object',
  additionalProperties: false,
  properties: {
    subnet: text('cidr'),
    gateway: text('gateway'),
    ipRange: text('cidr'),
    auxAddresses: { type: 'object', additionalProperties: text('ip') },
  },
} as const;

export const networkSchema = doc(
  'Network',
  {
    type: 'object',
    additionalProperties: false,
    properties: {
      driver: text('driver'),
      internal: { type: 'boolean' },
      enableIPv6: { type: 'boolean' },
      attachable: { type: 'boolean' },
      ipam: {
        type: 'object',
        additionalProperties: false,
        properties: {
          driver: text('driver'),
          config: { type: 'array', items: ipamPool },
          options: optionMap,
        },
      },
      options: optionMap,
      // CNI plugins (driver: cni): the configuration list inline, or the name of a .conflist file.
      // Its content is checked by the model rule cniNetworks (src/model/rules/cni.ts).
      cni: {
        type: 'object',
        additionalProperties: false,
        properties: { config: { type: 'object' }, conflist: text('cniConflist') },
      },
    },
  },
  false,
);

const endpoint = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    ipv4Address: text('ip'),
    ipv6Address: text('ip'),
    aliases: list('dnsName'),
    links: list('link'),
    macAddress: text('mac'),
  },
} as const;

export const containerSchema = doc(
  'Container',
  {
    type: 'object',
    additionalProperties: false,
    properties: {
      host: text('objectName'),
      netns: text('netns'),
      hostname: text('hostname'),
      networks: {
        anyOf: [stringList, { type: 'object', additionalProperties: endpoint }],
      },
      ports: { type: 'array', items: { type: ['string', 'number'], pattern: formats.port.pattern } },
      dns: {
        type: 'object',
        additionalProperties: false,
        properties: { servers: list('dnsServer'), search: list('dnsSearch'), options: list('dnsOption') },
      },
      extraHosts: list('extraHost'),
    },
  },
  false,
);

export const hostSchema = doc(
  'Host',
  {
    type: 'object',
    required: ['address'],
    additionalProperties: false,
    properties: { address: text('ip'), networks: list('objectName') },
  },
  true,
);

export const kinds = { Network: networkSchema, Container: containerSchema, Host: hostSchema } as const;
export type KindName = keyof typeof kinds;
