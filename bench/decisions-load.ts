// The load generator of the decisions bench, in a process of its own (pinned to
// its own core when the machine allows), so it never shares an event loop or a
// core with the server it measures. It takes one JSON command per line on stdin
// and answers one JSON line on stdout:
//
//   {"kind":"closed","url":…,"seconds":…,"connections":…}
//     Closed loop: each keep-alive connection has one request in flight, the
//     next sent when the answer arrives. Gives the most requests per second.
//   {"kind":"open","url":…,"seconds":…,"rate":…,"connections":…,"warmupSeconds":…}
//     Open loop at a fixed rate (as wrk2 does): request i is due at start +
//     i/rate whatever happened before, and its latency is counted from that
//     due time, not from when it was sent, so a stall is charged to every
//     request that should have gone out during it (no coordinated omission).
//     The first warmupSeconds run at the same rate on the same connections and
//     are not counted: the measured window is the steady state, not the
//     opening of the connections.
//
// Connections are keep-alive sockets with prebuilt requests (see Connections); every answer must be a 200.
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { connect, type Socket } from 'node:net';

export interface ClosedLoopResult {
  rps: number;
  requests: number;
  failures: number;
  /** Latency of each answer at this load, from send to answer (ms). */
  p50: number;
  p99: number;
  /** Share of one core this process used while it ran. */
  generatorCpu: number;
}

export interface OpenLoopResult {
  rate: number;
  /** Seconds at the rate before the measured window, on the same connections, not counted. */
  warmupSeconds: number;
  /** Requests answered per second over the measured window, from its first due time to the last answer. */
  achievedRps: number;
  requests: number;
  failures: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** How far behind its schedule the generator sent a request, at worst (ms); counted in the latencies. */
  maxSendLagMs: number;
  generatorCpu: number;
}

const WORKSPACES = Number(process.env.DECISIONS_BENCH_WORKSPACES ?? 1000);
const MEMBERS = Number(process.env.DECISIONS_BENCH_MEMBERS_PER_WORKSPACE ?? 100);

/** Check requests spread over every workspace and many members; a quarter ask for a permission viewers lack. */
export function checkBodies(count: number, workspaces = WORKSPACES, members = MEMBERS): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    // Every workspace in turn, and a different member of it on each pass: 20,000 bodies name 20,000 members.
    const w = i % workspaces;
    const m = (Math.floor(i / workspaces) * 37 + w * 7) % members;
    out.push(JSON.stringify({ workspace: `tenant-${w}`, subject: `m${m}@ws-${w}.example`, permission: i % 4 === 0 ? 'create-segment' : 'view-dashboard', ip: '203.0.113.9', loginMethod: 'local', mfa: true, idleSeconds: 60 }));
  }
  return out;
}

const PAYLOADS = checkBodies(20_000);

/**
 * Keep-alive HTTP/1.1 connections that send prebuilt requests and read only the status line and
 * Content-Length of each answer: a few microseconds of the generator's CPU per request (undici
 * spent about ten times that, enough to make the generator, not the server, the limit).
 */
class Connections {
  readonly #idle: Conn[] = [];
  readonly #all: Conn[] = [];
  /** Requests due while every connection was busy, oldest first from #firstWaiting (a queue, not shift(): it can hold a whole backlog). */
  #waiting: Array<{ request: Buffer; done: (status: number) => void }> = [];
  #firstWaiting = 0;

  private constructor() {}

  static async open(url: string, count: number): Promise<Connections> {
    const { hostname, port } = new URL(url);
    const pool = new Connections();
    await Promise.all(
      Array.from({ length: count }, async () => {
        const conn = await Conn.open(hostname, Number(port), () => pool.#next(conn));
        pool.#all.push(conn);
        pool.#idle.push(conn);
      }),
    );
    return pool;
  }

  /** Sends on an idle connection, or queues until one is free (the wait counts in the latency). */
  send(request: Buffer, done: (status: number) => void): void {
    const conn = this.#idle.pop();
    if (conn === undefined) this.#waiting.push({ request, done });
    else conn.send(request, done);
  }

  #next(conn: Conn): void {
    const queued = this.#waiting[this.#firstWaiting];
    if (queued === undefined) {
      this.#idle.push(conn);
      return;
    }
    this.#firstWaiting += 1;
    if (this.#firstWaiting === this.#waiting.length) {
      this.#waiting = [];
      this.#firstWaiting = 0;
    }
    conn.send(queued.request, queued.done);
  }

  close(): void {
    for (const conn of this.#all) conn.close();
  }
}

const READ_BUFFER = Buffer.alloc(64 * 1024);
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const CONTENT_LENGTH = [Buffer.from('\r\ncontent-length:', 'latin1'), Buffer.from('\r\nContent-Length:', 'latin1')];

/** The body length an answer's head declares (its headers end at `headerEnd`); 0 when it declares none. */
function contentLength(data: Buffer, headerEnd: number): number {
  for (const name of CONTENT_LENGTH) {
    const at = data.indexOf(name);
    if (at < 0 || at >= headerEnd) continue;
    let length = 0;
    for (let i = at + name.length; i < headerEnd; i++) {
      const c = data[i] as number;
      if (c >= 48 && c <= 57) length = length * 10 + (c - 48);
      else if (c !== 32 || length > 0) break;
    }
    return length;
  }
  return 0;
}

/**
 * One keep-alive connection with at most one request in flight. Answers are read as bytes (the
 * status from the status line, the length from Content-Length), never decoded to text: the
 * generator's own work and garbage per answer stay small, so its pauses do not show up as the
 * server's latency.
 */
class Conn {
  #unread: Buffer | undefined;
  #done: ((status: number) => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly onIdle: () => void,
  ) {
    socket.setNoDelay(true);
    socket.on('error', () => this.#fail());
    socket.on('close', () => this.#fail());
  }

  static open(host: string, port: number, onIdle: () => void): Promise<Conn> {
    return new Promise((resolve, reject) => {
      let conn: Conn | undefined;
      // Answers are read into one buffer that every connection reuses (handled before the next read),
      // not a new buffer per read: the generator's collections stay short.
      const onread = { buffer: READ_BUFFER, callback: (length: number, buffer: Uint8Array) => {
          if (conn !== undefined) conn.#read(buffer.subarray(0, length) as Buffer);
          return true;
        },
      };
      const socket = connect({ host, port, onread }, () => {
        conn = new Conn(socket, onIdle);
        resolve(conn);
      });
      socket.once('error', reject);
    });
  }

  send(request: Buffer, done: (status: number) => void): void {
    this.#done = done;
    this.socket.write(request);
  }

  #read(chunk: Buffer): void {
    const data = this.#unread === undefined ? chunk : Buffer.concat([this.#unread, chunk]);
    const headerEnd = data.indexOf(HEADER_END);
    const total = headerEnd < 0 ? Infinity : headerEnd + 4 + contentLength(data, headerEnd);
    if (data.length < total) {
      // The read buffer is reused: keep a copy of the part read so far.
      this.#unread = Buffer.from(data);
      return;
    }
    // "HTTP/1.1 200 ": the status is bytes 9 to 11.
    const status = ((data[9] as number) - 48) * 100 + ((data[10] as number) - 48) * 10 + ((data[11] as number) - 48);
    this.#unread = data.length > total ? Buffer.from(data.subarray(total)) : undefined;
    const done = this.#done;
    this.#done = undefined;
    done?.(status);
    this.onIdle();
  }

  #fail(): void {
    const done = this.#done;
    this.#done = undefined;
    done?.(0);
  }

  close(): void {
    this.socket.destroy();
  }
}

const built = new Map<string, Buffer[]>();

/**
 * Each body as a whole HTTP request, built once per server and token, as views of one buffer: twenty
 * thousand buffers of their own made the generator's first collections of a run take several
 * milliseconds, counted as the server's latency.
 */
function requests(url: string, token: string): Buffer[] {
  const key = `${url} ${token}`;
  const cached = built.get(key);
  if (cached !== undefined) return cached;
  const { host } = new URL(url);
  const texts = PAYLOADS.map(
    (body) => `POST /v1/check HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  const all = Buffer.from(texts.join(''), 'latin1');
  let offset = 0;
  const views = texts.map((text) => all.subarray(offset, (offset += text.length)));
  built.set(key, views);
  return views;
}

function cpuShare(startCpu: NodeJS.CpuUsage, startWall: number): number {
  const used = process.cpuUsage(startCpu);
  return (used.user + used.system) / 1000 / (performance.now() - startWall);
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** Collects the generator's own garbage between runs (when run with --expose-gc): a run's leftovers are not collected in the middle of the next. */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export async function closedLoop(url: string, token: string, seconds: number, connections: number): Promise<ClosedLoopResult> {
  collectGarbage();
  const pool = await Connections.open(url, connections);
  const prebuilt = requests(url, token);
  const cpu = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  let answered = 0;
  let failures = 0;
  let next = 0;
  // Room for 200,000 answers a second, far above what one core answers.
  const latencies = new Float64Array(Math.ceil(seconds * 200_000));
  await new Promise<void>((resolve) => {
    let running = connections;
    const one = () => {
      const sent = performance.now();
      pool.send(prebuilt[next++ % prebuilt.length] as Buffer, (status) => {
        if (status === 200) latencies[answered++] = performance.now() - sent;
        else failures += 1;
        if (status !== 0 && performance.now() < end) one();
        else if (--running === 0) resolve();
      });
    };
    for (let i = 0; i < connections; i++) one();
  });
  const elapsed = performance.now() - start;
  const generatorCpu = cpuShare(cpu, start);
  pool.close();
  const sorted = latencies.subarray(0, answered).sort();
  return { rps: answered / (elapsed / 1000), requests: answered, failures, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), generatorCpu };
}

export async function openLoop(url: string, token: string, seconds: number, rate: number, connections: number, warmupSeconds = 0): Promise<OpenLoopResult> {
  collectGarbage();
  const pool = await Connections.open(url, connections);
  const prebuilt = requests(url, token);
  const warmup = Math.round(rate * warmupSeconds);
  const total = warmup + Math.max(1, Math.round(rate * seconds));
  const latencies = new Float64Array(total - warmup);
  let answered = 0;
  let failures = 0;
  let sent = 0;
  let settled = 0;
  let maxSendLagMs = 0;
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const start = wall + 5;
  const intervalMs = 1000 / rate;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Send everything due by now; a late tick sends the backlog at once, each still timed from its due time.
      while (sent < total) {
        const due = start + sent * intervalMs;
        if (due > now) break;
        const counted = sent >= warmup;
        if (counted) maxSendLagMs = Math.max(maxSendLagMs, now - due);
        const request = prebuilt[sent % prebuilt.length] as Buffer;
        sent += 1;
        pool.send(request, (status) => {
          if (status !== 200) failures += 1;
          else if (counted) latencies[answered++] = performance.now() - due;
          if (++settled === total) resolve();
        });
      }
      if (sent >= total) return;
      const wait = start + sent * intervalMs - performance.now();
      // Timers are only as fine as a millisecond: close to the next due time, spin through the event loop instead.
      if (wait > 2) setTimeout(tick, wait - 1);
      else setImmediate(tick);
    };
    tick();
  });
  const elapsed = performance.now() - (start + warmup * intervalMs);
  const generatorCpu = cpuShare(cpu, wall);
  pool.close();
  const sorted = latencies.subarray(0, answered).sort();
  return {
    rate,
    warmupSeconds,
    achievedRps: answered / (elapsed / 1000),
    requests: answered,
    failures,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    p999: quantile(sorted, 0.999),
    max: quantile(sorted, 1),
    maxSendLagMs,
    generatorCpu,
  };
}

type Command =
  | { kind: 'closed'; url: string; token: string; seconds: number; connections: number }
  | { kind: 'open'; url: string; token: string; seconds: number; rate: number; connections: number; warmupSeconds?: number };

if (process.env.GATEHOUSE_BENCH_ROLE === 'load') {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const queue: Command[] = [];
  let running = false;
  const drain = async () => {
    if (running) return;
    running = true;
    for (let command = queue.shift(); command !== undefined; command = queue.shift()) {
      const result =
        command.kind === 'closed'
          ? await closedLoop(command.url, command.token, command.seconds, command.connections)
          : await openLoop(command.url, command.token, command.seconds, command.rate, command.connections, command.warmupSeconds);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    }
    running = false;
  };
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      queue.push(JSON.parse(line) as Command);
      void drain();
    })
    .on('close', () => process.exit(0));
}
