// Summarises Go CPU profiles (pprof's gzipped protobuf, as kube-apiserver
// serves at /debug/pprof/profile): where the API server's CPU went, by kind
// of work and by function. Decodes only the fields it needs, so no Go
// toolchain is needed.
//
//   npx tsx bench/pprof-summary.ts FILE.pb.gz [FILE.pb.gz ...]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { shareRows } from './report.js';

/** One decoded profile: each sample's stack (function names, leaf first) and its CPU nanoseconds. */
export interface GoCpuProfile {
  samples: Array<{ stack: string[]; nanoseconds: number }>;
}

const UTF8 = new TextDecoder();

class ProtoReader {
  #pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.#pos >= this.bytes.length;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const byte = this.bytes[this.#pos++];
      if (byte === undefined) throw new Error('pprof: truncated varint');
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
  }

  /** The next field: its number, and a varint value or a length-delimited slice. */
  field(): { number: number; value: number; bytes: Uint8Array | undefined } {
    const key = this.varint();
    const number = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        return { number, value: this.varint(), bytes: undefined };
      case 2: {
        const length = this.varint();
        const bytes = this.bytes.subarray(this.#pos, this.#pos + length);
        this.#pos += length;
        return { number, value: 0, bytes };
      }
      case 1:
        this.#pos += 8;
        return { number, value: 0, bytes: undefined };
      case 5:
        this.#pos += 4;
        return { number, value: 0, bytes: undefined };
      default:
        throw new Error(`pprof: wire type ${key & 7} is not protobuf`);
    }
  }
}

/** A repeated varint field, packed or not. */
function pushVarints(target: number[], field: { value: number; bytes: Uint8Array | undefined }): void {
  if (field.bytes === undefined) {
    target.push(field.value);
    return;
  }
  const packed = new ProtoReader(field.bytes);
  while (!packed.done) target.push(packed.varint());
}

/** Decodes a (gzipped or plain) pprof profile, taking the CPU nanoseconds of each sample. */
export function decodeGoCpuProfile(data: Uint8Array): GoCpuProfile {
  const bytes = data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  const strings: string[] = [];
  const sampleTypes: number[] = [];
  const rawSamples: Array<{ locations: number[]; values: number[] }> = [];
  const locations = new Map<number, number[]>(); // location id -> function ids, innermost first
  const functions = new Map<number, number>(); // function id -> name string index
  const profile = new ProtoReader(bytes);
  while (!profile.done) {
    const f = profile.field();
    if (f.bytes === undefined) continue;
    const inner = new ProtoReader(f.bytes);
    switch (f.number) {
      case 1: {
        // ValueType { type = 1 (string index) }
        while (!inner.done) {
          const g = inner.field();
          if (g.number === 1) sampleTypes.push(g.value);
        }
        break;
      }
      case 2: {
        // Sample { location_id = 1, value = 2 }
        const sample = { locations: [] as number[], values: [] as number[] };
        while (!inner.done) {
          const g = inner.field();
          if (g.number === 1) pushVarints(sample.locations, g);
          else if (g.number === 2) pushVarints(sample.values, g);
        }
        rawSamples.push(sample);
        break;
      }
      case 4: {
        // Location { id = 1, line = 4 { function_id = 1 } }
        let id = 0;
        const lines: number[] = [];
        while (!inner.done) {
          const g = inner.field();
          if (g.number === 1) id = g.value;
          else if (g.number === 4 && g.bytes !== undefined) {
            const line = new ProtoReader(g.bytes);
            while (!line.done) {
              const h = line.field();
              if (h.number === 1) lines.push(h.value);
            }
          }
        }
        locations.set(id, lines);
        break;
      }
      case 5: {
        // Function { id = 1, name = 2 }
        let id = 0;
        let name = 0;
        while (!inner.done) {
          const g = inner.field();
          if (g.number === 1) id = g.value;
          else if (g.number === 2) name = g.value;
        }
        functions.set(id, name);
        break;
      }
      case 6:
        strings.push(UTF8.decode(f.bytes));
        break;
      default:
        break;
    }
  }
  // CPU profiles carry [samples/count, cpu/nanoseconds]; take the nanoseconds.
  const valueIndex = Math.max(0, sampleTypes.findIndex((t) => strings[t] === 'cpu'));
  const functionName = (id: number) => strings[functions.get(id) ?? 0] || '(unknown)';
  return {
    samples: rawSamples.map((s) => ({
      stack: s.locations.flatMap((l) => (locations.get(l) ?? []).map(functionName)),
      nanoseconds: s.values[valueIndex] ?? 0,
    })),
  };
}

/**
 * What the API server spent its CPU on, first match wins. The first five
 * count a sample when their code is anywhere on its stack (they call JSON,
 * allocation and the like on their own behalf); the rest go by the innermost
 * frame that names one of them, as the request path (filters, priority and
 * fairness, the etcd update loop) wraps everything.
 */
const ON_STACK: ReadonlyArray<readonly [string, RegExp]> = [
  ['field manager (managedFields bookkeeping)', /^(sigs\.k8s\.io\/structured-merge-diff|k8s\.io\/apimachinery\/pkg\/util\/managedfields|k8s\.io\/apiserver\/pkg\/endpoints\/handlers\/fieldmanager)/],
  ['CRD validation rules (CEL)', /^(github\.com\/google\/cel-go|k8s\.io\/apiserver\/pkg\/cel|k8s\.io\/apiextensions-apiserver\/pkg\/apiserver\/schema\/cel)/],
  ['CRD schema: OpenAPI validation, defaulting, pruning', /^(k8s\.io\/apiextensions-apiserver\/pkg\/apiserver\/(validation|schema)|k8s\.io\/apiextensions-apiserver\/pkg\/registry\/customresource\.(\(\*)?(customResourceStrategy|statusStrategy)|k8s\.io\/kube-openapi\/pkg\/validation)/],
  ['admission webhooks (calls and their TLS)', /^k8s\.io\/apiserver\/pkg\/admission\/plugin\/webhook/],
  ['watch cache and sending watch events', /^(k8s\.io\/apiserver\/pkg\/storage\/cacher|k8s\.io\/apiserver\/pkg\/endpoints\/handlers\.(\(\*WatchServer\)|serveWatch))/],
];
const INNERMOST: ReadonlyArray<readonly [string, RegExp]> = [
  ['JSON encoding and decoding', /^(encoding\/json|sigs\.k8s\.io\/json|github\.com\/json-iterator|k8s\.io\/apimachinery\/pkg\/runtime\/serializer|k8s\.io\/apimachinery\/pkg\/apis\/meta\/v1\/unstructured|k8s\.io\/apimachinery\/pkg\/runtime\.)/],
  ['etcd client (gRPC, protobuf)', /^(go\.etcd\.io|google\.golang\.org\/(grpc|protobuf)|github\.com\/gogo\/protobuf)/],
  ['TLS', /^(crypto\/|vendor\/golang\.org\/x\/crypto)/],
  ['HTTP/2, HTTP and sockets', /^(net\/http|golang\.org\/x\/net\/http2|net\.|internal\/poll|syscall|internal\/runtime\/syscall|vendor\/golang\.org\/x\/net\/http2)/],
  ['other API server code', /^(k8s\.io|sigs\.k8s\.io|github\.com\/prometheus)/],
];
const GARBAGE_COLLECTION = /^runtime\.(gcBgMarkWorker|gcDrain|bgsweep|bgscavenge|markroot|scanobject|gcAssistAlloc)/;

/** The kind of work one sample's stack (leaf first) was doing. */
export function classifyApiServerStack(stack: readonly string[]): string {
  for (const [name, pattern] of ON_STACK) if (stack.some((f) => pattern.test(f))) return name;
  if (stack.some((f) => GARBAGE_COLLECTION.test(f))) return 'Go garbage collection';
  for (const frame of stack) for (const [name, pattern] of INNERMOST) if (pattern.test(frame)) return name;
  return 'Go runtime (allocation, scheduler, other)';
}

/** The share of CPU by kind of work (`classifyApiServerStack`), and the functions with the most self time. */
export function summarizeGoCpuProfiles(profiles: readonly GoCpuProfile[], top = 12): string {
  const byWork = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  let total = 0;
  const add = (m: Map<string, number>, key: string, ns: number) => m.set(key, (m.get(key) ?? 0) + ns);
  for (const profile of profiles) {
    for (const { stack, nanoseconds } of profile.samples) {
      total += nanoseconds;
      add(selfByFunction, stack[0] ?? '(unknown)', nanoseconds);
      add(byWork, classifyApiServerStack(stack), nanoseconds);
    }
  }
  return [
    `${(total / 1e9).toFixed(1)} s of API server CPU sampled; share of it:`,
    'by kind of work:',
    ...shareRows(byWork, total, byWork.size),
    'by function, self time:',
    ...shareRows(selfByFunction, total, top),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2);
  if (files.length === 0) throw new Error('usage: pprof-summary.ts FILE.pb.gz [FILE.pb.gz ...]');
  process.stdout.write(`${summarizeGoCpuProfiles(files.map((f) => decodeGoCpuProfile(readFileSync(f))))}\n`);
}
