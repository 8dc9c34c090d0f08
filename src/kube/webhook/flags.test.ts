import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../util/errors.js';
import { registerWebhookFlags, webhookOptionsFromFlags, type WebhookFlags } from './flags.js';

function parse(args: string[]) {
  const command = registerWebhookFlags(new Command('run').exitOverride());
  command.parse(args, { from: 'user' });
  return webhookOptionsFromFlags(command.opts<WebhookFlags>(), { namespace: 'gatehouse-system' });
}

describe('webhook flags', () => {
  it('in a cluster with cert-manager: files from a directory, nothing registered', () => {
    expect(parse(['--webhook-cert-dir', '/tls'])).toEqual({ listen: ':9443', tls: { certDir: '/tls' } });
  });

  it('in a cluster, self-signed: a Secret, the Service\'s names, CA injected into the configuration', () => {
    const settings = parse(['--webhook-self-signed', '--webhook-service', 'gatehouse-webhook', '--webhook-listen', ':8443']);
    expect(settings).toEqual({
      listen: ':8443',
      tls: {
        selfSigned: {
          namespace: 'gatehouse-system',
          secretName: 'gatehouse-webhook-tls',
          hosts: expect.arrayContaining(['gatehouse-webhook.gatehouse-system.svc', 'gatehouse-webhook.gatehouse-system.svc.cluster.local']),
        },
      },
      registration: { injectCaBundleInto: 'gatehouse' },
    });
  });

  it('in development: a URL registers the configuration, self-signed by default', () => {
    const settings = parse(['--webhook-url', 'https://host.docker.internal:9443', '--webhook-config-name', 'gatehouse-dev', '--webhook-secret', 'dev-tls']);
    expect(settings?.registration).toEqual({ register: { name: 'gatehouse-dev', url: 'https://host.docker.internal:9443/validate' } });
    expect(settings?.tls).toMatchObject({ selfSigned: { secretName: 'dev-tls', hosts: expect.arrayContaining(['host.docker.internal', '127.0.0.1']) } });
  });

  it.each([[[]], [['--no-webhook']], [['--webhook-listen', ':8443']], [['--webhook', '--no-webhook', '--webhook-cert-dir', '/tls']]])(
    'is off with %j: nothing asks for it, or --no-webhook has the last word',
    (args) => {
      expect(parse(args)).toBeUndefined();
    },
  );

  it('--webhook with a certificate flag turns it on', () => {
    expect(parse(['--webhook', '--webhook-cert-dir', '/tls'])).toEqual({ listen: ':9443', tls: { certDir: '/tls' } });
  });

  it.each([
    [['--webhook'], /needs a serving certificate: add --webhook-cert-dir DIR .*, --webhook-self-signed .* or --webhook-url URL/],
    [['--webhook-self-signed'], /needs --webhook-service NAME .* or --webhook-url URL/],
    [['--webhook-self-signed', '--webhook-cert-dir', '/tls', '--webhook-service', 's'], /exclude each other/],
    [['--webhook-url', 'http://127.0.0.1:9443/validate'], /must use https/],
    [['--webhook-url', 'not a url'], /is not a URL/],
    [['--webhook-cert-dir', '/tls', '--webhook-listen', 'localhost'], /is not an address; use HOST:PORT, :PORT or \[IPv6\]:PORT/],
  ])('refuses %j with a usage error naming the fix', (args, message) => {
    expect(() => parse(args)).toThrow(UsageError);
    expect(() => parse(args)).toThrow(message);
  });
});
