// Field paths in Kubernetes style: spec.permissions[2].name.

/** Splits a field path into keys and list indexes. */
export function fieldPathSegments(field: string): Array<string | number> {
  const segments: Array<string | number> = [];
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) segments.push(Number(match[2]));
    else if (match[1] !== undefined) segments.push(match[1]);
  }
  return segments;
}
