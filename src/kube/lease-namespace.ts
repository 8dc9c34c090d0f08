// Where the leader Lease lives, and a check at start that it can live there.
// Out of a cluster there is no pod namespace, and a Lease namespace that does
// not exist would otherwise leave the operator waiting forever to lead.
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, isNotFound } from './client.js';

/** The namespace a Lease (or the webhook's Secret) goes in when no flag names one. */
export function defaultOperatorNamespace(kubeConfig: KubeConfig, env: NodeJS.ProcessEnv = process.env): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  // In a cluster, client-node fills the context's namespace from the service account's.
  const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext());
  return context?.namespace || 'default';
}

export class LeaseNamespaceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LeaseNamespaceError';
  }
}

/**
 * Proves the Lease can be written where it is meant to be: a dry-run create
 * (nothing is stored) answers 404 only when the namespace does not exist. An
 * existing Lease (409) or a refusal for another reason is left to leader
 * election, which reports and retries it.
 */
export async function checkLeaseNamespace(kubeConfig: KubeConfig, namespace: string, name: string, flag = '--lease-namespace'): Promise<void> {
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  try {
    await api.createNamespacedLease({ namespace, dryRun: 'All', body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace } } });
  } catch (err) {
    const apiError = KubeApiError.from(err, `cannot create the leader Lease ${namespace}/${name}`);
    if (isNotFound(apiError)) {
      throw new LeaseNamespaceError(
        `the leader Lease's namespace "${namespace}" does not exist: create it (kubectl create namespace ${namespace}) or pass ${flag} with a namespace that exists`,
        { cause: err },
      );
    }
  }
}
