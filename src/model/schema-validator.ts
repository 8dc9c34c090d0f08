// ajv, set up to read the same schemas the CRDs are generated from.
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { TSchema } from '@sinclair/typebox';
import { INSTANT_HINT, parseInstant } from './time.js';

// ajv-formats ships CommonJS with a default export that NodeNext sees as the module.
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

export interface SchemaProblem {
  /** Field path in Kubernetes style: spec.permissions[2]. Empty for the root. */
  path: string;
  message: string;
  /** ajv keyword that failed (required, enum, pattern, additionalProperties, ...). */
  keyword: string;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: false, allowUnionTypes: false });
  addFormats(ajv);
  // One reader of instants: the rules, the planner and --at use the same one.
  ajv.addFormat('date-time', { type: 'string', validate: (text: string) => parseInstant(text) !== undefined });
  for (const keyword of [
    'x-kubernetes-validations',
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-int-or-string',
    'x-kubernetes-embedded-resource',
    'x-kubernetes-map-type',
  ]) {
    ajv.addKeyword({ keyword });
  }
  return ajv;
}

const ajv = newAjv();

/** Converts ajv's JSON pointer (/spec/permissions/2) to a field path (spec.permissions[2]). */
export function pointerToFieldPath(pointer: string): string {
  if (pointer === '') return '';
  let path = '';
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^[0-9]+$/.test(part)) path += `[${part}]`;
    else path += path === '' ? part : `.${part}`;
  }
  return path;
}

function describe(error: ErrorObject): SchemaProblem {
  const base = pointerToFieldPath(error.instancePath);
  const join = (child: string) => (base === '' ? child : `${base}.${child}`);
  switch (error.keyword) {
    case 'required': {
      const missing = (error.params as { missingProperty: string }).missingProperty;
      return { path: join(missing), keyword: error.keyword, message: `required field is missing; add ${missing}` };
    }
    case 'additionalProperties': {
      const extra = (error.params as { additionalProperty: string }).additionalProperty;
      return {
        path: join(extra),
        keyword: error.keyword,
        message: `unknown field "${extra}"; check its spelling and indentation (kubectl explain shows the fields)`,
      };
    }
    case 'enum': {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
      return { path: base, keyword: error.keyword, message: `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}` };
    }
    case 'pattern':
      return { path: base, keyword: error.keyword, message: `has the wrong format (must match ${(error.params as { pattern: string }).pattern})` };
    case 'format': {
      const format = (error.params as { format: string }).format;
      if (format === 'date-time') return { path: base, keyword: error.keyword, message: `is not an RFC 3339 time; ${INSTANT_HINT}` };
      return { path: base, keyword: error.keyword, message: `must be a valid ${format}` };
    }
    default:
      return { path: base, keyword: error.keyword, message: error.message ?? 'is invalid' };
  }
}

/** Marks every object schema that lists its properties as closed, so unknown fields are reported. */
export function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = closeObjects(value);
  if (out.type === 'object' && out.properties !== undefined && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

export type SchemaCheck = (data: unknown) => SchemaProblem[];

/** Compiles a schema into a function that lists every problem with a value. */
export function compileSchema(schema: TSchema | Record<string, unknown>): SchemaCheck {
  const validate = ajv.compile(schema as object);
  return (data) => {
    if (validate(data)) return [];
    return (validate.errors ?? []).map(describe);
  };
}
