// The resources the fake API server serves. Generic: anything registered here
// gets list, watch, get, create, update, patch and delete.
import { API_GROUP, API_VERSION_NAME, KINDS, KIND_NAMES, checkObjectSchema, type Kind } from '../../../src/model/index.js';

export interface FieldCause {
  reason: string;
  message: string;
  field: string;
}

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  hasStatusSubresource: boolean;
  /** Custom resources (CRDs) refuse strategic merge patch with 415, as the real server does. */
  custom: boolean;
  shortNames?: string[];
  /** Schema check run on create and update: problems become a 422 Invalid. */
  validate?: (obj: unknown) => FieldCause[];
  /** Fills in schema defaults (structural defaulting), before validation, as the real server does. */
  applyDefaults?: (obj: Record<string, unknown>) => void;
}

type SchemaNode = { properties?: Record<string, SchemaNode>; items?: SchemaNode; default?: unknown };

/** Structural defaulting: an absent field with a default gets it, inside objects that are present. */
export function defaultFromSchema(schema: SchemaNode, value: unknown): void {
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) defaultFromSchema(schema.items, item);
    return;
  }
  if (typeof value !== 'object' || value === null || schema.properties === undefined) return;
  const record = value as Record<string, unknown>;
  for (const [key, sub] of Object.entries(schema.properties)) {
    if (record[key] === undefined && sub.default !== undefined) record[key] = structuredClone(sub.default);
    if (record[key] !== undefined) defaultFromSchema(sub, record[key]);
  }
}

export function apiVersionOf(resource: Pick<ResourceType, 'group' | 'version'>): string {
  return resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
}

export function resourceKey(resource: Pick<ResourceType, 'group' | 'plural'>): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
}

function gatehouseResource(kind: Kind): ResourceType {
  const info = KINDS[kind];
  return {
    group: API_GROUP,
    version: API_VERSION_NAME,
    plural: info.plural,
    singular: info.singular,
    kind,
    listKind: info.listKind,
    namespaced: true,
    hasStatusSubresource: true,
    custom: true,
    shortNames: info.shortNames,
    applyDefaults: (obj) => defaultFromSchema(info.specSchema as SchemaNode, obj.spec),
    validate: (obj) =>
      checkObjectSchema(kind, obj).map((problem) => ({
        reason: problem.keyword === 'required' ? 'FieldValueRequired' : 'FieldValueInvalid',
        message: problem.message,
        field: problem.path,
      })),
  };
}

function builtin(
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  hasStatusSubresource = false,
): ResourceType {
  return {
    group,
    version,
    plural,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced,
    hasStatusSubresource,
    custom: false,
  };
}

/** Everything the operator, the webhook and their tests touch. */
export function defaultResources(): ResourceType[] {
  return [
    ...KIND_NAMES.map(gatehouseResource),
    builtin('coordination.k8s.io', 'v1', 'Lease', 'leases', true),
    builtin('events.k8s.io', 'v1', 'Event', 'events', true),
    builtin('', 'v1', 'Event', 'events', true),
    builtin('', 'v1', 'Secret', 'secrets', true),
    builtin('', 'v1', 'Namespace', 'namespaces', false, true),
    builtin('admissionregistration.k8s.io', 'v1', 'ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', false),
    builtin('admissionregistration.k8s.io', 'v1', 'MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', false),
    builtin('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions', false, true),
  ];
}
