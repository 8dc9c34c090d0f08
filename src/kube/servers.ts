// The operator's two small HTTP servers: probes (/healthz, /readyz) and
// Prometheus metrics (/metrics). Plain node:http: nothing here needs more.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../util/errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** ":8081" (all interfaces), "127.0.0.1:8081", "[::1]:8081", "8081"; "" or "0" turns the server off. */
export function parseListenAddress(text: string, flag: string): ListenAddress | undefined {
  const value = text.trim();
  if (value === '' || value === '0' || value === 'off') return undefined;
  const match = /^(?:\[([^\]]+)\]:|([^:\[\]]*):)?(\d+)$/.exec(value);
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${flag} "${text}" is not an address: use :PORT, HOST:PORT or [IPv6]:PORT (for example :8081)`);
  }
  const host = match[1] ?? (match[2] === undefined || match[2] === '' ? '0.0.0.0' : match[2]);
  return { host, port };
}

export interface RunningServer {
  /** http://host:port, with the port actually bound. */
  url: string;
  port: number;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export async function startServer(address: ListenAddress, handler: Handler): Promise<RunningServer> {
  const server: Server = createServer((req, res) => {
    handler(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}`,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void> | void;
  /** Reported in /readyz but never makes it fail (the store, when this pod serves the webhook). */
  informational?: boolean;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** /healthz: the process serves requests. /readyz: every check passes (each named in the answer). */
export function probeHandler(checks: readonly ReadinessCheck[], timeoutMs = 2000): Handler {
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/livez') {
      send(res, 200, 'ok\n');
      return;
    }
    if (path !== '/readyz') {
      send(res, 404, 'not found\n');
      return;
    }
    const results = await Promise.all(
      checks.map(async ({ name, check, informational }) => {
        try {
          await Promise.race([
            Promise.resolve(check()),
            new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
          ]);
          return { name, ok: true, informational, detail: '' };
        } catch (err) {
          return { name, ok: false, informational, detail: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    const ok = results.every((r) => r.ok || r.informational === true);
    const lines = results.map((r) =>
      r.ok ? `[+] ${r.name} ok` : r.informational ? `[~] ${r.name} failed (not counted): ${r.detail}` : `[-] ${r.name} failed: ${r.detail}`,
    );
    send(res, ok ? 200 : 503, `${lines.join('\n')}\n${ok ? 'ready' : 'not ready'}\n`);
  };
}

export function metricsHandler(text: () => Promise<string>, contentType: string): Handler {
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      send(res, 404, 'not found\n');
      return;
    }
    send(res, 200, await text(), contentType);
  };
}
