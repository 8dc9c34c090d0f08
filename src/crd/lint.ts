// Checks a CustomResourceDefinition's schema for what a Kubernetes API server
// rejects (or silently weakens) before it ever reaches one: structural-schema
// rules, the apiextensions validation of each keyword, list and map types,
// defaults, formats and the static side of CEL rules (syntax plausibility,
// transition rules, cost bounds). It mirrors k8s.io/apiextensions-apiserver's
// validation closely enough that a clean lint means the API server accepts
// the CRD; CEL type checking itself only happens on a real API server.
import { closeObjects, compileSchema } from '../model/schema-validator.js';

export interface LintProblem {
  /** Where in the schema: a field path such as Member.spec.permissions[*] (items) or .labels.* (map values). */
  path: string;
  /** What is wrong and how to fix it. */
  message: string;
}

type Schema = Record<string, unknown>;

/** Every field of apiextensions.k8s.io/v1 JSONSchemaProps; anything else is an unknown field. */
const SCHEMA_KEYWORDS = new Set([
  'id', '$schema', '$ref', 'description', 'type', 'format', 'title', 'default', 'maximum', 'exclusiveMaximum',
  'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems',
  'multipleOf', 'enum', 'maxProperties', 'minProperties', 'required', 'items', 'allOf', 'oneOf', 'anyOf', 'not',
  'properties', 'additionalProperties', 'patternProperties', 'dependencies', 'additionalItems', 'definitions',
  'externalDocs', 'example', 'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string', 'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);

/** Keywords JSONSchemaProps has but a CRD may not use, with the fix. */
const UNSUPPORTED_KEYWORDS: Record<string, string> = {
  id: 'id is not supported in a CRD schema; remove it',
  $schema: '$schema is not supported in a CRD schema; remove it',
  $ref: '$ref is not supported in a CRD schema; inline the referenced schema',
  definitions: 'definitions is not supported in a CRD schema; inline the schemas where they are used',
  dependencies: 'dependencies is not supported in a CRD schema; express the dependency as an x-kubernetes-validations rule',
  additionalItems: 'additionalItems is not supported in a CRD schema; use items with one schema',
  patternProperties: 'patternProperties is not supported in a CRD schema; use additionalProperties with a value schema for a map',
};

/** Keywords seen in JSON Schema documents that are not JSONSchemaProps fields, with the fix. */
const FOREIGN_KEYWORDS: Record<string, string> = {
  const: 'const is not supported in a CRD schema; use enum with a single value',
  $id: '$id is not supported in a CRD schema; remove it',
  $defs: '$defs is not supported in a CRD schema; inline the schemas where they are used',
  if: 'if/then/else is not supported in a CRD schema; use an x-kubernetes-validations rule',
  then: 'if/then/else is not supported in a CRD schema; use an x-kubernetes-validations rule',
  else: 'if/then/else is not supported in a CRD schema; use an x-kubernetes-validations rule',
  examples: 'examples is not a CRD schema field; use example (one value)',
  prefixItems: 'prefixItems (tuples) is not supported in a CRD schema; use items with one schema',
  unevaluatedProperties: 'unevaluatedProperties is not supported in a CRD schema; the API server prunes unknown fields',
  propertyNames: 'propertyNames is not supported in a CRD schema; use an x-kubernetes-validations rule on the map',
  contains: 'contains is not supported in a CRD schema; use an x-kubernetes-validations rule',
  readOnly: 'readOnly is not a CRD schema field; use an x-kubernetes-validations transition rule (self == oldSelf)',
  writeOnly: 'writeOnly is not a CRD schema field; remove it',
};

const JUNCTORS = ['allOf', 'anyOf', 'oneOf'] as const;

const OPENAPI_TYPES = new Set(['array', 'boolean', 'integer', 'number', 'object', 'string']);

/**
 * String formats the API server validates (k8s.io/apiextensions-apiserver
 * supportedFormats, compared without dashes). Any other format is silently
 * stripped, so the validation it promises would never happen.
 */
const STRING_FORMATS = new Set([
  'bsonobjectid', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'cidr', 'mac', 'uuid', 'uuid3', 'uuid4', 'uuid5',
  'isbn', 'isbn10', 'isbn13', 'creditcard', 'ssn', 'hexcolor', 'rgbcolor', 'byte', 'password', 'date', 'duration',
  'datetime',
]);
/** Numeric formats: informational only (no validation), but conventional and harmless. */
const NUMBER_FORMATS = new Set(['int32', 'int64', 'float', 'double']);
/** String formats CEL sees as typed, fixed-size values (timestamp, duration): no maxLength needed for cost. */
const BOUNDED_CEL_FORMATS = new Set(['date', 'date-time', 'duration']);

/** Fields allowed on the root of openAPIV3Schema (apiextensions allowedFieldsAtRootSchema). */
const ROOT_KEYWORDS = new Set([
  'description', 'type', 'format', 'title', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'multipleOf', 'required', 'items',
  'properties', 'externalDocs', 'example', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-validations',
]);

const CEL_REASONS = new Set(['FieldValueInvalid', 'FieldValueForbidden', 'FieldValueRequired', 'FieldValueDuplicate']);
const CEL_RULE_KEYS = new Set(['rule', 'message', 'messageExpression', 'reason', 'fieldPath', 'optionalOldSelf']);

type Level = 'root' | 'field' | 'item';

interface Context {
  level: Level;
  /** The node is the root of a resource: apiVersion, kind and metadata have special rules. */
  resourceRoot: boolean;
  /** Path of the list (or atomic map) whose old and new members cannot be matched; oldSelf is unusable below it. */
  uncorrelatableAt?: string;
  /** Path of an array or map without maxItems/maxProperties above this node: CEL cost multiplies without bound. */
  unboundedAt?: string;
  /** Why defaults are not allowed here, when they are not. */
  defaultsForbidden?: string;
}

export interface LintOptions {
  /** Treat the schema as a resource root (openAPIV3Schema). Default true. */
  resourceRoot?: boolean;
}

/** Lists every problem an API server would have with this CRD schema; empty when it is fine. */
export function lintStructuralSchema(schema: unknown, path = 'openAPIV3Schema', options: LintOptions = {}): LintProblem[] {
  const out: LintProblem[] = [];
  const resourceRoot = options.resourceRoot ?? true;
  lintNode(schema, path, { level: resourceRoot ? 'root' : 'field', resourceRoot }, out);
  return out;
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function child(path: string, name: string): string {
  if (!/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(name)) return `${path}[${JSON.stringify(name)}]`;
  return path === '' ? name : `${path}.${name}`;
}
const itemsPath = (path: string) => `${path}[*]`;
const valuesPath = (path: string) => `${path}.*`;

function lintNode(node: unknown, path: string, ctx: Context, out: LintProblem[]): void {
  const report = (message: string) => out.push({ path, message });
  if (!isSchema(node)) {
    report(`a schema must be an object, not ${JSON.stringify(node)}`);
    return;
  }

  lintKeywords(node, report);
  if (ctx.level === 'root') {
    for (const key of Object.keys(node)) {
      if (SCHEMA_KEYWORDS.has(key) && !ROOT_KEYWORDS.has(key) && !(key in UNSUPPORTED_KEYWORDS)) {
        report(`${key} is not allowed at the root of a CRD schema; move it into a field`);
      }
    }
  }

  const intOrString = node['x-kubernetes-int-or-string'] === true;
  const preserveUnknown = node['x-kubernetes-preserve-unknown-fields'] === true;
  const type = lintType(node, ctx, intOrString || preserveUnknown, report);

  if (ctx.level === 'root' && type !== undefined && type !== 'object') report('the root of a CRD schema must have type: object');

  if (typeof node.description !== 'string' || node.description.trim() === '') {
    report('description is missing; every field needs one so `kubectl explain` teaches the API');
  }

  lintFormat(node, type, report);
  lintEnum(node, type, report);
  lintPattern(node, report);
  lintBounds(node, type, report);
  lintNullable(node, report);
  lintDefault(node, ctx, report);

  // properties: structs.
  const properties = node.properties;
  if (properties !== undefined) {
    if (!isSchema(properties)) {
      report('properties must be a map from field name to schema');
    } else {
      if (type !== undefined && type !== 'object') report(`properties is only allowed with type: object (this node is type: ${type})`);
      const atomicMap = node['x-kubernetes-map-type'] === 'atomic';
      for (const [name, value] of Object.entries(properties)) {
        const fieldPath = child(path, name);
        if (ctx.resourceRoot && name === 'metadata') {
          lintResourceMetadata(value, fieldPath, out);
          continue;
        }
        if (ctx.resourceRoot && (name === 'apiVersion' || name === 'kind') && isSchema(value) && value.type !== 'string') {
          out.push({ path: fieldPath, message: `${name} must have type: string` });
        }
        lintNode(value, fieldPath, {
          level: 'field',
          resourceRoot: isSchema(value) && value['x-kubernetes-embedded-resource'] === true,
          uncorrelatableAt: ctx.uncorrelatableAt ?? (atomicMap ? path : undefined),
          unboundedAt: ctx.unboundedAt,
          defaultsForbidden: ctx.defaultsForbidden,
        }, out);
      }
    }
  }
  lintRequired(node, report);

  // additionalProperties: maps only.
  const additional = node.additionalProperties;
  if (additional !== undefined) {
    if (ctx.level === 'root') report('additionalProperties is not allowed at the root of a CRD schema');
    if (additional === false) {
      report('additionalProperties: false is not allowed; the API server prunes unknown fields, so leave it out');
    } else if (additional === true) {
      report('additionalProperties: true is not structural; use x-kubernetes-preserve-unknown-fields: true instead');
    } else if (!isSchema(additional)) {
      report('additionalProperties must be a schema (the type of the map\'s values)');
    } else {
      if (isSchema(properties) && Object.keys(properties).length > 0) {
        report('additionalProperties and properties are mutually exclusive: properties are for structs, additionalProperties for maps');
      }
      if (type !== undefined && type !== 'object') report('additionalProperties is only allowed with type: object');
      lintNode(additional, valuesPath(path), {
        level: 'field',
        resourceRoot: additional['x-kubernetes-embedded-resource'] === true,
        uncorrelatableAt: ctx.uncorrelatableAt,
        unboundedAt: ctx.unboundedAt ?? (typeof node.maxProperties === 'number' ? undefined : path),
        defaultsForbidden: ctx.defaultsForbidden,
      }, out);
    }
  }

  // items: lists.
  const items = node.items;
  if (items === undefined) {
    if (type === 'array') report('items is required for type: array (name the type of the list\'s members)');
  } else if (Array.isArray(items)) {
    report('items must be one schema, not an array of schemas (tuples are not supported)');
  } else if (!isSchema(items)) {
    report('items must be a schema');
  } else {
    if (type !== undefined && type !== 'array') report(`items is only allowed with type: array (this node is type: ${type})`);
    lintNode(items, itemsPath(path), {
      level: 'item',
      resourceRoot: items['x-kubernetes-embedded-resource'] === true,
      uncorrelatableAt: ctx.uncorrelatableAt ?? (node['x-kubernetes-list-type'] === 'map' ? undefined : path),
      unboundedAt: ctx.unboundedAt ?? (typeof node.maxItems === 'number' ? undefined : path),
      defaultsForbidden: ctx.defaultsForbidden,
    }, out);
  }

  // Logical junctors hold value validations only.
  for (const junctor of JUNCTORS) {
    const list = node[junctor];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      report(`${junctor} must be a list of schemas`);
      continue;
    }
    const intOrStringPattern = intOrString && junctor === 'anyOf' && isIntOrStringAnyOf(list);
    if (intOrStringPattern) continue;
    list.forEach((sub, i) => lintNested(sub, `${path}.${junctor}[${i}]`, node, out));
  }
  if (node.not !== undefined) lintNested(node.not, `${path}.not`, node, out);

  lintKubernetesExtensions(node, type, path, out);
  lintCelRules(node, path, ctx, out);
}

function lintKeywords(node: Schema, report: (message: string) => void): void {
  for (const key of Object.keys(node)) {
    if (key in FOREIGN_KEYWORDS) report(FOREIGN_KEYWORDS[key] as string);
    else if (!SCHEMA_KEYWORDS.has(key)) report(`unknown keyword "${key}": the API server rejects fields JSONSchemaProps does not have; remove it`);
    else if (key in UNSUPPORTED_KEYWORDS) report(UNSUPPORTED_KEYWORDS[key] as string);
  }
  if (node.uniqueItems === true) {
    report('uniqueItems: true is not allowed (its cost is quadratic); use x-kubernetes-list-type: set');
  }
}

function lintType(node: Schema, ctx: Context, typeOptional: boolean, report: (message: string) => void): string | undefined {
  const type = node.type;
  if (type === undefined) {
    if (!typeOptional) {
      const what = ctx.level === 'root' ? 'the root' : ctx.level === 'item' ? 'list items' : 'every field';
      report(`type is missing; ${what} must name a type (object, array, string, integer, number or boolean)`);
    }
    return undefined;
  }
  if (Array.isArray(type)) {
    report('type must be one string, not a list; for a value that may be null use nullable: true');
    return undefined;
  }
  if (type === 'null') {
    report('type: null is not allowed; use nullable: true');
    return undefined;
  }
  if (typeof type !== 'string' || !OPENAPI_TYPES.has(type)) {
    report(`type ${JSON.stringify(type)} is not an OpenAPI type; use one of ${[...OPENAPI_TYPES].join(', ')}`);
    return undefined;
  }
  return type;
}

function lintFormat(node: Schema, type: string | undefined, report: (message: string) => void): void {
  const format = node.format;
  if (format === undefined) return;
  if (typeof format !== 'string') {
    report('format must be a string');
    return;
  }
  if (type === 'integer' || type === 'number') {
    if (!NUMBER_FORMATS.has(format)) report(`format "${format}" is not a numeric format; use int32, int64, float or double, or remove it`);
    return;
  }
  if (!STRING_FORMATS.has(format.replace(/-/g, ''))) {
    report(
      `format "${format}" is unknown to Kubernetes, which drops it without validating anything; use a pattern or an x-kubernetes-validations rule, or one of: ${[...STRING_FORMATS].join(', ')}`,
    );
  } else if (type !== undefined && type !== 'string') {
    report(`format "${format}" applies to strings, but this node is type: ${type}`);
  }
}

function valueHasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return isSchema(value);
    case 'array':
      return Array.isArray(value);
    default:
      return true;
  }
}

function lintEnum(node: Schema, type: string | undefined, report: (message: string) => void): void {
  const values = node.enum;
  if (values === undefined) return;
  if (!Array.isArray(values) || values.length === 0) {
    report('enum must be a non-empty list of values');
    return;
  }
  for (const value of values) {
    if (value === null) {
      if (node.nullable !== true) report('enum lists null but the field is not nullable; remove null or set nullable: true');
    } else if (type !== undefined && !valueHasType(value, type)) {
      report(`enum value ${JSON.stringify(value)} is not of type ${type}; every enum value must have the field's type`);
    }
  }
}

/** Regular-expression features Go's RE2 (the API server's engine) rejects. */
const RE2_UNSUPPORTED: Array<[RegExp, string]> = [
  [/\(\?[=!]/, 'lookahead'],
  [/\(\?<[=!]/, 'lookbehind'],
  [/\\[1-9]/, 'backreference'],
  [/\(\?<[A-Za-z]/, 'named group in (?<name>) form (RE2 wants (?P<name>...))'],
];

function lintPattern(node: Schema, report: (message: string) => void): void {
  const pattern = node.pattern;
  if (pattern === undefined) return;
  if (typeof pattern !== 'string') {
    report('pattern must be a string');
    return;
  }
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    report(`pattern ${JSON.stringify(pattern)} is not a valid regular expression: ${(err as Error).message}`);
    return;
  }
  for (const [feature, name] of RE2_UNSUPPORTED) {
    if (feature.test(pattern)) report(`pattern ${JSON.stringify(pattern)} uses a ${name}, which the API server's RE2 engine rejects`);
  }
}

function lintBounds(node: Schema, type: string | undefined, report: (message: string) => void): void {
  const counts = ['minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties'] as const;
  for (const key of counts) {
    const value = node[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 0)) {
      report(`${key} must be a non-negative integer`);
    }
  }
  for (const key of ['minimum', 'maximum', 'multipleOf'] as const) {
    if (node[key] !== undefined && typeof node[key] !== 'number') report(`${key} must be a number`);
  }
  const pairs = [['minLength', 'maxLength'], ['minItems', 'maxItems'], ['minProperties', 'maxProperties'], ['minimum', 'maximum']] as const;
  for (const [low, high] of pairs) {
    const a = node[low];
    const b = node[high];
    if (typeof a === 'number' && typeof b === 'number' && a > b) report(`${low} (${a}) is greater than ${high} (${b}); no value can pass`);
  }
  const applies: Record<string, string> = {
    minLength: 'string', maxLength: 'string', pattern: 'string',
    minItems: 'array', maxItems: 'array',
    minProperties: 'object', maxProperties: 'object',
  };
  for (const [key, wanted] of Object.entries(applies)) {
    if (node[key] !== undefined && type !== undefined && type !== wanted) report(`${key} applies to type ${wanted}, but this node is type: ${type}`);
  }
}

function lintNullable(node: Schema, report: (message: string) => void): void {
  if (node.nullable !== undefined && typeof node.nullable !== 'boolean') report('nullable must be true or false');
  if (node.default === null && node.nullable !== true) report('default: null needs nullable: true (otherwise the API server prunes it)');
}

/**
 * Formats ajv checks the way the API server does. Others (Kubernetes' Go-style
 * duration against ajv's ISO 8601 one, or formats ajv does not know) are left
 * out when checking a default.
 */
const AJV_COMPATIBLE_FORMATS = new Set(['date', 'date-time', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid', 'byte', 'password', 'int32', 'int64', 'float', 'double']);

/** A copy of a schema ajv can compile: only the value-validation keywords it knows. */
function forAjv(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(forAjv);
  if (!isSchema(schema)) return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'example' || key === 'externalDocs' || key === 'description' || key === 'title') continue;
    if (key === 'format' && !AJV_COMPATIBLE_FORMATS.has(value as string)) continue;
    if (key === 'properties' && isSchema(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, forAjv(sub)]));
    } else if (key === 'enum' || key === 'required' || key === 'default' || key === 'x-kubernetes-validations' || key === 'x-kubernetes-list-map-keys') {
      out[key] = value;
    } else {
      out[key] = forAjv(value);
    }
  }
  // Unknown fields are kept there, so closing the object for the check would be wrong.
  if (schema['x-kubernetes-preserve-unknown-fields'] === true && out.additionalProperties === undefined) out.additionalProperties = true;
  return out;
}

function lintDefault(node: Schema, ctx: Context, report: (message: string) => void): void {
  if (!('default' in node)) return;
  if (ctx.level === 'root') return; // reported as not allowed at the root
  if (ctx.defaultsForbidden !== undefined) {
    report(`default is not allowed ${ctx.defaultsForbidden}`);
    return;
  }
  if (node.default === null) return; // lintNullable covers it
  let check: ReturnType<typeof compileSchema>;
  try {
    // Closed objects: the API server prunes unknown fields from a default and rejects it if it had any.
    check = compileSchema(closeObjects(forAjv(node)) as Schema);
  } catch (err) {
    report(`default ${JSON.stringify(node.default)} cannot be checked because the schema does not compile: ${(err as Error).message}`);
    return;
  }
  const problems = check(node.default);
  if (problems.length > 0) {
    const detail = problems.map((p) => (p.path ? `${p.path} ${p.message}` : p.message)).join('; ');
    report(`default ${JSON.stringify(node.default)} does not validate against its own schema: ${detail}; fix the default or the schema`);
  }
}

function lintRequired(node: Schema, report: (message: string) => void): void {
  const required = node.required;
  if (required === undefined) return;
  if (!Array.isArray(required) || required.some((name) => typeof name !== 'string')) {
    report('required must be a list of field names');
    return;
  }
  const properties = isSchema(node.properties) ? node.properties : undefined;
  const seen = new Set<string>();
  for (const name of required as string[]) {
    if (seen.has(name)) report(`required lists "${name}" twice`);
    seen.add(name);
    // Without properties (a map), required names keys the map must have.
    if (properties !== undefined && !(name in properties)) {
      report(`required lists "${name}", which is not one of the properties; add the property or remove it from required`);
    }
  }
}

/** metadata at a resource root may only restrict name and generateName (and must be type: object). */
function lintResourceMetadata(node: unknown, path: string, out: LintProblem[]): void {
  const report = (message: string) => out.push({ path, message });
  if (!isSchema(node)) {
    report('metadata must be a schema with type: object');
    return;
  }
  if (node.type !== 'object') report('metadata must have type: object');
  for (const key of Object.keys(node)) {
    if (key !== 'type' && key !== 'properties') {
      report(`metadata must not specify ${key}: the API server allows only type: object and restrictions of name and generateName`);
    }
  }
  if (node.properties === undefined) return;
  if (!isSchema(node.properties)) {
    report('metadata.properties must be a map of schemas');
    return;
  }
  for (const [name, sub] of Object.entries(node.properties)) {
    const subPath = child(path, name);
    if (name !== 'name' && name !== 'generateName') {
      out.push({ path: subPath, message: `metadata may only restrict name and generateName, not ${name}` });
      continue;
    }
    if (!isSchema(sub)) {
      out.push({ path: subPath, message: 'must be a schema' });
      continue;
    }
    if (sub.type !== 'string') out.push({ path: subPath, message: `metadata.${name} must have type: string` });
    if ('default' in sub) out.push({ path: subPath, message: `default is not allowed in metadata.${name}` });
    const probe: LintProblem[] = [];
    const { description: _ignored, ...rest } = sub;
    lintNode({ ...rest, description: `metadata.${name}` }, subPath, { level: 'field', resourceRoot: false, defaultsForbidden: 'in metadata' }, probe);
    out.push(...probe);
  }
}

/** Keys a schema under allOf/anyOf/oneOf/not must not have: they would make the schema non-structural. */
const NESTED_FORBIDDEN: Record<string, string> = {
  type: 'type must be empty inside allOf/anyOf/oneOf/not (declare it once on the field itself)',
  description: 'description must be empty inside allOf/anyOf/oneOf/not',
  title: 'title must be empty inside allOf/anyOf/oneOf/not',
  default: 'default must not be set inside allOf/anyOf/oneOf/not',
  nullable: 'nullable must not be set inside allOf/anyOf/oneOf/not',
  additionalProperties: 'additionalProperties must not be set inside allOf/anyOf/oneOf/not',
  'x-kubernetes-preserve-unknown-fields': 'x-kubernetes-preserve-unknown-fields must not be set inside allOf/anyOf/oneOf/not',
  'x-kubernetes-embedded-resource': 'x-kubernetes-embedded-resource must not be set inside allOf/anyOf/oneOf/not',
  'x-kubernetes-int-or-string': 'x-kubernetes-int-or-string must not be set inside allOf/anyOf/oneOf/not',
  'x-kubernetes-list-type': 'x-kubernetes-list-type must not be set inside allOf/anyOf/oneOf/not',
  'x-kubernetes-list-map-keys': 'x-kubernetes-list-map-keys must not be set inside allOf/anyOf/oneOf/not',
  'x-kubernetes-map-type': 'x-kubernetes-map-type must not be set inside allOf/anyOf/oneOf/not',
  'x-kubernetes-validations': 'x-kubernetes-validations must not be set inside allOf/anyOf/oneOf/not; put the rule on the field',
};

/**
 * A schema under a logical junctor: value validations only, and only of
 * fields the surrounding structural schema declares. TypeBox's Union output
 * (anyOf of typed schemas) fails here.
 */
function lintNested(node: unknown, path: string, outer: Schema | undefined, out: LintProblem[]): void {
  const report = (message: string) => out.push({ path, message });
  if (!isSchema(node)) {
    report('a schema must be an object');
    return;
  }
  lintKeywords(node, report);
  for (const key of Object.keys(node)) {
    const message = NESTED_FORBIDDEN[key];
    if (message !== undefined) report(message);
  }
  lintPattern(node, report);
  const outerProperties = outer !== undefined && isSchema(outer.properties) ? outer.properties : undefined;
  if (isSchema(node.properties)) {
    for (const [name, sub] of Object.entries(node.properties)) {
      if (name === 'metadata') {
        out.push({ path: child(path, name), message: 'metadata must not be specified inside allOf/anyOf/oneOf/not' });
        continue;
      }
      const declared = outerProperties?.[name];
      if (declared === undefined) {
        out.push({ path: child(path, name), message: `${name} is constrained inside a junctor but not declared in the field's properties; declare it there` });
      }
      lintNested(sub, child(path, name), isSchema(declared) ? declared : undefined, out);
    }
  }
  if (node.items !== undefined) {
    if (outer === undefined || outer.items === undefined) report('items is constrained inside a junctor but the field declares no items');
    lintNested(node.items, itemsPath(path), outer !== undefined && isSchema(outer.items) ? outer.items : undefined, out);
  }
  for (const junctor of JUNCTORS) {
    const list = node[junctor];
    if (Array.isArray(list)) list.forEach((sub, i) => lintNested(sub, `${path}.${junctor}[${i}]`, outer, out));
  }
  if (node.not !== undefined) lintNested(node.not, `${path}.not`, outer, out);
}

function isIntOrStringAnyOf(list: unknown[]): boolean {
  if (list.length !== 2) return false;
  const types = list.map((s) => (isSchema(s) && Object.keys(s).length === 1 ? s.type : undefined));
  return types[0] === 'integer' && types[1] === 'string';
}

function lintKubernetesExtensions(node: Schema, type: string | undefined, path: string, out: LintProblem[]): void {
  const report = (message: string) => out.push({ path, message });
  const listType = node['x-kubernetes-list-type'];
  const mapKeys = node['x-kubernetes-list-map-keys'];
  const items = isSchema(node.items) ? node.items : undefined;

  if (listType !== undefined) {
    if (listType !== 'atomic' && listType !== 'set' && listType !== 'map') {
      report(`x-kubernetes-list-type must be atomic, set or map, not ${JSON.stringify(listType)}`);
    }
    if (type !== 'array') report('x-kubernetes-list-type needs type: array');
  }
  if (mapKeys !== undefined) {
    if (!Array.isArray(mapKeys) || mapKeys.some((k) => typeof k !== 'string')) {
      report('x-kubernetes-list-map-keys must be a list of field names');
    } else if (mapKeys.length > 0 && listType !== 'map') {
      report('x-kubernetes-list-map-keys needs x-kubernetes-list-type: map');
    }
  }
  if (listType === 'map') {
    const keys = Array.isArray(mapKeys) ? (mapKeys as unknown[]).filter((k): k is string => typeof k === 'string') : [];
    if (keys.length === 0) report('x-kubernetes-list-type: map needs x-kubernetes-list-map-keys naming the fields that identify an item');
    if (items === undefined) {
      report('x-kubernetes-list-type: map needs an items schema');
    } else if (items.type !== 'object') {
      report('x-kubernetes-list-type: map needs items of type: object');
    } else {
      const itemProperties = isSchema(items.properties) ? items.properties : {};
      const required = Array.isArray(items.required) ? (items.required as unknown[]) : [];
      const seen = new Set<string>();
      for (const key of keys) {
        if (seen.has(key)) report(`x-kubernetes-list-map-keys lists "${key}" twice`);
        seen.add(key);
        const keySchema = itemProperties[key];
        if (!isSchema(keySchema)) {
          report(`x-kubernetes-list-map-keys names "${key}", which is not a property of the items; add it to the items' properties`);
          continue;
        }
        if (keySchema.type === 'object' || keySchema.type === 'array') report(`list map key "${key}" must be a scalar (string, integer, number or boolean)`);
        if (!required.includes(key) && !('default' in keySchema)) {
          report(`list map key "${key}" must be required in the items or have a default; add it to the items' required list`);
        }
        if (keySchema.nullable === true) report(`list map key "${key}" must not be nullable`);
      }
    }
  }
  if ((listType === 'set' || listType === 'map') && items?.nullable === true) {
    report(`items must not be nullable when x-kubernetes-list-type is ${listType}`);
  }
  if (listType === 'set' && items !== undefined) {
    if (items.type === 'object' && items['x-kubernetes-map-type'] !== 'atomic') {
      report('x-kubernetes-list-type: set needs scalar items, or objects with x-kubernetes-map-type: atomic');
    }
    if (items.type === 'array' && items['x-kubernetes-list-type'] !== undefined && items['x-kubernetes-list-type'] !== 'atomic') {
      report('lists inside an x-kubernetes-list-type: set must be atomic');
    }
  }

  const mapType = node['x-kubernetes-map-type'];
  if (mapType !== undefined) {
    if (mapType !== 'atomic' && mapType !== 'granular') report(`x-kubernetes-map-type must be atomic or granular, not ${JSON.stringify(mapType)}`);
    if (type !== 'object') report('x-kubernetes-map-type needs type: object');
  }

  const preserve = node['x-kubernetes-preserve-unknown-fields'];
  if (preserve !== undefined && preserve !== true) report('x-kubernetes-preserve-unknown-fields must be true or absent');
  const intOrString = node['x-kubernetes-int-or-string'];
  if (intOrString !== undefined && typeof intOrString !== 'boolean') report('x-kubernetes-int-or-string must be true or false');
  if (intOrString === true && preserve === true) report('x-kubernetes-int-or-string and x-kubernetes-preserve-unknown-fields exclude each other');
  if (intOrString === true && type !== undefined) report('x-kubernetes-int-or-string needs type to be empty (the value is an integer or a string)');
  const embedded = node['x-kubernetes-embedded-resource'];
  if (embedded === true) {
    if (type !== 'object') report('x-kubernetes-embedded-resource needs type: object');
    if (intOrString === true) report('x-kubernetes-embedded-resource and x-kubernetes-int-or-string exclude each other');
    if (preserve !== true && !(isSchema(node.properties) && Object.keys(node.properties).length > 0)) {
      report('x-kubernetes-embedded-resource needs properties or x-kubernetes-preserve-unknown-fields: true');
    }
  }
}

// ---------------------------------------------------------------------------
// CEL (x-kubernetes-validations)

interface CelScan {
  /** The rule with string literals blanked out, for looking at identifiers. */
  code: string;
  error?: string;
}

/** Tokenizes just enough CEL to find unbalanced brackets and unterminated strings. */
export function scanCel(rule: string): CelScan {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  let code = '';
  let i = 0;
  while (i < rule.length) {
    const c = rule[i] as string;
    const raw = (c === 'r' || c === 'R') && (rule[i + 1] === '"' || rule[i + 1] === "'") && !/[A-Za-z0-9_]/.test(rule[i - 1] ?? '');
    const quoteAt = raw ? i + 1 : i;
    const q = rule[quoteAt];
    if (q === '"' || q === "'") {
      const triple = rule.startsWith(q.repeat(3), quoteAt);
      const close = triple ? q.repeat(3) : q;
      let j = quoteAt + close.length;
      let closed = false;
      while (j < rule.length) {
        if (!raw && rule[j] === '\\') {
          j += 2;
          continue;
        }
        if (!triple && (rule[j] === '\n' || rule[j] === '\r')) break;
        if (rule.startsWith(close, j)) {
          closed = true;
          j += close.length;
          break;
        }
        j++;
      }
      if (!closed) return { code, error: `unterminated string literal starting at character ${quoteAt + 1}` };
      // A placeholder operand keeps the shape of the expression ("x == '...'" stays complete).
      code += '_' + ' '.repeat(j - i - 1);
      i = j;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') stack.push(c);
    else if (c === ')' || c === ']' || c === '}') {
      const open = stack.pop();
      if (open !== pairs[c]) return { code, error: `unbalanced "${c}" at character ${i + 1}` };
    }
    code += c;
    i++;
  }
  if (stack.length > 0) return { code, error: `"${stack[stack.length - 1]}" is never closed` };
  return { code };
}

/** Plausibility of a CEL expression without a CEL compiler: an error message, or undefined. */
export function celSyntaxProblem(rule: string): string | undefined {
  if (rule.trim() === '') return 'the rule is empty';
  const scan = scanCel(rule);
  if (scan.error !== undefined) return scan.error;
  const code = scan.code.trim();
  if (/(&&|\|\||==|!=|<=|>=|[<>+\-*/%!?:.,])$/.test(code)) return 'the rule ends with an operator; finish the expression';
  if (/^(&&|\|\||==|!=|<=|>=|[<>*/%?:.,])/.test(code)) return 'the rule starts with a binary operator';
  if (/[;`#@$]/.test(code)) return `the rule contains a character CEL does not use (${code.match(/[;`#@$]/)?.[0]})`;
  if (/(^|[^=!<>])=($|[^=])/.test(code)) return 'the rule uses "=", which CEL does not have; compare with "=="';
  if (/\(\s*\)/.test(code.replace(/[A-Za-z_][A-Za-z0-9_]*\s*\(\s*\)/g, 'f'))) return 'the rule has empty parentheses';
  if (!/\bself\b|\boldSelf\b/.test(code)) return 'the rule does not look at self or oldSelf, so it is constant';
  return undefined;
}

function usesOldSelf(rule: string): boolean {
  return /\boldSelf\b/.test(scanCel(rule).code);
}

/** Resolves a CEL fieldPath (.a.b, ['a'], [0]) against a schema node, as the API server does. */
function fieldPathResolves(node: Schema, fieldPath: string): boolean {
  const token = /^(?:\.([A-Za-z_][A-Za-z0-9_]*)|\['((?:[^'\\]|\\.)*)'\]|\[([0-9]+)\])/;
  let rest = fieldPath.trim();
  let current: unknown = node;
  if (rest === '') return false;
  while (rest !== '') {
    const m = token.exec(rest);
    if (m === null || !isSchema(current)) return false;
    rest = rest.slice(m[0].length);
    if (m[3] !== undefined) {
      if (current.type !== 'array' || !isSchema(current.items)) return false;
      current = current.items;
      continue;
    }
    const name = (m[1] ?? m[2]) as string;
    if (isSchema(current.properties) && name in current.properties) current = current.properties[name];
    else if (isSchema(current.additionalProperties)) current = current.additionalProperties;
    else return false;
  }
  return true;
}

/** The schema nodes a rule reads through self.a.b / oldSelf.a.b chains. */
function referencedNodes(node: Schema, code: string): Array<{ expression: string; schema: Schema }> {
  const found: Array<{ expression: string; schema: Schema }> = [];
  const chain = /\b(self|oldSelf)((?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)/g;
  for (const match of code.matchAll(chain)) {
    let current: Schema = node;
    let expression = match[1] as string;
    const names = (match[2] ?? '').split('.').map((s) => s.trim()).filter((s) => s !== '');
    for (const name of names) {
      const next: unknown = isSchema(current.properties) ? current.properties[name] : undefined;
      if (!isSchema(next)) break; // a method call such as .size() or .startsWith()
      current = next;
      expression += `.${name}`;
    }
    found.push({ expression, schema: current });
  }
  return found;
}

function lintCelRules(node: Schema, path: string, ctx: Context, out: LintProblem[]): void {
  const rules = node['x-kubernetes-validations'];
  if (rules === undefined) return;
  if (!Array.isArray(rules)) {
    out.push({ path, message: 'x-kubernetes-validations must be a list of rules' });
    return;
  }
  rules.forEach((entry, i) => {
    const at = `${path} x-kubernetes-validations[${i}]`;
    const report = (message: string) => out.push({ path: at, message });
    if (!isSchema(entry)) {
      report('a validation must be an object with rule and message');
      return;
    }
    for (const key of Object.keys(entry)) {
      if (!CEL_RULE_KEYS.has(key)) report(`unknown field "${key}" in a validation rule; use rule, message, messageExpression, reason, fieldPath or optionalOldSelf`);
    }
    const rule = entry.rule;
    if (typeof rule !== 'string' || rule.trim() === '') {
      report('rule is missing or empty; write the CEL expression that must hold');
      return;
    }
    const message = entry.message;
    if (message !== undefined) {
      if (typeof message !== 'string' || message.trim() === '') report('message must be non-empty when given');
      else if (/[\r\n]/.test(message)) report('message must not contain line breaks');
    } else if (/[\r\n]/.test(rule)) {
      report('a rule with line breaks needs a message');
    }
    if (message === undefined && entry.messageExpression === undefined) {
      report('message is missing; say what is wrong and how to fix it (otherwise users see the raw rule)');
    }
    if (entry.messageExpression !== undefined && (typeof entry.messageExpression !== 'string' || entry.messageExpression.trim() === '')) {
      report('messageExpression must be non-empty when given');
    }
    if (entry.reason !== undefined && !CEL_REASONS.has(entry.reason as string)) {
      report(`reason ${JSON.stringify(entry.reason)} is not supported; use one of ${[...CEL_REASONS].join(', ')}`);
    }
    if (entry.fieldPath !== undefined) {
      const fieldPath = entry.fieldPath;
      if (typeof fieldPath !== 'string' || fieldPath.trim() === '') report('fieldPath must be non-empty when given');
      else if (/[\r\n]/.test(fieldPath)) report('fieldPath must not contain line breaks');
      else if (!fieldPathResolves(node, fieldPath)) {
        report(`fieldPath ${JSON.stringify(fieldPath)} does not name a field of ${path}; write it relative to the node the rule is on, such as .spec.field`);
      }
    }
    const syntax = celSyntaxProblem(rule);
    if (syntax !== undefined) report(`rule ${JSON.stringify(rule)} is not valid CEL: ${syntax}`);

    const oldSelf = usesOldSelf(rule);
    if (entry.optionalOldSelf !== undefined) {
      if (typeof entry.optionalOldSelf !== 'boolean') report('optionalOldSelf must be true or false');
      else if (!oldSelf) report('optionalOldSelf may only be set when the rule uses oldSelf');
    }
    if (oldSelf && ctx.uncorrelatableAt !== undefined) {
      report(
        `rule ${JSON.stringify(rule)} uses oldSelf below ${ctx.uncorrelatableAt}, whose old and new members cannot be matched (only x-kubernetes-list-type: map lists and granular maps can); move the rule above the list or make it a list-type map`,
      );
    }

    // Cost: the API server refuses rules whose estimated cost exceeds its budget.
    if (ctx.unboundedAt !== undefined) {
      report(`rule runs once per member of ${ctx.unboundedAt}, which has no maxItems/maxProperties, so its cost is unbounded; add a maximum there`);
    }
    const seen = new Set<string>();
    for (const { expression, schema } of referencedNodes(node, scanCel(rule).code)) {
      if (seen.has(expression)) continue;
      seen.add(expression);
      const fix = unboundedForCel(schema);
      if (fix !== undefined) report(`rule reads ${expression}, ${fix}, so the rule's cost cannot be bounded`);
    }
  });
}

/** Why a node read by CEL makes a rule's cost unbounded, or undefined when it is bounded. */
function unboundedForCel(schema: Schema): string | undefined {
  if (schema.type === 'string') {
    if (typeof schema.maxLength === 'number' || Array.isArray(schema.enum)) return undefined;
    if (typeof schema.format === 'string' && BOUNDED_CEL_FORMATS.has(schema.format)) return undefined;
    return 'a string without maxLength (add one)';
  }
  if (schema.type === 'array' && typeof schema.maxItems !== 'number') return 'a list without maxItems (add one)';
  if (schema.type === 'object' && isSchema(schema.additionalProperties) && typeof schema.maxProperties !== 'number') {
    return 'a map without maxProperties (add one)';
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Whole CRDs

const PRINTER_COLUMN_TYPES = new Set(['integer', 'number', 'string', 'boolean', 'date']);

/** Lints a whole apiextensions.k8s.io/v1 CustomResourceDefinition: names, versions, columns and each schema. */
export function lintCustomResourceDefinition(crd: unknown): LintProblem[] {
  const out: LintProblem[] = [];
  if (!isSchema(crd)) return [{ path: '', message: 'a CustomResourceDefinition must be an object' }];
  const spec = isSchema(crd.spec) ? crd.spec : {};
  const names = isSchema(spec.names) ? spec.names : {};
  const plural = typeof names.plural === 'string' ? names.plural : '';
  const label = typeof names.kind === 'string' ? names.kind : 'CustomResourceDefinition';
  const report = (path: string, message: string) => out.push({ path: path === '' ? label : `${label} ${path}`, message });

  if (crd.apiVersion !== 'apiextensions.k8s.io/v1') report('apiVersion', 'must be apiextensions.k8s.io/v1');
  if (crd.kind !== 'CustomResourceDefinition') report('kind', 'must be CustomResourceDefinition');
  const metadata = isSchema(crd.metadata) ? crd.metadata : {};
  if (metadata.name !== `${plural}.${String(spec.group)}`) report('metadata.name', `must be <plural>.<group>: ${plural}.${String(spec.group)}`);
  for (const key of ['plural', 'singular', 'listKind', 'kind'] as const) {
    if (typeof names[key] !== 'string' || names[key] === '') report(`spec.names.${key}`, 'is required');
  }
  for (const key of ['plural', 'singular'] as const) {
    if (typeof names[key] === 'string' && !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(names[key])) report(`spec.names.${key}`, 'must be a lowercase DNS-1035 label');
  }
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') report('spec.scope', 'must be Namespaced or Cluster');
  const versions = Array.isArray(spec.versions) ? spec.versions : [];
  if (versions.length === 0) report('spec.versions', 'must list at least one version');
  if (versions.filter((v) => isSchema(v) && v.storage === true).length !== 1) report('spec.versions', 'exactly one version must have storage: true');

  versions.forEach((version, i) => {
    const at = `spec.versions[${i}]`;
    if (!isSchema(version)) {
      report(at, 'must be an object');
      return;
    }
    const schema = isSchema(version.schema) ? version.schema.openAPIV3Schema : undefined;
    if (schema === undefined) {
      report(`${at}.schema.openAPIV3Schema`, 'is required');
      return;
    }
    out.push(...lintStructuralSchema(schema, label));
    const columns = Array.isArray(version.additionalPrinterColumns) ? version.additionalPrinterColumns : [];
    columns.forEach((column, j) => {
      const columnAt = `${at}.additionalPrinterColumns[${j}]`;
      if (!isSchema(column)) {
        report(columnAt, 'must be an object');
        return;
      }
      if (typeof column.name !== 'string' || column.name === '') report(columnAt, 'name is required');
      if (!PRINTER_COLUMN_TYPES.has(column.type as string)) report(columnAt, `type must be one of ${[...PRINTER_COLUMN_TYPES].join(', ')}`);
      if (typeof column.description !== 'string' || column.description === '') report(columnAt, 'description is missing');
      const jsonPath = column.jsonPath;
      if (typeof jsonPath !== 'string' || !jsonPath.startsWith('.')) {
        report(columnAt, 'jsonPath must be a JSONPath starting with "."');
      } else if (isSchema(schema) && !printerPathResolves(schema, jsonPath)) {
        report(columnAt, `jsonPath ${jsonPath} does not name a field of the schema; check its spelling`);
      }
    });
    const subresources = isSchema(version.subresources) ? version.subresources : {};
    if (subresources.status !== undefined && !isSchema(subresources.status)) report(`${at}.subresources.status`, 'must be an empty object');
  });
  return out;
}

/** Whether the plain part of a printer column's JSONPath (up to the first filter or index) exists. */
function printerPathResolves(schema: Schema, jsonPath: string): boolean {
  const plain = jsonPath.split('[')[0] as string;
  const names = plain.split('.').filter((s) => s !== '');
  let current: unknown = schema;
  for (const [i, name] of names.entries()) {
    if (i === 0 && name === 'metadata') return true; // ObjectMeta is not part of the CRD schema
    if (!isSchema(current)) return false;
    if (isSchema(current.properties) && name in current.properties) current = current.properties[name];
    else if (isSchema(current.additionalProperties)) current = current.additionalProperties;
    else return false;
  }
  if (jsonPath.includes('[') && isSchema(current) && current.type === 'array' && isSchema(current.items)) {
    // .status.conditions[?(@.type=="Ready")].status: check the field after the filter.
    const after = /\]\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(jsonPath)?.[1];
    const itemProperties = current.items.properties;
    if (after !== undefined) return isSchema(itemProperties) && after in itemProperties;
  }
  return true;
}
