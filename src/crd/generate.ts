// CustomResourceDefinitions generated from the model: the TypeBox schemas that
// give the TypeScript types and the validator also give the API server its
// structural schema, so the three cannot drift apart.
import { API_GROUP, API_VERSION_NAME } from '../model/common.js';
import { KINDS, KIND_NAMES, type Kind } from '../model/kinds.js';
import { lintCustomResourceDefinition } from './lint.js';

export type JsonSchema = { [keyword: string]: unknown };

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: 'Namespaced';
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: Array<{ name: string; type: string; jsonPath: string; description: string; priority?: number }>;
      schema: { openAPIV3Schema: JsonSchema };
    }>;
  };
}

/** `kubectl get gatehouse` lists every Gatehouse object. */
export const CRD_CATEGORY = 'gatehouse';

export const GATEHOUSE_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': 'gatehouse',
  'app.kubernetes.io/part-of': 'gatehouse',
};

export class CrdGenerationError extends Error {
  constructor(
    readonly kind: string,
    readonly problems: string[],
  ) {
    super(`cannot generate the ${kind} CustomResourceDefinition:\n  ${problems.join('\n  ')}`);
    this.name = 'CrdGenerationError';
  }
}

/**
 * Keywords copied into the structural schema, in the order they are written
 * (so the YAML reads top-down: what it is, constraints, then children, then
 * Kubernetes extensions).
 */
const KEPT_KEYWORDS = [
  'description',
  'type',
  'format',
  'enum',
  'default',
  'nullable',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'items',
  'properties',
  'additionalProperties',
  'required',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-validations',
] as const;

/** TypeBox bookkeeping with no meaning to the API server. */
const DROPPED_KEYWORDS = new Set(['$id']);

const CEL_RULE_KEYS = ['rule', 'message', 'messageExpression', 'reason', 'fieldPath', 'optionalOldSelf'] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Converts a TypeBox schema into a Kubernetes structural schema: TypeBox's
 * symbol keys and $id go, a boolean additionalProperties goes (the API server
 * prunes unknown fields), everything else is kept when the API server knows
 * it. Keywords it cannot represent (anyOf, const, patternProperties, $ref...)
 * and fields without a description are errors naming the path: they come from
 * a model change that needs fixing, not from something to paper over here.
 */
export function toStructuralSchema(schema: unknown, path: string): JsonSchema {
  const problems: string[] = [];
  const result = convert(schema, path, problems);
  if (problems.length > 0) throw new CrdGenerationError(path, problems);
  return result;
}

function convert(schema: unknown, path: string, problems: string[]): JsonSchema {
  if (!isPlainObject(schema)) {
    problems.push(`${path}: expected a schema object`);
    return {};
  }
  for (const key of Object.keys(schema)) {
    if (!DROPPED_KEYWORDS.has(key) && !(KEPT_KEYWORDS as readonly string[]).includes(key)) {
      problems.push(
        `${path}: keyword "${key}" cannot be expressed in a CRD structural schema; use the structural building blocks in src/model/schema-types.ts (StringEnum for literal unions, StringMap for records)`,
      );
    }
  }
  if (typeof schema.description !== 'string' || schema.description.trim() === '') {
    problems.push(`${path}: description is missing; add one in the model so \`kubectl explain\` teaches this field`);
  }

  const out: JsonSchema = {};
  for (const key of KEPT_KEYWORDS) {
    if (!(key in schema)) continue;
    const value = schema[key];
    switch (key) {
      case 'properties': {
        if (!isPlainObject(value)) {
          problems.push(`${path}: properties must be an object`);
          break;
        }
        out.properties = Object.fromEntries(
          Object.entries(value).map(([name, sub]) => [name, convert(sub, `${path}.${name}`, problems)]),
        );
        break;
      }
      case 'items':
        out.items = convert(value, `${path}[*]`, problems);
        break;
      case 'additionalProperties':
        // Only a map's value schema survives; `true`/`false` have no structural meaning.
        if (isPlainObject(value)) out.additionalProperties = convert(value, `${path}.*`, problems);
        break;
      case 'x-kubernetes-validations':
        out[key] = Array.isArray(value) ? value.map((rule) => orderRule(rule)) : value;
        break;
      default:
        out[key] = structuredClone(value);
    }
  }
  return out;
}

function orderRule(rule: unknown): unknown {
  if (!isPlainObject(rule)) return rule;
  const ordered: Record<string, unknown> = {};
  for (const key of CEL_RULE_KEYS) if (key in rule) ordered[key] = rule[key];
  for (const [key, value] of Object.entries(rule)) if (!(key in ordered)) ordered[key] = value;
  return ordered;
}

/** The CRD for one kind, checked by the lint; throws CrdGenerationError listing every problem. */
export function buildCustomResourceDefinition(kind: Kind): CustomResourceDefinition {
  const info = KINDS[kind];
  const problems: string[] = [];
  const convertPart = (schema: unknown, part: string): JsonSchema => {
    try {
      return toStructuralSchema(schema, `${kind}.${part}`);
    } catch (err) {
      if (err instanceof CrdGenerationError) {
        problems.push(...err.problems);
        return {};
      }
      throw err;
    }
  };
  const spec = convertPart(info.specSchema, 'spec');
  const status = convertPart(info.statusSchema, 'status');
  if (problems.length > 0) throw new CrdGenerationError(kind, problems);

  const crd: CustomResourceDefinition = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${API_GROUP}`, labels: { ...GATEHOUSE_LABELS } },
    spec: {
      group: API_GROUP,
      names: {
        kind: info.kind,
        listKind: info.listKind,
        plural: info.plural,
        singular: info.singular,
        shortNames: [...info.shortNames],
        categories: [CRD_CATEGORY],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: API_VERSION_NAME,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: info.printerColumns.map((column) => ({
            name: column.name,
            type: column.type,
            jsonPath: column.jsonPath,
            description: column.description,
            ...(column.priority !== undefined ? { priority: column.priority } : {}),
          })),
          schema: {
            openAPIV3Schema: {
              description: info.description,
              type: 'object',
              properties: {
                apiVersion: {
                  description: `Versioned schema of this object: ${API_GROUP}/${API_VERSION_NAME}.`,
                  type: 'string',
                },
                kind: { description: `Kind of this object: ${info.kind}.`, type: 'string' },
                // The API server owns ObjectMeta's schema; a CRD may only say it is an object.
                metadata: { type: 'object' },
                spec,
                status,
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
  const lint = lintCustomResourceDefinition(crd);
  if (lint.length > 0) throw new CrdGenerationError(kind, lint.map((p) => `${p.path}: ${p.message}`));
  return crd;
}

/** All four CRDs, in the order of KINDS. */
export function buildCustomResourceDefinitions(): CustomResourceDefinition[] {
  return KIND_NAMES.map((kind) => buildCustomResourceDefinition(kind));
}

/** Where a CRD is written: crds/<plural>.gatehouse.dev.yaml. */
export function crdFileName(kind: Kind): string {
  return `${KINDS[kind].plural}.${API_GROUP}.yaml`;
}
