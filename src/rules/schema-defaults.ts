// The API server fills in schema defaults before it validates, so a field that
// is required but has a default may be left out of a manifest. Files checked by
// `gatehouse validate` are not defaulted; this tells which "required field is
// missing" problems the API server would have resolved by defaulting.
import { KINDS, type Kind } from '../model/kinds.js';
import type { SchemaProblem } from '../model/schema-validator.js';
import { fieldPathSegments } from './field-path.js';

type SchemaNode = { properties?: Record<string, SchemaNode>; items?: SchemaNode; default?: unknown };

function fieldSchema(kind: Kind, path: string): SchemaNode | undefined {
  const [first, ...rest] = fieldPathSegments(path);
  if (first !== 'spec') return undefined;
  let node: SchemaNode | undefined = KINDS[kind].specSchema as SchemaNode;
  for (const segment of rest) {
    node = typeof segment === 'number' ? node?.items : node?.properties?.[segment];
    if (node === undefined) return undefined;
  }
  return node;
}

/** Whether a schema problem is a missing field the API server would default. */
export function isDefaultedByServer(kind: Kind, problem: SchemaProblem): boolean {
  return problem.keyword === 'required' && fieldSchema(kind, problem.path)?.default !== undefined;
}
