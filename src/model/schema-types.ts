// Building blocks for schemas that are at once TypeBox types, ajv schemas and
// Kubernetes structural schemas. TypeBox's own Literal/Union/Record produce
// `const`, typed `anyOf` and `patternProperties`, which an API server rejects,
// so enums and maps are spelled here in the structural form.
import { Type, type SchemaOptions, type TSchema, type TUnsafe } from '@sinclair/typebox';

/** A CEL rule evaluated by the API server (`x-kubernetes-validations`). */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  /** A message computed by the API server (CEL returning a string); `message` stays as the fallback. */
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

export interface StructuralOptions extends SchemaOptions {
  description: string;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

/** A string enum in structural form: `{type: string, enum: [...]}`. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: StructuralOptions,
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });
}

/**
 * A duration in Go's format ("24h", "90m", "168h"), the format of metav1.Duration,
 * so CEL's `duration()` can compare it on the API server.
 */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$';

export function Duration(options: StructuralOptions) {
  return Type.String({ ...options, pattern: DURATION_PATTERN, maxLength: 32 });
}

/** An RFC 3339 timestamp, the format of metav1.Time. */
export function Timestamp(options: StructuralOptions) {
  return Type.String({ ...options, format: 'date-time' });
}

/** A map from string to T, as `additionalProperties` (structural; no patternProperties). */
export function StringMap<T extends TSchema>(value: T, options: StructuralOptions) {
  return Type.Unsafe<Record<string, T['static']>>({ ...options, type: 'object', additionalProperties: value });
}

/** A reference to an object of a known kind in the same namespace. */
export function LocalObjectReference(description: string) {
  return Type.Object(
    {
      name: Type.String({
        description: 'Name of the referenced object, in the same namespace.',
        minLength: 1,
        maxLength: 253,
      }),
    },
    { description },
  );
}
