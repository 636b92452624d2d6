/**
 * JSON Schemas for the manifest kinds. Structure only (fields, types, shapes); cross-object rules
 * (references, overlaps, duplicates) live in src/model/rules.
 */

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const optionMap = { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } } as const;
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
    subnet: { type: 'string' },
    gateway: { type: 'string' },
    ipRange: { type: 'string' },
    auxAddresses: stringMap,
  },
} as const;

export const networkSchema = doc(
  'Network',
  {
    type: 'object',
    additionalProperties: false,
    properties: {
      driver: { type: 'string', minLength: 1 },
      internal: { type: 'boolean' },
      enableIPv6: { type: 'boolean' },
      attachable: { type: 'boolean' },
      ipam: {
        type: 'object',
        additionalProperties: false,
        properties: {
          driver: { type: 'string' },
          config: { type: 'array', items: ipamPool },
          options: optionMap,
        },
      },
      options: optionMap,
    },
  },
  false,
);

const endpoint = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    ipv4Address: { type: 'string' },
    ipv6Address: { type: 'string' },
    aliases: stringList,
    links: stringList,
    macAddress: { type: 'string' },
  },
} as const;

export const containerSchema = doc(
  'Container',
  {
    type: 'object',
    additionalProperties: false,
    properties: {
      host: { type: 'string', minLength: 1 },
      netns: { type: 'string', minLength: 1 },
      hostname: { type: 'string', minLength: 1 },
      networks: {
        anyOf: [stringList, { type: 'object', additionalProperties: endpoint }],
      },
      ports: { type: 'array', items: { type: ['string', 'number'] } },
      dns: {
        type: 'object',
        additionalProperties: false,
        properties: { servers: stringList, search: stringList, options: stringList },
      },
      extraHosts: stringList,
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
    properties: { address: { type: 'string' } },
  },
  true,
);

export const kinds = { Network: networkSchema, Container: containerSchema, Host: hostSchema } as const;
export type KindName = keyof typeof kinds;
