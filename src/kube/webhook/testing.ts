// Test support for the webhook, shared by its unit tests, the integration
// tests and the benchmark: AdmissionReview fixtures shaped as the API server
// sends them, throwaway certificates, and a small HTTPS JSON client.
import { randomUUID } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import { API_GROUP, API_VERSION_NAME } from '../../model/common.js';
import { KINDS, type GatehouseObject } from '../../model/kinds.js';
import { ADMISSION_API_VERSION, ADMISSION_REVIEW_KIND, type GroupVersionKind, type GroupVersionResource, type UserInfo } from './admission.js';
import { createCertificateAuthority, issueServingCertificate, type KeyPairPem } from './certificates.js';

export const TEST_USER: UserInfo = { username: 'jane@acme.example', uid: 'u-1', groups: ['acme-admins', 'system:authenticated'] };

export interface ReviewFixture {
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  /** The new object (CREATE, UPDATE) or, for DELETE, the object being deleted. */
  object: GatehouseObject;
  /** The stored version, for UPDATE. */
  oldObject?: GatehouseObject;
  user?: UserInfo;
  dryRun?: boolean;
  uid?: string;
  subResource?: string;
  /**
   * The API server's time. Like the API server, the fixture gives a CREATE's
   * object its creationTimestamp (set before validating admission) and stored
   * objects one a day earlier, when they have none. Default: now.
   */
  now?: Date;
}

const DAY_MS = 24 * 3_600_000;

function withCreationTimestamp<T extends GatehouseObject>(object: T, at: Date): T {
  if (object.metadata.creationTimestamp !== undefined) return object;
  return { ...object, metadata: { ...object.metadata, creationTimestamp: at.toISOString().replace(/\.\d{3}Z$/, 'Z') } };
}

/** An AdmissionReview request as the API server sends it for `fixture`. */
export function anAdmissionReview(fixture: ReviewFixture) {
  const now = fixture.now ?? new Date();
  const stored = new Date(now.getTime() - DAY_MS);
  const { operation } = fixture;
  const object = withCreationTimestamp(fixture.object, operation === 'CREATE' ? now : stored);
  const oldObject = fixture.oldObject !== undefined ? withCreationTimestamp(fixture.oldObject, stored) : undefined;
  const info = KINDS[object.kind];
  const kind: GroupVersionKind = { group: API_GROUP, version: API_VERSION_NAME, kind: object.kind };
  const resource: GroupVersionResource = { group: API_GROUP, version: API_VERSION_NAME, resource: info.plural };
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: ADMISSION_REVIEW_KIND,
    request: {
      uid: fixture.uid ?? randomUUID(),
      kind,
      resource,
      requestKind: kind,
      requestResource: resource,
      ...(fixture.subResource !== undefined ? { subResource: fixture.subResource, requestSubResource: fixture.subResource } : {}),
      name: object.metadata.name,
      namespace: object.metadata.namespace,
      operation,
      userInfo: fixture.user ?? TEST_USER,
      object: operation === 'DELETE' ? null : object,
      oldObject: operation === 'DELETE' ? object : (oldObject ?? null),
      dryRun: fixture.dryRun ?? false,
      options:
        operation === 'CREATE'
          ? { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' }
          : operation === 'UPDATE'
            ? { apiVersion: 'meta.k8s.io/v1', kind: 'UpdateOptions' }
            : { apiVersion: 'meta.k8s.io/v1', kind: 'DeleteOptions' },
    },
  };
}

/** A CA and a serving certificate for the loopback names. */
export async function createTestCertificates(at = new Date()): Promise<{ ca: KeyPairPem; serving: KeyPairPem }> {
  const ca = await createCertificateAuthority({ commonName: 'Gatehouse test CA', at });
  const serving = await issueServingCertificate({ ca, hosts: ['localhost', '127.0.0.1', '::1'], at });
  return { ca, serving };
}

export interface HttpsJsonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** Sends one request over HTTPS, trusting only `ca`; resolves with status and body. */
export function httpsJson(
  url: string,
  options: {
    ca: string;
    method?: string;
    body?: unknown;
    /** A raw body, sent as is (for malformed-request tests). */
    rawBody?: string | Buffer;
    headers?: Record<string, string>;
    agent?: Agent;
    servername?: string;
  },
): Promise<HttpsJsonResponse> {
  return new Promise((resolve, reject) => {
    const payload = options.rawBody ?? (options.body !== undefined ? JSON.stringify(options.body) : undefined);
    const req = httpsRequest(
      url,
      {
        method: options.method ?? (payload !== undefined ? 'POST' : 'GET'),
        ca: options.ca,
        ...(options.agent !== undefined ? { agent: options.agent } : {}),
        ...(options.servername !== undefined ? { servername: options.servername } : {}),
        headers: {
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
