// metav1.Status bodies, as the real API server sends them with an error code.
import type { FieldCause } from './resources.js';

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'UnsupportedMediaType'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'TooManyRequests'
  | 'Timeout';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: FieldCause[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: StatusReason | '';
  details?: StatusDetails;
  code: number;
}

const REASON_BY_CODE: Record<number, StatusReason> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Gone',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** An API error the server turns into a Status response. */
export class ApiStatusError extends Error {
  readonly body: StatusBody;

  constructor(code: number, message: string, reason?: StatusReason, details?: StatusDetails) {
    super(message);
    this.name = 'ApiStatusError';
    this.body = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason: reason ?? REASON_BY_CODE[code] ?? 'InternalError',
      ...(details ? { details } : {}),
      code,
    };
  }

  get code(): number {
    return this.body.code;
  }
}

export function failureStatus(code: number, message: string, reason?: StatusReason, details?: StatusDetails): StatusBody {
  return new ApiStatusError(code, message, reason, details).body;
}
