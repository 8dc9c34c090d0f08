// The container image, run with podman: `validate` on the examples, and `gatehouse run` against
// a real API server (envtest) until a Member is Ready, then a SIGTERM that must end it with exit
// code 0 before podman's 10-second grace period runs out (after it podman sends SIGKILL: 137).
// The image is built by `scripts/container-image.sh all` (.ci/run does it); where podman or the
// image is missing, the suite reports itself skipped and why.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aMember, aWorkspace } from '../src/rules/testing/builders.js';
import { Envtest, envtestSkipReason } from './support/envtest.js';
import { freePort } from './support/postgres.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const IMAGE = process.env.GATEHOUSE_IMAGE ?? 'localhost/gatehouse:ci';
const NAMESPACE = 'image-test';

function podman(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync('podman', args, { encoding: 'utf8', timeout: 120_000 });
  return { code: result.error !== undefined ? null : result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? result.error?.message ?? '' };
}

/** Why the image cannot be run here, or undefined when it can. */
function imageSkipReason(): string | undefined {
  const info = podman(['info', '--format', '{{.Host.OCIRuntime.Name}}']);
  if (info.code === null) return 'podman is not installed (scripts/container-image.sh setup installs it on Debian)';
  if (info.code !== 0) return `podman cannot run here: ${info.stderr.trim().split('\n')[0]}`;
  if (podman(['image', 'exists', IMAGE]).code !== 0) return `image ${IMAGE} is not built: run scripts/container-image.sh all`;
  return undefined;
}

const skipReason = imageSkipReason();
const title = skipReason === undefined ? `image ${IMAGE}` : `image ${IMAGE} (skipped: ${skipReason})`;

describe.skipIf(skipReason !== undefined)(title, () => {
  it('runs as a non-root numeric user and reports its size', () => {
    const inspect = podman(['image', 'inspect', IMAGE, '--format', '{{.Config.User}} {{.Size}}']);
    expect(inspect.code).toBe(0);
    const [user, size] = inspect.stdout.trim().split(' ');
    expect(user).toBe('65532:65532');
    process.stdout.write(`image ${IMAGE}: ${(Number(size) / 1e6).toFixed(0)} MB\n`);
  });

  it('validates the examples on a read-only root filesystem, exit codes as outside', () => {
    const examples = `${join(root, 'examples')}:/examples:ro`;
    const good = podman(['run', '--rm', '--read-only', '--network', 'none', '-v', examples, IMAGE, 'validate', '/examples/acme']);
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^0 errors, 0 warnings in \d+ objects from 4 files/m);
    const bad = podman(['run', '--rm', '--read-only', '--network', 'none', '-v', examples, IMAGE, 'validate', '/examples/invalid']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/error UnknownPermission Role unknown-permission\/analyst/);
  }, 180_000);

  describe.skipIf(envtestSkipReason() !== undefined)(`run against an API server${envtestSkipReason() === undefined ? '' : ` (skipped: ${envtestSkipReason()})`}`, () => {
    let env: Envtest;
    let dir: string;
    let operator: ChildProcess | undefined;
    const name = `gatehouse-image-test-${process.pid}`;

    beforeAll(async () => {
      env = await Envtest.start();
      dir = mkdtempSync(join(tmpdir(), 'gatehouse-image-'));
      env.writeKubeconfig(join(dir, 'kubeconfig'), { namespace: NAMESPACE });
      // The container's user (65532) reads it through the bind mount; the folder is this test's own.
      chmodSync(dir, 0o755);
      chmodSync(join(dir, 'kubeconfig'), 0o644);
      await env.createNamespace(NAMESPACE);
    }, 120_000);

    afterAll(async () => {
      podman(['rm', '-f', name]);
      operator?.kill('SIGKILL');
      await env?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('reconciles a Member to Ready, then stops on SIGTERM with exit code 0 within the grace period', async () => {
      const [metricsPort, probePort] = [await freePort(), await freePort()];
      operator = spawn(
        'podman',
        [
          'run', '--name', name, '--read-only', '--network', 'host', '-v', `${dir}:/config:ro`, IMAGE,
          'run', '--no-webhook', '--kubeconfig', '/config/kubeconfig', '--store', 'sqlite:/tmp/gatehouse.db',
          '--metrics-listen', `127.0.0.1:${metricsPort}`, '--probe-listen', `127.0.0.1:${probePort}`,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      operator.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));

      const api = KubernetesObjectApi.makeApiClient(env.kubeConfig());
      const objects = [aWorkspace({ namespace: NAMESPACE }), aMember({ namespace: NAMESPACE })];
      for (const object of objects) await api.create(object as unknown as KubernetesObject);

      const deadline = Date.now() + 90_000;
      let ready: unknown;
      while (ready === undefined) {
        const member = (await api.read({ apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Member', metadata: { name: 'alice', namespace: NAMESPACE } })) as {
          status?: { conditions?: Array<{ type: string; status: string }> };
        };
        ready = member.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
        if (ready === undefined) {
          if (Date.now() > deadline || operator.exitCode !== null) throw new Error(`Member never became Ready; operator said:\n${stderr}`);
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }

      // podman stop sends SIGTERM and, 10 s later, SIGKILL (exit code 137).
      const exited = new Promise<number | null>((resolve) => operator!.on('exit', (code) => resolve(code)));
      const stop = podman(['stop', '--time', '10', name]);
      expect(stop.code).toBe(0);
      const exitCode = podman(['inspect', name, '--format', '{{.State.ExitCode}}']).stdout.trim();
      expect(exitCode, stderr).toBe('0');
      expect(await exited).toBe(0);
    }, 180_000);
  });
});
