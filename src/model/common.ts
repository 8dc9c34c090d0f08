import { Type, type Static } from '@sinclair/typebox';
import { StringEnum, Timestamp } from './schema-types.js';

export const API_GROUP = 'gatehouse.dev';
export const API_VERSION_NAME = 'v1alpha1';
export const API_VERSION = `${API_GROUP}/${API_VERSION_NAME}`;

/** Field manager Gatehouse writes with, so its fields are told apart from the user's. */
export const FIELD_MANAGER = 'gatehouse';

/** Finalizer that holds an object until its rows in the identity store are cleaned up. */
export const STORE_FINALIZER = 'gatehouse.dev/identity-store';
/**
 * The Kubernetes user who last changed an object's spec, stamped by the
 * mutating webhook and refused by the validating webhook from anyone else;
 * the reconciler records it as the actor in the audit log.
 */
export const CHANGED_BY_ANNOTATION = 'gatehouse.dev/changed-by';

export const ConditionStatusValues = ['True', 'False', 'Unknown'] as const;

/** A condition shaped like metav1.Condition. */
export const ConditionSchema = Type.Object(
  {
    type: Type.String({
      description: 'Type of condition in CamelCase, for example Ready.',
      minLength: 1,
      maxLength: 316,
    }),
    status: StringEnum(ConditionStatusValues, { description: 'Status of the condition: True, False or Unknown.' }),
    observedGeneration: Type.Optional(
      Type.Integer({
        description: 'metadata.generation of the object this condition was computed from.',
        minimum: 0,
      }),
    ),
    lastTransitionTime: Timestamp({
      description: 'Last time the condition changed status (not reason or message).',
    }),
    reason: Type.String({
      description: 'CamelCase reason for the last transition; rule ids and event reasons share these names.',
      minLength: 1,
      maxLength: 1024,
    }),
    message: Type.String({
      description: 'Human-readable explanation, saying what to do when something is wrong.',
      maxLength: 32768,
    }),
  },
  { description: 'One aspect of the object\'s current state.' },
);
export type Condition = Static<typeof ConditionSchema>;
export type ConditionStatus = Condition['status'];

export function Conditions() {
  return Type.Array(ConditionSchema, {
    description: 'Current state of the object, one entry per condition type. Ready summarises the others.',
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
    maxItems: 16,
  });
}

export function ObservedGeneration() {
  return Type.Integer({
    description: 'metadata.generation that this status was computed from.',
    minimum: 0,
  });
}

export const DeletionPolicyValues = ['Delete', 'Orphan'] as const;
export type DeletionPolicy = (typeof DeletionPolicyValues)[number];

export function DeletionPolicyField() {
  return Type.Optional(
    StringEnum(DeletionPolicyValues, {
      description:
        'What happens in the identity store when this object is deleted or removed from its source: Delete removes the record (and with it all access), Orphan leaves the record as it is.',
      default: 'Delete',
    }),
  );
}

/** The part of metav1.ObjectMeta that Gatehouse reads and writes. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  managedFields?: unknown[];
  ownerReferences?: unknown[];
}

/** Metadata checked on documents read from files (the API server checks it in a cluster). */
export const ObjectMetaSchema = Type.Object(
  {
    name: Type.String({
      description: 'Object name: a DNS-1123 subdomain.',
      minLength: 1,
      maxLength: 253,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
    }),
    namespace: Type.Optional(
      Type.String({
        description: 'Namespace: a DNS-1123 label.',
        minLength: 1,
        maxLength: 63,
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
      }),
    ),
  },
  { description: 'Standard object metadata.', additionalProperties: true },
);
