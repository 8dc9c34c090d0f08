// The operator's RBAC, least privilege and without wildcards: one definition
// that deploy/rbac.yaml and the Helm chart's RBAC template are generated from.
// Every rule says why the operator needs it; docs/install.md repeats those
// reasons for the people who approve the install.
import { API_GROUP } from '../model/common.js';
import { KINDS, KIND_NAMES } from '../model/kinds.js';
import { GATEHOUSE_LABELS } from './generate.js';

/** Namespace of the plain manifests in deploy/ (the chart uses its release namespace). */
export const OPERATOR_NAMESPACE = 'gatehouse-system';
export const OPERATOR_SERVICE_ACCOUNT = 'gatehouse';
/** ClusterRole, Role and bindings for what the operator always needs. */
export const OPERATOR_ROLE = 'gatehouse-operator';
/** The cluster-scoped part of the operator's access (SubjectAccessReviews). */
export const OPERATOR_CLUSTER_ROLE = 'gatehouse-operator-cluster';
/** ClusterRole, Role and bindings only for a webhook that manages its own certificate. */
export const WEBHOOK_CERTIFICATES_ROLE = 'gatehouse-webhook-certificates';
/** The Lease the operator's replicas elect their leader with. */
export const LEADER_ELECTION_LEASE = 'gatehouse-operator';
export const WEBHOOK_CONFIGURATION_NAME = 'gatehouse';
export const WEBHOOK_TLS_SECRET = 'gatehouse-webhook-tls';
export const WEBHOOK_SERVICE = 'gatehouse-webhook';

/** The user name the API server gives the operator's service account. */
export function operatorUserName(namespace: string): string {
  return `system:serviceaccount:${namespace}:${OPERATOR_SERVICE_ACCOUNT}`;
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** A rule with the reason the operator needs it. */
export interface ExplainedRule {
  rule: PolicyRule;
  why: string;
}

/** How the admission webhook's serving certificate is managed. */
export type WebhookCertificateMode = 'self' | 'certManager';

export interface OperatorRbacOptions {
  namespace: string;
  /**
   * `self`: Gatehouse generates its CA and serving certificate, keeps them in
   * a Secret and injects the CA into the ValidatingWebhookConfiguration, which
   * needs the certificate roles. `certManager`: cert-manager does both, so the
   * operator gets none of that access.
   */
  webhookCertificate: WebhookCertificateMode;
  /** Namespaces the operator watches; empty or absent: all, with a ClusterRoleBinding. */
  watchNamespaces?: readonly string[];
}

const resources = KIND_NAMES.map((kind) => KINDS[kind].plural);

/**
 * Rules on the namespaces the operator watches: bound cluster-wide, or with
 * a RoleBinding in each watched namespace when the watch is limited
 * (the chart's watchNamespaces, `gatehouse run --namespace`).
 */
export function operatorWatchRules(): ExplainedRule[] {
  return [
    {
      rule: { apiGroups: [API_GROUP], resources, verbs: ['get', 'list', 'watch', 'patch'] },
      why: 'Watch the four Gatehouse kinds in the watched namespaces and add or remove the identity-store finalizer (a merge patch; never update). No create or delete: Gatehouse never makes or removes what people declare.',
    },
    {
      rule: { apiGroups: [API_GROUP], resources: resources.map((r) => `${r}/status`), verbs: ['get', 'patch'] },
      why: 'Write status (phase, conditions, counts, expiry) through the status subresource, as a merge patch.',
    },
    {
      rule: { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      why: 'Record events (Invited, Expired, Revoked, rule violations) on the objects; patch folds repeats into one event.',
    },
    {
      rule: { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      why: 'The same events through the core API, for clients and clusters that use core/v1 events.',
    },
  ];
}

/** Rules that are cluster-scoped by nature, bound cluster-wide whatever the watch. */
export function operatorClusterRules(): ExplainedRule[] {
  return [
    {
      rule: { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
      why: 'The admission webhook asks the API server whether the person changing a Member, Role or SupportGrant may assign that role (privilege escalation check). It reveals authorization decisions only, no objects.',
    },
  ];
}

/** Rules in the operator's own namespace it always needs. */
export function operatorNamespaceRules(): ExplainedRule[] {
  return [
    {
      rule: { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      why: 'Create the leader-election Lease the first time. Kubernetes cannot restrict create to a name (the object does not exist yet when it is authorized), so this rule has no resourceNames.',
    },
    {
      rule: { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update'], resourceNames: [LEADER_ELECTION_LEASE] },
      why: `Read and renew only the ${LEADER_ELECTION_LEASE} Lease, so one replica reconciles at a time.`,
    },
  ];
}

/** Cluster-wide rules for a webhook that injects its own CA (certificate mode `self`). */
export function webhookCertificateClusterRules(): ExplainedRule[] {
  return [
    {
      rule: {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'],
        verbs: ['get', 'patch', 'update'],
        resourceNames: [WEBHOOK_CONFIGURATION_NAME],
      },
      why: `Inject the CA bundle into the ${WEBHOOK_CONFIGURATION_NAME} Validating- and MutatingWebhookConfigurations, and no others. The operator reads it again every minute (get, not list or watch) and repairs a bundle a Helm upgrade reset, so it needs no list or watch, which could not be limited to one name.`,
    },
  ];
}

/** Rules in the operator's namespace for a webhook that keeps its own certificate (mode `self`). */
export function webhookCertificateNamespaceRules(): ExplainedRule[] {
  return [
    {
      rule: { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      why: `Create the ${WEBHOOK_TLS_SECRET} Secret holding the generated CA and serving certificate, so every replica serves the same one. Create cannot be restricted to a name; the operator reads no other Secret.`,
    },
    {
      rule: { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'update', 'patch'], resourceNames: [WEBHOOK_TLS_SECRET] },
      why: `Read and rotate only the ${WEBHOOK_TLS_SECRET} Secret.`,
    },
  ];
}

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** One RBAC object and, for roles, why each of its rules exists. */
export interface RbacObject {
  object: KubernetesObject;
  /** For ClusterRoles and Roles: the reason of each rule, in order. */
  reasons?: string[];
  /** Only needed when the webhook manages its own certificate. */
  certificateModeSelfOnly: boolean;
  /** The cluster-wide binding of the watch rules: RoleBindings per namespace replace it when the watch is limited. */
  watchBinding?: boolean;
}

function metadata(name: string, namespace?: string) {
  return { name, ...(namespace !== undefined ? { namespace } : {}), labels: { ...GATEHOUSE_LABELS } };
}

function role(kind: 'ClusterRole' | 'Role', name: string, rules: ExplainedRule[], namespace?: string) {
  return {
    object: { apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: metadata(name, namespace), rules: rules.map((r) => r.rule) },
    reasons: rules.map((r) => r.why),
  };
}

/**
 * A binding of `name` to the operator's ServiceAccount (in `namespace`). A
 * RoleBinding refers to the Role of that name, or with `bindingNamespace` to
 * the ClusterRole, granted in that namespace only.
 */
function binding(kind: 'ClusterRoleBinding' | 'RoleBinding', name: string, namespace: string, bindingNamespace?: string): KubernetesObject {
  const roleKind = kind === 'ClusterRoleBinding' || bindingNamespace !== undefined ? 'ClusterRole' : 'Role';
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: metadata(name, kind === 'RoleBinding' ? (bindingNamespace ?? namespace) : undefined),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name },
    subjects: [{ kind: 'ServiceAccount', name: OPERATOR_SERVICE_ACCOUNT, namespace }],
  };
}

/**
 * The RoleBinding that grants the watch rules in one watched namespace. Its
 * own name: the operator's namespace may be watched too, and already has a
 * RoleBinding named after the operator's Role.
 */
export function watchedNamespaceBinding(namespace: string, watched: string): KubernetesObject {
  const object = binding('RoleBinding', OPERATOR_ROLE, namespace, watched);
  return { ...object, metadata: { ...object.metadata, name: `${OPERATOR_ROLE}-watch` } };
}

/** Every RBAC object, whatever the certificate mode, each marked with whether it is for mode `self` only. */
export function operatorRbacObjects(namespace: string): RbacObject[] {
  return [
    {
      object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(OPERATOR_SERVICE_ACCOUNT, namespace) },
      certificateModeSelfOnly: false,
    },
    { ...role('ClusterRole', OPERATOR_ROLE, operatorWatchRules()), certificateModeSelfOnly: false },
    { object: binding('ClusterRoleBinding', OPERATOR_ROLE, namespace), certificateModeSelfOnly: false, watchBinding: true },
    { ...role('ClusterRole', OPERATOR_CLUSTER_ROLE, operatorClusterRules()), certificateModeSelfOnly: false },
    { object: binding('ClusterRoleBinding', OPERATOR_CLUSTER_ROLE, namespace), certificateModeSelfOnly: false },
    { ...role('Role', OPERATOR_ROLE, operatorNamespaceRules(), namespace), certificateModeSelfOnly: false },
    { object: binding('RoleBinding', OPERATOR_ROLE, namespace), certificateModeSelfOnly: false },
    { ...role('ClusterRole', WEBHOOK_CERTIFICATES_ROLE, webhookCertificateClusterRules()), certificateModeSelfOnly: true },
    { object: binding('ClusterRoleBinding', WEBHOOK_CERTIFICATES_ROLE, namespace), certificateModeSelfOnly: true },
    { ...role('Role', WEBHOOK_CERTIFICATES_ROLE, webhookCertificateNamespaceRules(), namespace), certificateModeSelfOnly: true },
    { object: binding('RoleBinding', WEBHOOK_CERTIFICATES_ROLE, namespace), certificateModeSelfOnly: true },
  ];
}

/** The RBAC objects the operator needs in one configuration. */
export function buildOperatorRbac(options: OperatorRbacOptions): KubernetesObject[] {
  const watched = options.watchNamespaces ?? [];
  return operatorRbacObjects(options.namespace)
    .filter((entry) => options.webhookCertificate === 'self' || !entry.certificateModeSelfOnly)
    .flatMap((entry) =>
      entry.watchBinding === true && watched.length > 0 ? watched.map((ns) => watchedNamespaceBinding(options.namespace, ns)) : [entry.object],
    );
}

export interface RbacProblem {
  object: string;
  message: string;
}

/** Wildcards and other over-broad grants: what a least-privilege review would reject. */
export function checkLeastPrivilege(objects: readonly KubernetesObject[]): RbacProblem[] {
  const problems: RbacProblem[] = [];
  for (const object of objects) {
    const name = `${object.kind} ${object.metadata.name}`;
    const rules = (object.rules ?? []) as PolicyRule[];
    rules.forEach((rule, i) => {
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames'] as const) {
        for (const value of rule[field] ?? []) {
          if (value.includes('*')) problems.push({ object: name, message: `rules[${i}].${field} contains the wildcard ${JSON.stringify(value)}; list what is needed` });
        }
      }
      if ('nonResourceURLs' in rule) problems.push({ object: name, message: `rules[${i}] grants non-resource URLs, which the operator never needs` });
      for (const dangerous of ['escalate', 'bind', 'impersonate', 'delete', 'deletecollection']) {
        if (rule.verbs.includes(dangerous)) problems.push({ object: name, message: `rules[${i}] grants ${dangerous}, which the operator never needs` });
      }
      if (rule.resources.includes('secrets') && rule.verbs.some((v) => v === 'list' || v === 'watch')) {
        problems.push({ object: name, message: `rules[${i}] lets the operator list or watch Secrets, which would expose every Secret in scope` });
      }
      if (object.kind === 'ClusterRole' && rule.resources.includes('secrets')) {
        problems.push({ object: name, message: `rules[${i}] grants Secrets cluster-wide; keep Secret access in the namespaced Role` });
      }
    });
  }
  return problems;
}
