// The operator bench explains its convergence with the API server's own CPU
// profile; the decoder must read what kube-apiserver really serves, and the
// summary must put each sample under the work it was done for.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyApiServerStack, decodeGoCpuProfile, summarizeGoCpuProfiles } from '../bench/pprof-summary.js';
import { Envtest, envtestSkipReason } from './support/envtest.js';

/** Protobuf writer for the few pprof fields the decoder reads. */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
const field = (number: number, value: number) => [...varint(number * 8), ...varint(value)];
const bytesField = (number: number, bytes: number[]) => [...varint(number * 8 + 2), ...varint(bytes.length), ...bytes];
const packed = (number: number, values: number[]) => bytesField(number, values.flatMap(varint));

/** A profile of two samples; `packedSamples` writes their ids and values packed (as Go does) or one field each. */
function profileBytes(packedSamples: boolean): Uint8Array {
  const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds', 'runtime.mallocgc', 'sigs.k8s.io/structured-merge-diff/v4/typed.merge', 'main.main'];
  const sample = (locations: number[], values: number[]) =>
    bytesField(2, packedSamples ? [...packed(1, locations), ...packed(2, values)] : [...locations.flatMap((l) => field(1, l)), ...values.flatMap((v) => field(2, v))]);
  return Uint8Array.from([
    ...bytesField(1, [...field(1, 1), ...field(2, 2)]),
    ...bytesField(1, [...field(1, 3), ...field(2, 4)]),
    // Location 1 inlines the merge into mallocgc's caller: innermost line first.
    ...bytesField(4, [...field(1, 1), ...bytesField(4, field(1, 10)), ...bytesField(4, field(1, 11))]),
    ...bytesField(4, [...field(1, 2), ...bytesField(4, field(1, 12))]),
    ...bytesField(5, [...field(1, 10), ...field(2, 5)]),
    ...bytesField(5, [...field(1, 11), ...field(2, 6)]),
    ...bytesField(5, [...field(1, 12), ...field(2, 7)]),
    ...sample([1, 2], [3, 30_000_000]),
    ...sample([2], [1, 10_000_000]),
    ...strings.flatMap((s) => bytesField(6, [...Buffer.from(s)])),
  ]);
}

describe('decodeGoCpuProfile', () => {
  it.each([
    ['packed, gzipped', true, true],
    ['unpacked, plain', false, false],
  ])('reads stacks leaf first and the CPU nanoseconds (%s)', (_name, packedSamples, gzip) => {
    const raw = profileBytes(packedSamples);
    const profile = decodeGoCpuProfile(gzip ? gzipSync(raw) : raw);
    expect(profile.samples).toEqual([
      { stack: ['runtime.mallocgc', 'sigs.k8s.io/structured-merge-diff/v4/typed.merge', 'main.main'], nanoseconds: 30_000_000 },
      { stack: ['main.main'], nanoseconds: 10_000_000 },
    ]);
  });

  it('refuses what is not protobuf', () => {
    expect(() => decodeGoCpuProfile(Uint8Array.from([0x0f, 0x01]))).toThrow(/wire type 7/);
  });
});

describe('classifyApiServerStack', () => {
  it.each([
    ['an allocation made for the field manager', ['runtime.mallocgc', 'sigs.k8s.io/structured-merge-diff/v4/typed.(*mergingWalker).merge', 'k8s.io/apiserver/pkg/endpoints/handlers.PatchResource.func1'], 'field manager (managedFields bookkeeping)'],
    ['JSON decoding inside a CEL rule', ['encoding/json.(*decodeState).object', 'github.com/google/cel-go/interpreter.(*evalEq).Eval', 'k8s.io/apiserver/pkg/storage/etcd3.(*store).GuaranteedUpdate'], 'CRD validation rules (CEL)'],
    ['pruning while decoding from etcd', ['k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning.prune', 'k8s.io/apiextensions-apiserver/pkg/apiserver.(*unstructuredSchemaCoercer).apply'], 'CRD schema: OpenAPI validation, defaulting, pruning'],
    ['the watch cache dispatching an event', ['runtime.mapaccess2', 'k8s.io/apiserver/pkg/storage/cacher.(*Cacher).dispatchEvent'], 'watch cache and sending watch events'],
    ['garbage collection', ['runtime.scanobject', 'runtime.gcDrain', 'runtime.gcBgMarkWorker.func2'], 'Go garbage collection'],
    ['JSON under the request filters', ['encoding/json.appendCompact', 'net/http.HandlerFunc.ServeHTTP', 'k8s.io/apiserver/pkg/server/filters.WithPanicRecovery'], 'JSON encoding and decoding'],
    ['TLS under HTTP/2', ['crypto/internal/fips140/aes/gcm.seal', 'crypto/tls.(*Conn).Write', 'golang.org/x/net/http2.(*serverConn).writeFrameAsync'], 'TLS'],
    ['the scheduler alone', ['runtime.futex', 'runtime.schedule'], 'Go runtime (allocation, scheduler, other)'],
  ])('%s', (_name, stack, kind) => {
    expect(classifyApiServerStack(stack)).toBe(kind);
  });
});

const skipReason = envtestSkipReason();

describe.skipIf(skipReason !== undefined)(skipReason === undefined ? 'a real API server profile' : `a real API server profile (skipped: ${skipReason})`, () => {
  let env: Envtest;
  beforeAll(async () => {
    env = await Envtest.start({ installCrds: false });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('is decoded into the API server functions that served the requests', async () => {
    const profiling = env.cpuProfile(2);
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline) await env.request('GET', '/api/v1/namespaces');
    const profile = decodeGoCpuProfile(await profiling);
    expect(profile.samples.length).toBeGreaterThan(0);
    expect(profile.samples.every((s) => s.stack.length > 0 && s.nanoseconds > 0)).toBe(true);
    expect(profile.samples.some((s) => s.stack.some((f) => f.startsWith('k8s.io/apiserver/')))).toBe(true);
    const summary = summarizeGoCpuProfiles([profile]);
    const shares = [...summary.split('by function')[0]!.matchAll(/^\s+([\d.]+)%/gm)].map((m) => Number(m[1]));
    // Every sample in exactly one kind of work: the shares add up to 100% (each rounded to 0.1).
    expect(Math.abs(shares.reduce((a, b) => a + b, 0) - 100)).toBeLessThan(1);
  });
});
