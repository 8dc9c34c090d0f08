// Finding 9: the webhook cannot be worn down by slow or oversized bodies.
// Forty connections each start a 4 MB body and go quiet; the server cuts
// every one off (body limit, request and idle timeouts) and the process's
// memory stays bounded. Connections past the cap are closed at once.
import { connect, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { getDefaultProfile } from '../src/model/index.js';
import { createObjectIndex } from '../src/rules/index.js';
import { StaticCertificateSource } from '../src/kube/webhook/certificate-source.js';
import { DEFAULT_MAX_REVIEW_BYTES, startAdmissionWebhook, type AdmissionWebhook } from '../src/kube/webhook/server.js';
import { createTestCertificates } from '../src/kube/webhook/testing.js';
import { ManualClock } from '../src/util/clock.js';

const MiB = 1024 * 1024;
let webhook: AdmissionWebhook | undefined;
afterEach(async () => {
  await webhook?.close();
  webhook = undefined;
});

async function start(limits: Parameters<typeof startAdmissionWebhook>[0]['limits']): Promise<{ port: number; ca: string }> {
  const { ca, serving } = await createTestCertificates();
  webhook = await startAdmissionWebhook({
    listen: '127.0.0.1:0',
    tls: { source: new StaticCertificateSource(serving) },
    index: createObjectIndex([]),
    profile: getDefaultProfile(),
    clock: new ManualClock('2026-06-01T00:00:00Z'),
    authorizer: { review: async () => ({ allowed: true }) },
    ...(limits !== undefined ? { limits } : {}),
  });
  return { port: webhook.port, ca: ca.cert };
}

/** Opens a TLS connection and resolves once it is established (or closed first). */
function open(port: number, ca: string): Promise<{ socket: TLSSocket; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    // Read (and drop) what the server answers, so its closing is seen.
    socket.resume();
    socket.once('secureConnect', () => resolve({ socket, closed }));
    socket.once('close', () => resolve({ socket, closed }));
  });
}

describe('webhook limits', () => {
  it('finding 9: forty bodies of 1 MB or 4 MB that go quiet are all cut off and memory stays bounded', async () => {
    const { port, ca } = await start({ requestTimeoutMs: 2_000, headersTimeoutMs: 1_000, idleTimeoutMs: 3_000 });
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const connections = await Promise.all(Array.from({ length: 40 }, () => open(port, ca)));
      // Bodies sent in chunks as fast as the server reads them, then nothing more: they never end.
      // Half send more than the body limit (refused once it is passed), half less and then wait (cut by the request timeout).
      const send = async ({ socket, closed }: { socket: TLSSocket; closed: Promise<void> }, i: number) => {
        const size = i % 2 === 0 ? 4 * MiB : 1 * MiB;
        let done = false;
        void closed.then(() => (done = true));
        socket.write('POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (let sent = 0; sent < size && !done; sent += chunk.length) {
          socket.write(`${chunk.length.toString(16)}\r\n`);
          socket.write(chunk);
          const flowing = socket.write('\r\n');
          // The client keeps no more than the socket's buffer: what is measured is the server.
          if (!flowing) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
        }
        // Each connection must be closed by the server; without limits they stay open and this never resolves.
        await closed;
      };
      await Promise.all(connections.map(send));
    } finally {
      clearInterval(sampler);
    }
    // Each connection may hold at most one body's worth; the issue measured +151 MB without limits.
    const grown = (peak - before) / MiB;
    expect(grown).toBeLessThan((40 * DEFAULT_MAX_REVIEW_BYTES) / MiB + 32);
  });

  it('finding 9: a connection that sends nothing is closed after the headers timeout', async () => {
    const { port, ca } = await start({ headersTimeoutMs: 500, requestTimeoutMs: 1_000, idleTimeoutMs: 60_000 });
    const { socket, closed } = await open(port, ca);
    socket.write('POST /validate HTTP/1.1\r\nHost: localhost\r\n');
    await closed;
    expect(socket.destroyed).toBe(true);
  });

  it('finding 9: connections past the cap are closed at once', async () => {
    const { port, ca } = await start({ maxConnections: 5 });
    const connections = await Promise.all(Array.from({ length: 8 }, () => open(port, ca)));
    const open_ = connections.filter((c) => !c.socket.destroyed && c.socket.authorized);
    expect(open_.length).toBeLessThanOrEqual(5);
    for (const c of connections) c.socket.destroy();
  });
});
