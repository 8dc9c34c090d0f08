// The baseline of the decisions bench: a bare node:http server answering every
// request with one fixed JSON body, over keep-alive connections. Run with plain
// node (type stripping, no loader); it prints its URL as one JSON line.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const body = process.env.DECISIONS_BENCH_BARE_BODY ?? '{"decision":"allow","reason":"role-grants-permission","validUntil":"2026-01-01T00:00:00.000Z"}';
const length = Buffer.byteLength(body);
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': length, 'cache-control': 'no-store' });
    res.end(body);
  });
});
server.keepAliveTimeout = 72_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
