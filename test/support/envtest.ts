// A real Kubernetes API server for tests, the envtest way: `kube-apiserver`
// and `etcd` from the folder KUBEBUILDER_ASSETS names, started on free
// loopback ports in a temporary folder with certificates made here (a CA, a
// serving certificate for 127.0.0.1, an admin client certificate in
// system:masters, a service-account signing key), stopped by PID at the end.
// Nothing is faked: RBAC, SubjectAccessReviews, CEL, watches, Leases and
// admission webhooks are the API server's own.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { createCertificateAuthority, issueServingCertificate, type KeyPairPem } from '../../src/kube/webhook/certificates.js';
import { errorMessage } from '../../src/util/errors.js';
import { freePort } from './postgres.js';

export const ASSETS_ENV = 'KUBEBUILDER_ASSETS';
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CRD_DIR = join(REPO, 'crds');
/** Where `bash ../shared/envtest/setup.sh .cache/envtest` leaves the binaries. */
const DEFAULT_ASSETS_DIR = join(REPO, '.cache', 'envtest');

export interface EnvtestAssets {
  kubeApiServer: string;
  etcd: string;
}

/**
 * The binaries, from KUBEBUILDER_ASSETS (or the project's .cache/envtest), or
 * the reason there are none: a suite that needs them reports itself skipped with it.
 */
export function findEnvtestAssets(env: NodeJS.ProcessEnv = process.env): EnvtestAssets | { missing: string } {
  const given = env[ASSETS_ENV];
  const dir = given !== undefined && given !== '' ? given : DEFAULT_ASSETS_DIR;
  const kubeApiServer = join(dir, 'kube-apiserver');
  const etcd = join(dir, 'etcd');
  const absent = [kubeApiServer, etcd].filter((path) => !existsSync(path));
  if (absent.length > 0) {
    return {
      missing:
        given !== undefined && given !== ''
          ? `${ASSETS_ENV}=${given} lacks ${absent.map((p) => p.slice(dir.length + 1)).join(' and ')}`
          : `no envtest assets: set ${ASSETS_ENV} to a folder with kube-apiserver and etcd (e.g. \`bash ../shared/envtest/setup.sh .cache/envtest\`, or \`setup-envtest use 1.32 -p path\`)`,
    };
  }
  return { kubeApiServer, etcd };
}

/** The skip reason for describe.skipIf, or undefined when the assets are there. */
export function envtestSkipReason(): string | undefined {
  const assets = findEnvtestAssets();
  return 'missing' in assets ? assets.missing : undefined;
}

export interface EnvtestOptions {
  /** Extra kube-apiserver flags, e.g. ['--watch-cache=false', '--etcd-compaction-interval=1s']. */
  apiServerFlags?: string[];
  /** Install the generated CRDs from crds/ and wait until they are served (default true). */
  installCrds?: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client certificate (clientAuth) for `user` in `groups`, signed by the CA. */
async function issueClientCertificate(ca: KeyPairPem, user: string, groups: string[]): Promise<KeyPairPem> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.key), algorithm, false, ['sign']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    subject: [{ CN: [user] }, ...groups.map((group) => ({ O: [group] }))],
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: algorithm,
    notBefore: new Date(now - 300_000),
    notAfter: new Date(now + 86_400_000),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

function httpsRequest(url: string, ca: string, client: KeyPairPem, method = 'GET', body?: unknown, timeout = 10_000): Promise<{ status: number; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) };
    const req = request(url, { method, headers, ca, cert: client.cert, key: client.key, timeout }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Every live child of every Envtest, killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function startProcess(command: string, args: string[], logFile: string): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let log = '';
  const keep = (chunk: Buffer) => {
    // The tail is enough to explain a failed start.
    log = (log + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', () => {
    live.delete(child);
    try {
      writeFileSync(logFile, log);
    } catch {
      // the folder is gone: the log is no longer wanted
    }
  });
  (child as ChildProcess & { tail: () => string }).tail = () => log;
  return child;
}

async function stopProcess(child: ChildProcess | undefined, graceMs = 5000): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export class Envtest {
  readonly #dir: string;
  #etcd: ChildProcess | undefined;
  #apiServer: ChildProcess | undefined;
  #stopped: Promise<void> | undefined;
  url = '';
  ca!: KeyPairPem;
  admin!: KeyPairPem;

  private constructor() {
    this.#dir = mkdtempSync(join(tmpdir(), 'gatehouse-envtest-'));
  }

  /** Starts etcd and kube-apiserver; throws with the reason (and the servers' log tails) when they do not come up. */
  static async start(options: EnvtestOptions = {}): Promise<Envtest> {
    const assets = findEnvtestAssets();
    if ('missing' in assets) throw new Error(assets.missing);
    const env = new Envtest();
    try {
      await env.#start(assets, options);
    } catch (err) {
      await env.stop();
      throw err;
    }
    return env;
  }

  async #start(assets: EnvtestAssets, options: EnvtestOptions): Promise<void> {
    const dir = this.#dir;
    const at = new Date();
    this.ca = await createCertificateAuthority({ commonName: 'envtest-ca', at });
    // The CA made for webhooks may sign leaf certificates only, which is all an API server needs.
    const serving = await issueServingCertificate({ ca: this.ca, hosts: ['127.0.0.1', 'localhost'], at });
    this.admin = await issueClientCertificate(this.ca, 'envtest-admin', ['system:masters']);
    const sa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const files = {
      'ca.crt': this.ca.cert,
      'serving.crt': serving.cert,
      'serving.key': serving.key,
      'sa.pub': sa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      'sa.key': sa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });

    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    this.#etcd = startProcess(
      assets.etcd,
      [
        '--data-dir', join(dir, 'etcd'),
        '--listen-client-urls', etcdUrl,
        '--advertise-client-urls', etcdUrl,
        '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
        '--initial-cluster', `default=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync',
      ],
      join(dir, 'etcd.log'),
    );
    this.#apiServer = startProcess(
      assets.kubeApiServer,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${dir}`,
        `--tls-cert-file=${join(dir, 'serving.crt')}`,
        `--tls-private-key-file=${join(dir, 'serving.key')}`,
        `--client-ca-file=${join(dir, 'ca.crt')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--authorization-mode=RBAC',
        '--service-cluster-ip-range=10.0.0.0/24',
        '--endpoint-reconciler-type=none',
        ...(options.apiServerFlags ?? []),
      ],
      join(dir, 'kube-apiserver.log'),
    );
    this.url = `https://127.0.0.1:${apiPort}`;
    await this.#waitReady(60_000);
    if (options.installCrds !== false) await this.installCrds();
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      for (const [name, child] of [['etcd', this.#etcd], ['kube-apiserver', this.#apiServer]] as const) {
        if (child?.exitCode !== null || child.signalCode !== null) {
          const tail = (child as unknown as { tail: () => string } | undefined)?.tail().slice(-3000) ?? '';
          throw new Error(`envtest: ${name} exited before the API server was ready:\n${tail}`);
        }
      }
      try {
        const res = await this.request('GET', '/readyz');
        if (res.status === 200) return;
        last = `/readyz ${res.status}: ${res.body.slice(0, 500)}`;
      } catch (err) {
        last = errorMessage(err);
      }
      if (Date.now() > deadline) throw new Error(`envtest: the API server was not ready within ${timeoutMs} ms (${last})`);
      await sleep(200);
    }
  }

  /**
   * A KubeConfig for the admin (system:masters), in `namespace` when given;
   * `server` reaches the API server through something in between (a proxy).
   */
  kubeConfig(namespace?: string, server?: string): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeconfigYaml({ user: { 'client-certificate-data': b64(this.admin.cert), 'client-key-data': b64(this.admin.key) }, namespace, server }));
    return kc;
  }

  /** A KubeConfig that authenticates with a bearer token (a ServiceAccount's). */
  kubeConfigForToken(token: string, namespace?: string): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeconfigYaml({ user: { token }, namespace }));
    return kc;
  }

  /** Writes the admin kubeconfig (or a token's) to `file`, mode 0600. */
  writeKubeconfig(file: string, options: { namespace?: string; token?: string } = {}): void {
    const user: Record<string, string> =
      options.token !== undefined ? { token: options.token } : { 'client-certificate-data': b64(this.admin.cert), 'client-key-data': b64(this.admin.key) };
    writeFileSync(file, this.kubeconfigYaml({ user, namespace: options.namespace }), { mode: 0o600 });
  }

  kubeconfigYaml(options: { user: Record<string, string>; namespace?: string | undefined; server?: string | undefined }): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'envtest', cluster: { server: options.server ?? this.url, 'certificate-authority-data': b64(this.ca.cert) } }],
      users: [{ name: 'envtest-user', user: options.user }],
      contexts: [{ name: 'envtest', context: { cluster: 'envtest', user: 'envtest-user', ...(options.namespace ? { namespace: options.namespace } : {}) } }],
      'current-context': 'envtest',
    });
  }

  /** Creates a namespace; one that exists is fine. */
  async createNamespace(name: string): Promise<void> {
    await createOrKeep(KubernetesObjectApi.makeApiClient(this.kubeConfig()), { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  /**
   * A token for the ServiceAccount `namespace/name` (created when missing)
   * through the TokenRequest API, as a pod's projected token would be.
   */
  async tokenFor(namespace: string, name: string, expirationSeconds = 3600): Promise<string> {
    const api = KubernetesObjectApi.makeApiClient(this.kubeConfig());
    await this.createNamespace(namespace);
    await createOrKeep(api, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
    const { CoreV1Api } = await import('@kubernetes/client-node');
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    const review = await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds } } });
    const token = review.status?.token;
    if (token === undefined) throw new Error(`envtest: no token came back for ServiceAccount ${namespace}/${name}`);
    return token;
  }

  /** Applies RBAC and other objects as the admin (create, or keep what exists). */
  async createAll(objects: KubernetesObject[]): Promise<void> {
    const api = KubernetesObjectApi.makeApiClient(this.kubeConfig());
    for (const object of objects) await createOrKeep(api, object);
  }

  /**
   * Installs every CRD in crds/ as generated and waits until each kind is
   * served. The CRDs go over the wire as they are: client-node's typed
   * serializer would drop keys it spells differently (x-kubernetes-validations).
   */
  async installCrds(): Promise<void> {
    const api = KubernetesObjectApi.makeApiClient(this.kubeConfig());
    const kinds: Array<{ apiVersion: string; kind: string }> = [];
    for (const file of readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml')).sort()) {
      for (const doc of parseAllDocuments(readFileSync(join(CRD_DIR, file), 'utf8'))) {
        const crd = doc.toJS() as (KubernetesObject & { spec: { group: string; names: { kind: string }; versions: Array<{ name: string }> } }) | null;
        if (crd === null) continue;
        const res = await this.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
        if (res.status !== 201 && res.status !== 409) throw new Error(`envtest: the API server refused CRD ${crd.metadata?.name ?? file} (${res.status}): ${res.body.slice(0, 2000)}`);
        for (const version of crd.spec.versions) kinds.push({ apiVersion: `${crd.spec.group}/${version.name}`, kind: crd.spec.names.kind });
      }
    }
    const deadline = Date.now() + 30_000;
    for (const { apiVersion, kind } of kinds) {
      for (;;) {
        try {
          await api.list(apiVersion, kind);
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`envtest: ${kind} is not served 30 s after its CRD was created: ${errorMessage(err)}`);
          await sleep(100);
        }
      }
    }
  }

  /** A raw request as the admin: the body goes over the wire exactly as given. */
  async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    const res = await httpsRequest(`${this.url}${path}`, this.ca.cert, this.admin, method, body);
    return { status: res.status, body: res.bytes.toString('utf8') };
  }

  /** A CPU profile of the API server over the next `seconds` (pprof's gzipped protobuf; `--profiling` is on by default). */
  async cpuProfile(seconds: number): Promise<Buffer> {
    const res = await httpsRequest(`${this.url}/debug/pprof/profile?seconds=${seconds}`, this.ca.cert, this.admin, 'GET', undefined, (seconds + 30) * 1000);
    if (res.status !== 200) throw new Error(`envtest: /debug/pprof/profile answered ${res.status}: ${res.bytes.toString('utf8').slice(0, 300)}`);
    return res.bytes;
  }

  /** Stops the API server, then etcd (by PID), and removes the folder; safe to call twice. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await stopProcess(this.#apiServer);
      await stopProcess(this.#etcd);
      rmSync(this.#dir, { recursive: true, force: true });
    })();
    return this.#stopped;
  }

  get pids(): { apiServer?: number; etcd?: number } {
    return { ...(this.#apiServer?.pid ? { apiServer: this.#apiServer.pid } : {}), ...(this.#etcd?.pid ? { etcd: this.#etcd.pid } : {}) };
  }
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

async function createOrKeep(api: KubernetesObjectApi, object: KubernetesObject): Promise<void> {
  try {
    await api.create(object);
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/** The real kubectl fetched by scripts/fetch-tools.sh (or on PATH), or undefined. */
export function findKubectl(): string | undefined {
  const local = join(REPO, '.tools', 'bin', 'kubectl');
  if (existsSync(local)) return local;
  const which = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '' ? which.stdout.trim() : undefined;
}
