// Whole-object schemas, for documents that did not come through an API server
// (files for `gatehouse validate`, admission requests before defaulting).
import { Type } from '@sinclair/typebox';
import { API_VERSION, ObjectMetaSchema } from './common.js';
import { KINDS, type Kind } from './kinds.js';
import { closeObjects, compileSchema, type SchemaCheck, type SchemaProblem } from './schema-validator.js';

function objectSchema(kind: Kind) {
  const info = KINDS[kind];
  return Type.Object(
    {
      apiVersion: Type.Unsafe<string>({ type: 'string', enum: [API_VERSION], description: 'API version.' }),
      kind: Type.Unsafe<string>({ type: 'string', enum: [kind], description: 'Kind.' }),
      metadata: ObjectMetaSchema,
      spec: info.specSchema,
      status: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'Status, written by Gatehouse.' })),
    },
    { description: info.description },
  );
}

/** The schema a whole document of a kind is checked against (also compiled at build time). */
export function closedObjectSchema(kind: Kind): Record<string, unknown> {
  // metadata stays open (labels, annotations, ...); everything else is closed.
  const closed = closeObjects(objectSchema(kind)) as Record<string, unknown>;
  const properties = closed.properties as Record<string, Record<string, unknown>>;
  properties.metadata = { ...properties.metadata, additionalProperties: true };
  properties.status = { type: 'object', additionalProperties: true, description: 'Status.' };
  return closed;
}

const checks = new Map<Kind, SchemaCheck>();

/** Checks a document of a Gatehouse kind against its schema; unknown fields are problems. */
export function checkObjectSchema(kind: Kind, doc: unknown): SchemaProblem[] {
  let check = checks.get(kind);
  if (check === undefined) {
    check = compileSchema(closedObjectSchema(kind), kind);
    checks.set(kind, check);
  }
  return check(doc);
}
