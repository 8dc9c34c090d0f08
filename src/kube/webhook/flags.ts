// The webhook's command-line flags for `gatehouse run`, and their translation
// into startAdmissionWebhook's options. `gatehouse run` registers them with
// registerWebhookFlags(command) and passes webhookOptionsFromFlags(opts, ...)
// plus the index, profile, clock, kubeConfig, logger and registry it owns.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { errorMessage, UsageError } from '../../util/errors.js';
import { servingHosts } from './certificates.js';
import { DEFAULT_WEBHOOK_SECRET } from './certificate-secret.js';
import { DEFAULT_WEBHOOK_CONFIG_NAME, webhookUrl } from './registration.js';
import { DEFAULT_WEBHOOK_LISTEN, parseListenAddress, type AdmissionWebhookOptions } from './server.js';

/** What commander hands over for the webhook flags (camel-cased names). */
export interface WebhookFlags {
  /** true with --webhook, false with --no-webhook, undefined with neither. */
  webhook?: boolean;
  webhookListen?: string;
  webhookCertDir?: string;
  webhookSelfSigned?: boolean;
  webhookSecret?: string;
  webhookConfigName?: string;
  webhookService?: string;
  webhookUrl?: string;
  webhookClientCa?: string;
}

/** The part of AdmissionWebhookOptions the flags decide. */
export type WebhookSettings = Pick<AdmissionWebhookOptions, 'listen' | 'tls' | 'registration' | 'clientCa'>;

export function registerWebhookFlags(command: Command): Command {
  return command
    .option('--webhook', 'serve the admission webhook; implied by --webhook-cert-dir, --webhook-self-signed and --webhook-url')
    .option('--no-webhook', 'do not serve the admission webhook (the default when no certificate flag is given; the reconciler still enforces the rules)')
    .option('--webhook-listen <addr>', 'address the admission webhook listens on: HOST:PORT, :PORT or [IPv6]:PORT', DEFAULT_WEBHOOK_LISTEN)
    .option('--webhook-cert-dir <dir>', 'directory with tls.crt and tls.key (and ca.crt), e.g. a mounted cert-manager Secret; reloaded when the files change')
    .option('--webhook-self-signed', 'generate a CA and serving certificate, keep them in --webhook-secret, rotate them and inject the CA into --webhook-config-name')
    .option('--webhook-secret <name>', 'Secret (in the operator\'s namespace) that holds self-signed webhook certificates', DEFAULT_WEBHOOK_SECRET)
    .option('--webhook-config-name <name>', 'ValidatingWebhookConfiguration to inject the CA bundle into (or to register with --webhook-url)', DEFAULT_WEBHOOK_CONFIG_NAME)
    .option('--webhook-service <name>', 'Service in front of the webhook in the cluster; its DNS names go into the self-signed certificate')
    .option('--webhook-url <url>', 'development outside a cluster: register --webhook-config-name pointing at this https URL (path /validate) with Gatehouse\'s own CA bundle')
    .option('--webhook-client-ca <file>', 'PEM CA bundle: accept only clients with a certificate it signed (the API server\'s, set in its AdmissionConfiguration); default: any client');
}

/**
 * Turns the flags into webhook settings; undefined with --no-webhook, or when
 * nothing asks for the webhook (no --webhook and no certificate flag). Throws
 * UsageError for combinations that cannot work, naming the flags to use.
 * `namespace` is the operator's namespace (the Secret's and the Service's).
 */
export function webhookOptionsFromFlags(flags: WebhookFlags, context: { namespace: string }): WebhookSettings | undefined {
  if (flags.webhook === false) return undefined;
  const asked = flags.webhook === true || flags.webhookCertDir !== undefined || flags.webhookSelfSigned === true || flags.webhookUrl !== undefined;
  if (!asked) return undefined;
  const listen = flags.webhookListen ?? DEFAULT_WEBHOOK_LISTEN;
  try {
    parseListenAddress(listen);
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
  let url: string | undefined;
  if (flags.webhookUrl !== undefined) {
    try {
      url = webhookUrl(flags.webhookUrl);
    } catch (err) {
      throw new UsageError(errorMessage(err));
    }
  }
  if (flags.webhookCertDir !== undefined && flags.webhookSelfSigned === true) {
    throw new UsageError('--webhook-cert-dir and --webhook-self-signed exclude each other: use files from a mounted Secret, or let Gatehouse generate them');
  }
  // Outside a cluster with no certificate given, Gatehouse makes its own.
  const selfSigned = flags.webhookSelfSigned === true || (flags.webhookCertDir === undefined && url !== undefined);
  if (!selfSigned && flags.webhookCertDir === undefined) {
    throw new UsageError(
      'the admission webhook (--webhook) needs a serving certificate: add --webhook-cert-dir DIR (a mounted cert-manager or Helm Secret), --webhook-self-signed --webhook-service NAME (in a cluster) or --webhook-url URL (outside one); or drop --webhook to run without it',
    );
  }
  const configName = flags.webhookConfigName ?? DEFAULT_WEBHOOK_CONFIG_NAME;
  let tls: WebhookSettings['tls'];
  if (selfSigned) {
    if (flags.webhookService === undefined && url === undefined) {
      throw new UsageError('--webhook-self-signed needs --webhook-service NAME (in a cluster) or --webhook-url URL (outside one) to know the names the certificate is for');
    }
    tls = {
      selfSigned: {
        namespace: context.namespace,
        secretName: flags.webhookSecret ?? DEFAULT_WEBHOOK_SECRET,
        hosts: servingHosts({
          ...(flags.webhookService !== undefined ? { service: { name: flags.webhookService, namespace: context.namespace } } : {}),
          ...(url !== undefined ? { url } : {}),
        }),
      },
    };
  } else {
    tls = { certDir: flags.webhookCertDir as string };
  }
  // Development registers the whole configuration; in a cluster the Helm chart
  // owns it and Gatehouse only fills in the CA of certificates it made.
  const registration: WebhookSettings['registration'] =
    url !== undefined ? { register: { name: configName, url } } : selfSigned ? { injectCaBundleInto: configName } : undefined;
  let clientCa: string | undefined;
  if (flags.webhookClientCa !== undefined) {
    try {
      clientCa = readFileSync(flags.webhookClientCa, 'utf8');
    } catch (err) {
      throw new UsageError(`--webhook-client-ca: cannot read ${flags.webhookClientCa}: ${errorMessage(err)}`);
    }
    if (!clientCa.includes('BEGIN CERTIFICATE')) throw new UsageError(`--webhook-client-ca: ${flags.webhookClientCa} holds no PEM certificate; give the CA that signs the API server's client certificate`);
  }
  return { listen, tls, ...(registration !== undefined ? { registration } : {}), ...(clientCa !== undefined ? { clientCa } : {}) };
}
