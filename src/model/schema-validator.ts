// ajv, set up to read the same schemas the CRDs are generated from.
//
// Compiling the schemas is the largest part of a `gatehouse validate` run, so
// the build compiles them once into plain functions (scripts/build.mjs, ajv's
// standalone code) and the packaged CLI registers those; ajv itself is then
// loaded only when a schema without a precompiled function is compiled.
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { schemaFormats } from './formats.js';
import { INSTANT_HINT } from './time.js';

export interface SchemaProblem {
  /** Field path in Kubernetes style: spec.permissions[2]. Empty for the root. */
  path: string;
  message: string;
  /** ajv keyword that failed (required, enum, pattern, additionalProperties, ...). */
  keyword: string;
}

/** The ajv every schema is compiled with; `extra` adds build-time options (standalone code). */
export function newAjv(extra: Options = {}): Ajv {
  // ajv is CommonJS: require keeps its loading synchronous and on demand.
  const require = createRequire(import.meta.url);
  const { Ajv: AjvClass } = require('ajv') as typeof import('ajv');
  const ajv = new AjvClass({ allErrors: true, strict: true, useDefaults: false, allowUnionTypes: false, formats: { ...schemaFormats }, ...extra });
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

let sharedAjv: Ajv | undefined;
let precompiled: Readonly<Record<string, ValidateFunction>> = {};

/** Registers validation functions compiled at build time, by schema name (Workspace, Profile, ...). */
export function usePrecompiledValidators(validators: Readonly<Record<string, ValidateFunction>>): void {
  precompiled = validators;
}

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

/**
 * Compiles a schema into a function that lists every problem with a value.
 * A `name` lets a function precompiled from the same schema stand in for the compile.
 */
export function compileSchema(schema: TSchema | Record<string, unknown>, name?: string): SchemaCheck {
  const validate = (name === undefined ? undefined : precompiled[name]) ?? (sharedAjv ??= newAjv()).compile(schema as object);
  return (data) => {
    if (validate(data)) return [];
    return (validate.errors ?? []).map(describe);
  };
}
