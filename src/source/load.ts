// Reads Gatehouse objects from YAML files and folders, remembering where each
// came from so a violation can point at file:line:col. Problems are returned
// as values, never thrown: `validate`, `plan` and `apply` decide what to do.
import { existsSync } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { join, relative, isAbsolute } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, Scalar, type Document, type Node } from 'yaml';
import { API_GROUP, API_VERSION } from '../model/common.js';
import { isKind, KIND_NAMES, type GatehouseObject } from '../model/kinds.js';
import { fieldPathSegments } from '../rules/field-path.js';
import { errorMessage } from '../util/errors.js';
import { fastDocuments } from './fast-parse.js';

/** 1-based line and column. */
export interface SourcePosition {
  line: number;
  column: number;
}

export interface SourceObject {
  object: GatehouseObject;
  file: string;
  /**
   * Where a field (Kubernetes-style path, e.g. spec.permissions[2]) is written:
   * the field's own key or list item, else its nearest parent that exists.
   * An empty path gives the document's start.
   */
  position(field: string): SourcePosition;
}

export type LoadProblemCode =
  | 'PathNotFound'
  | 'UnreadableFile'
  | 'NoSourceFiles'
  | 'YamlSyntax'
  | 'UnknownKind'
  | 'UnsupportedVersion'
  | 'MissingApiVersion'
  | 'NotAMapping'
  | 'Yaml11Boolean';

/** Codes of problems with reading at all (exit code 2 in the CLI), not with what was read. */
export const IO_PROBLEM_CODES: ReadonlySet<LoadProblemCode> = new Set(['PathNotFound', 'UnreadableFile', 'NoSourceFiles']);

export interface LoadProblem {
  code: LoadProblemCode;
  /** Absent means error; a warning does not make the files invalid. */
  severity?: 'error' | 'warning';
  /** Field path in the document (spec.displayName), when the problem is with one field. */
  field?: string;
  file: string;
  /** 1-based; 0 when the problem has no position (a missing path). */
  line: number;
  column: number;
  message: string;
}

export interface LoadResult {
  objects: SourceObject[];
  problems: LoadProblem[];
  /** Files read, in the order read. */
  files: string[];
  /** Documents skipped because they are not Gatehouse objects (other API groups, the product Profile). */
  ignoredDocuments: number;
}

export interface ParsedSource {
  objects: SourceObject[];
  problems: LoadProblem[];
  ignoredDocuments: number;
}

const YAML_FILE = /\.ya?ml$/i;

// kubectl and Argo CD expand YAML merge keys (`<<: *anchor`), so Gatehouse does too.
const PARSE_OPTIONS = { merge: true } as const;

// Plain words that kubectl's YAML 1.1 reader turns into booleans, while YAML 1.2 (and
// Gatehouse) keep them as text: `displayName: No` reaches the API server as false.
const YAML11_BOOLEANS: ReadonlyMap<string, boolean> = new Map(
  [
    ['y', true], ['yes', true], ['on', true],
    ['n', false], ['no', false], ['off', false],
  ].flatMap(([word, value]) => {
    const w = word as string;
    return [w, w[0]!.toUpperCase() + w.slice(1), w.toUpperCase()].map((spelling) => [spelling, value as boolean] as const);
  }),
);
/** Largest source file read (docs/security.md): declarations are small; a huge file is a mistake or an attack. */
export const MAX_SOURCE_FILE_BYTES = 4 * 1024 * 1024;

export interface LoadOptions {
  /** Follow symbolic links that lead out of the folder given (default: refuse them). */
  followSymlinks?: boolean;
  maxFileBytes?: number;
  /**
   * Other work for this thread while a worker thread parses (many files only; never
   * called otherwise): started once the worker runs, and this thread parses files only
   * after it is done.
   */
  meanwhile?: () => Promise<unknown>;
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Loads every *.yaml / *.yml file under the given files and folders (folders
 * recursively, skipping hidden folders and node_modules). A file named
 * explicitly is read whatever its extension.
 */
export async function loadSources(paths: readonly string[], options: LoadOptions = {}): Promise<LoadResult> {
  const result: LoadResult = { objects: [], problems: [], files: [], ignoredDocuments: 0 };
  const seen = new Set<string>();
  const maxBytes = options.maxFileBytes ?? MAX_SOURCE_FILE_BYTES;
  for (const path of paths) {
    const found: string[] = [];
    const problem = await collectFiles(path, found, new Set(), { follow: options.followSymlinks === true, problems: result.problems });
    if (problem !== undefined) {
      result.problems.push(problem);
      continue;
    }
    // Asked all at once: one file system round trip each would leave the thread idle in between.
    const reals = await Promise.all(found.map((file) => realpath(file).catch(() => file)));
    found.forEach((file, i) => {
      const real = reals[i] as string;
      if (seen.has(real)) return;
      seen.add(real);
      result.files.push(file);
    });
    if (found.length === 0) {
      result.problems.push({ code: 'NoSourceFiles', file: path, line: 0, column: 0, message: `no *.yaml or *.yml files under ${path}` });
    }
  }
  const parsed =
    result.files.length >= WORKER_MIN_FILES
      ? parseFilesWithWorker(result.files, maxBytes, options.meanwhile !== undefined ? { meanwhile: options.meanwhile } : {})
      : parseFiles(result.files, maxBytes);
  for await (const file of parsed) {
    if (!('objects' in file)) {
      result.problems.push(file);
      continue;
    }
    result.objects.push(...file.objects);
    result.problems.push(...file.problems);
    result.ignoredDocuments += file.ignoredDocuments;
  }
  return result;
}

/** Each file read and parsed, in file order, or why it could not be read. */
export async function* parseFiles(files: readonly string[], maxBytes: number): AsyncGenerator<ParsedSource | LoadProblem> {
  // The next files are read while one is parsed, so the thread does not wait on the disk between files.
  const reads: Array<Promise<string | LoadProblem> | undefined> = [];
  const readAhead = (i: number) => {
    const file = files[i];
    if (file !== undefined) reads[i] = readSourceFile(file, maxBytes);
  };
  for (let i = 0; i < READ_AHEAD; i += 1) readAhead(i);
  for (const [i, file] of files.entries()) {
    const text = await (reads[i] as Promise<string | LoadProblem>);
    reads[i] = undefined;
    readAhead(i + READ_AHEAD);
    yield typeof text === 'string' ? parseSource(file, text) : text;
  }
}

/** From this many files on, a worker thread parses files alongside this one. */
export const WORKER_MIN_FILES = 100;
/** Files claimed at a time by each thread. */
const WORKER_BATCH = 16;

/** What the worker is given: the files, and the shared count of files claimed so far. */
export interface ParseWorkerJob {
  files: readonly string[];
  maxBytes: number;
  claimed: SharedArrayBuffer;
  batch: number;
}

/** A file as the worker hands it back: read the fast way (or declined: `fast` absent), or not readable. It ends with 'done'. */
export type ParsedByWorker = { index: number; text: string; fast?: FastParse } | { index: number; problem: LoadProblem };

/** Claims the next batch of files, shared by both threads: the first file's index. */
export function claimBatch(claimed: Int32Array, batch: number): number {
  return Atomics.add(claimed, 0, batch);
}

/**
 * The same as parseFiles, with a worker thread reading and parsing (the fast way) some of the
 * files while this thread does the others: both claim batches from one shared counter, so
 * neither waits for the other. A file the worker declines is parsed here the slow way; what it
 * did not hand back (it failed) is parsed here too. Results keep file order.
 */
export async function* parseFilesWithWorker(
  files: readonly string[],
  maxBytes: number,
  options: ParseWithWorkerOptions = {},
): AsyncGenerator<ParsedSource | LoadProblem> {
  const claimed = new SharedArrayBuffer(4);
  const counter = new Int32Array(claimed);
  const results: Array<ParsedSource | LoadProblem | undefined> = new Array(files.length);
  const job: ParseWorkerJob = { files, maxBytes, claimed, batch: WORKER_BATCH };
  const worker = startParseWorker(job, options.worker);
  const finished = new Promise<void>((resolve) => {
    worker.on('message', (message: ParsedByWorker[] | 'done') => {
      if (message === 'done') {
        resolve();
        return;
      }
      if (options.stats !== undefined) options.stats.byWorker += message.length;
      for (const done of message) {
        const file = files[done.index] as string;
        results[done.index] = 'problem' in done ? done.problem : done.fast !== undefined ? placeFast(file, done.text, done.fast) : parseWithPositions(file, done.text);
      }
    });
    // Whatever the worker did not hand back is done here below.
    worker.on('exit', () => resolve());
    worker.on('error', () => resolve());
  });
  try {
    await options.meanwhile?.();
    const mainThreadParses = options.mainThreadParses ?? true;
    for (let start = mainThreadParses ? claimBatch(counter, WORKER_BATCH) : files.length; start < files.length; start = claimBatch(counter, WORKER_BATCH)) {
      const batch = files.slice(start, start + WORKER_BATCH);
      const texts = await Promise.all(batch.map((file) => readSourceFile(file, maxBytes)));
      texts.forEach((text, i) => {
        results[start + i] = typeof text === 'string' ? parseSource(batch[i] as string, text) : text;
      });
    }
    await finished;
  } finally {
    await worker.terminate();
  }
  for (const [i, file] of files.entries()) {
    let parsed = results[i];
    if (parsed === undefined) {
      const text = await readSourceFile(file, maxBytes);
      parsed = typeof text === 'string' ? parseSource(file, text) : text;
    }
    results[i] = undefined;
    yield parsed;
  }
}

export interface ParseWithWorkerOptions {
  /** See LoadOptions. */
  meanwhile?: () => Promise<unknown>;
  // For tests: which worker module, whether this thread parses too (default yes), files the worker handed back.
  worker?: URL;
  mainThreadParses?: boolean;
  stats?: { byWorker: number };
}

function startParseWorker(job: ParseWorkerJob, module: URL = parseWorkerModule()): Worker {
  // Run from the sources (tests, tsx), the module is TypeScript: through tsx.
  const execArgv = module.pathname.endsWith('.ts') ? ['--import', 'tsx'] : undefined;
  return new Worker(module, { workerData: job, ...(execArgv !== undefined ? { execArgv } : {}) });
}

function parseWorkerModule(): URL {
  const compiled = new URL('./parse-worker.js', import.meta.url);
  return existsSync(fileURLToPath(compiled)) ? compiled : new URL('./parse-worker.ts', import.meta.url);
}

/** How many files are being read ahead of the one being parsed. */
const READ_AHEAD = 8;

/** A file's text, or why it cannot be read (never rejects). */
export async function readSourceFile(file: string, maxBytes: number): Promise<string | LoadProblem> {
  try {
    const size = (await stat(file)).size;
    if (size > maxBytes) {
      return {
        code: 'UnreadableFile',
        file,
        line: 0,
        column: 0,
        message: `${file} is ${size} bytes, more than the ${maxBytes} a source file may be; split it into smaller files`,
      };
    }
    return await readFile(file, 'utf8');
  } catch (err) {
    return { code: 'UnreadableFile', file, line: 0, column: 0, message: `cannot read ${file}: ${errorMessage(err)}` };
  }
}

interface WalkContext {
  follow: boolean;
  problems: LoadProblem[];
  /** The real path of the folder given, that links may not lead out of. */
  root?: string;
}

async function collectFiles(path: string, out: string[], visited: Set<string>, context: WalkContext): Promise<LoadProblem | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR'
      ? { code: 'PathNotFound', file: path, line: 0, column: 0, message: `${path} does not exist` }
      : { code: 'UnreadableFile', file: path, line: 0, column: 0, message: `cannot read ${path}: ${errorMessage(err)}` };
  }
  if (info.isFile()) {
    out.push(path);
    return undefined;
  }
  if (!info.isDirectory()) return undefined;
  const root = await realpath(path).catch(() => path);
  await walk(path, out, visited, { ...context, root });
  return undefined;
}

async function walk(dir: string, out: string[], visited: Set<string>, context: WalkContext): Promise<void> {
  // Symbolic links may loop back; each real folder is read once.
  const real = await realpath(dir).catch(() => dir);
  if (visited.has(real)) return;
  visited.add(real);
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    let isDirectory = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const target = await stat(path).catch(() => undefined);
      isDirectory = target?.isDirectory() ?? false;
      isFile = target?.isFile() ?? false;
      const real = await realpath(path).catch(() => path);
      if (!context.follow && context.root !== undefined && !isInside(context.root, real) && (isDirectory || (isFile && YAML_FILE.test(entry.name)))) {
        context.problems.push({
          code: 'UnreadableFile',
          file: path,
          line: 0,
          column: 0,
          message: `${path} is a link to ${real}, outside ${context.root}; Gatehouse reads only inside the folders given: copy the file in, or pass --follow-symlinks`,
        });
        continue;
      }
    }
    if (isDirectory) await walk(path, out, visited, context);
    else if (isFile && YAML_FILE.test(entry.name)) out.push(path);
  }
}

type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Parses one file's text (multi-document YAML) into Gatehouse objects: the
 * fast way when it reads the file exactly as the slow way would, else the slow
 * way (docs/adr/0015-two-yaml-parsers.md).
 */
export function parseSource(file: string, source: string): ParsedSource {
  const text = withoutByteOrderMark(source);
  const fast = fastParse(text);
  return fast !== undefined ? placeFast(file, text, fast) : parseWithPositions(file, text);
}

export function withoutByteOrderMark(source: string): string {
  return source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
}

/** `<<` (a merge key) and the YAML 1.1 booleans need the `yaml` library: the merge, and the Yaml11Boolean warning's position. */
const isSpecialWord = (word: string): boolean => word === '<<' || YAML11_BOOLEANS.has(word);

/** The fast way's objects, each with where it is in the file: plain data, which a worker thread can hand over. */
export interface FastParse {
  objects: Array<{ object: GatehouseObject; documentIndex: number; prefix: string }>;
  ignoredDocuments: number;
}

/**
 * Objects from a file that has no problem at all, or undefined: a document
 * that is not a mapping, or an object with a problem, is reported by the slow
 * way, which knows where it is written.
 */
export function fastParse(text: string): FastParse | undefined {
  const documents = fastDocuments(text, isSpecialWord);
  if (documents === undefined) return undefined;
  const result: FastParse = { objects: [], ignoredDocuments: 0 };
  for (const [documentIndex, value] of documents.entries()) {
    if (value === null || value === undefined) continue;
    if (!isPlainObject(value)) return undefined;
    for (const [candidate, prefix] of documentObjects(value)) {
      const outcome = classify(candidate);
      if (outcome.type === 'problem') return undefined;
      if (outcome.type === 'ignored') result.ignoredDocuments += 1;
      else result.objects.push({ object: outcome.object, documentIndex, prefix });
    }
  }
  return result;
}

/** The fast way's objects placed in their file: positions found on first use. */
function placeFast(file: string, text: string, fast: FastParse): ParsedSource {
  const positionIn = positionFinder(text, () => ({ line: 1, column: 1 }));
  return {
    objects: fast.objects.map(({ object, documentIndex, prefix }) => ({ object, file, position: positionIn(documentIndex, prefix) })),
    problems: [],
    ignoredDocuments: fast.ignoredDocuments,
  };
}

/** The candidate objects of a document with their field path prefixes: a List's items, else the document itself. */
function documentObjects(value: PlainObject): Array<[unknown, string]> {
  if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
    return value.items.map((item, i) => [item, `items[${i}]`]);
  }
  return [[value, '']];
}

/**
 * Position functions for a file's objects. Positions are looked up only for
 * objects with violations, so syntax trees are not kept: the file is parsed
 * again with the `yaml` library on first use. Built apart from the parse so an
 * object's position function holds numbers, not the tree it was parsed from.
 */
function positionFinder(text: string, documentStart: (documentIndex: number) => SourcePosition) {
  let reparsed: { documents: Document.Parsed[]; lineCounter: LineCounter } | undefined;
  return (documentIndex: number, prefix: string) =>
    (field: string): SourcePosition => {
      if (reparsed === undefined) {
        const lineCounter = new LineCounter();
        reparsed = { documents: parseAllDocuments(text, { ...PARSE_OPTIONS, lineCounter }) as Document.Parsed[], lineCounter };
      }
      const doc = reparsed.documents[documentIndex];
      if (doc === undefined) return documentStart(documentIndex);
      const { line, col } = reparsed.lineCounter.linePos(offsetOf(doc, prefix === '' ? field : field === '' ? prefix : `${prefix}.${field}`));
      return { line, column: col };
    };
}

/** The slow way: the `yaml` library's syntax tree, for exact problems and positions. Exported for tests comparing the two ways. */
export function parseWithPositions(file: string, text: string): ParsedSource {
  const result: ParsedSource = { objects: [], problems: [], ignoredDocuments: 0 };
  const lineCounter = new LineCounter();
  let documents: Document.Parsed[];
  try {
    documents = parseAllDocuments(text, { ...PARSE_OPTIONS, lineCounter, prettyErrors: true }) as Document.Parsed[];
  } catch (err) {
    result.problems.push({ code: 'YamlSyntax', file, line: 1, column: 1, message: `cannot parse YAML: ${errorMessage(err)}` });
    return result;
  }
  const at = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const starts = documents.map((document) => document.range[0]);
  const positionAt = positionFinder(text, (documentIndex) => at(starts[documentIndex] ?? 0));

  documents.forEach((document, documentIndex) => {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        const [start] = error.pos;
        const { line, column } = error.linePos?.[0] !== undefined ? { line: error.linePos[0].line, column: error.linePos[0].col } : at(start);
        result.problems.push({ code: 'YamlSyntax', file, line, column, message: `invalid YAML: ${firstLine(error.message)}` });
      }
      return;
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 100 });
    } catch (err) {
      const { line, column } = at(document.range[0]);
      result.problems.push({ code: 'YamlSyntax', file, line, column, message: `invalid YAML: ${firstLine(errorMessage(err))}` });
      return;
    }
    if (value === null || value === undefined) return;
    const positionIn = (prefix: string) => positionAt(documentIndex, prefix);
    if (!isPlainObject(value)) {
      // kubectl apply refuses such a document too; skipping it silently would hide a broken file.
      const { line, column } = at(rangeStart(document.contents) ?? document.range[0]);
      result.problems.push({
        code: 'NotAMapping',
        file,
        line,
        column,
        message: `document ${documentIndex + 1} is ${Array.isArray(value) ? 'a list' : `the ${typeof value} ${JSON.stringify(value)}`}, not a mapping with apiVersion and kind; fix its indentation or remove it`,
      });
      return;
    }
    let gatehouseObjects = 0;
    const take = (candidate: unknown, prefix: string) => {
      const outcome = classify(candidate);
      if (outcome.type !== 'ignored') gatehouseObjects += 1;
      if (outcome.type === 'ignored') {
        result.ignoredDocuments += 1;
      } else if (outcome.type === 'problem') {
        const position = positionIn(prefix)(outcome.field);
        result.problems.push({ code: outcome.code, file, ...position, message: outcome.message });
      } else {
        result.objects.push({ object: outcome.object, file, position: positionIn(prefix) });
      }
    };
    for (const [candidate, prefix] of documentObjects(value)) take(candidate, prefix);
    if (gatehouseObjects > 0) {
      for (const { node, field } of yaml11Booleans(document.contents, '')) {
        const word = String(node.source ?? node.value);
        result.problems.push({
          code: 'Yaml11Boolean',
          severity: 'warning',
          file,
          ...at(node.range?.[0] ?? document.range[0]),
          field,
          message: `${word} is text here, but kubectl and Argo CD read it as the boolean ${YAML11_BOOLEANS.get(word)} (YAML 1.1); quote it ("${word}") to keep it text`,
        });
      }
    }
  });
  return result;
}

/** Unquoted scalars that YAML 1.1 reads as booleans, with their field paths. Aliases are not followed. */
function* yaml11Booleans(node: unknown, field: string): Generator<{ node: Scalar; field: string }> {
  if (isScalar(node)) {
    if (node.type === Scalar.PLAIN && typeof node.value === 'string' && YAML11_BOOLEANS.has(node.value)) yield { node, field };
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) yield* yaml11Booleans(item, `${field}[${i}]`);
  } else if (isMap(node)) {
    for (const pair of node.items) {
      // Fields merged in with `<<` belong to the map the merge key is in.
      const key = isScalar(pair.key) ? (pair.key.source === '<<' ? '' : String(pair.key.value)) : '?';
      yield* yaml11Booleans(pair.value, key === '' ? field : field === '' ? key : `${field}.${key}`);
    }
  }
}

type Classified =
  | { type: 'ignored' }
  | { type: 'problem'; code: LoadProblemCode; field: string; message: string }
  | { type: 'object'; object: GatehouseObject };

function classify(value: unknown): Classified {
  if (!isPlainObject(value)) return { type: 'ignored' };
  const { apiVersion, kind } = value;
  if (apiVersion === undefined || apiVersion === null) {
    // A Gatehouse kind with no apiVersion is most likely a forgotten line, not another tool's file.
    return isKind(kind)
      ? { type: 'problem', code: 'MissingApiVersion', field: 'kind', message: `${kind} has no apiVersion; add apiVersion: ${API_VERSION}` }
      : { type: 'ignored' };
  }
  const group = typeof apiVersion === 'string' && apiVersion.includes('/') ? apiVersion.split('/')[0] : undefined;
  if (typeof apiVersion !== 'string') {
    return isKind(kind)
      ? { type: 'problem', code: 'UnsupportedVersion', field: 'apiVersion', message: `apiVersion must be the string ${API_VERSION}` }
      : { type: 'ignored' };
  }
  if (group !== API_GROUP) return { type: 'ignored' };
  // The product profile is configuration for the CLI (--profile), not a declared object.
  if (kind === 'Profile') return { type: 'ignored' };
  if (apiVersion !== API_VERSION) {
    return {
      type: 'problem',
      code: 'UnsupportedVersion',
      field: 'apiVersion',
      message: `apiVersion ${apiVersion} is not served; Gatehouse reads ${API_VERSION}`,
    };
  }
  if (!isKind(kind)) {
    return {
      type: 'problem',
      code: 'UnknownKind',
      field: 'kind',
      message: `${typeof kind === 'string' ? `kind ${kind}` : 'a missing or non-text kind'} is not a kind of ${API_GROUP}; use one of ${KIND_NAMES.join(', ')}`,
    };
  }
  const metadata = value.metadata;
  if (isPlainObject(metadata) && metadata.namespace === undefined) metadata.namespace = 'default';
  return { type: 'object', object: value as unknown as GatehouseObject };
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

/** Offset of a field in a document: its key (or list item), else the nearest parent found. */
function offsetOf(document: Document.Parsed, field: string): number {
  let node: unknown = document.contents;
  let best = rangeStart(node) ?? document.range[0];
  for (const segment of fieldPathSegments(field)) {
    if (isAlias(node)) node = node.resolve(document);
    if (typeof segment === 'number' && isSeq(node)) {
      const item: unknown = node.items[segment];
      if (item === undefined) break;
      best = rangeStart(item) ?? best;
      node = item;
    } else if (isMap(node)) {
      const pair = findPair(document, node, String(segment));
      if (pair === undefined) break;
      best = rangeStart(pair.key) ?? rangeStart(pair.value) ?? best;
      node = pair.value;
    } else {
      break;
    }
  }
  return best;
}

/** The pair for `key` in a map, or in the maps merged into it (`<<: *anchor`), where it is written. */
function findPair(document: Document.Parsed, map: { items: Array<{ key: unknown; value: unknown }> }, key: string): { key: unknown; value: unknown } | undefined {
  const keyOf = (p: { key: unknown }) => (isScalar(p.key) ? String(p.key.value) : p.key);
  const own = map.items.find((p) => keyOf(p) === key);
  if (own !== undefined) return own;
  // With merge keys on, the parser gives `<<` a symbol as its value; its source text stays `<<`.
  for (const merge of map.items.filter((p) => isScalar(p.key) && p.key.source === '<<')) {
    const sources = isSeq(merge.value) ? merge.value.items : [merge.value];
    for (const source of sources) {
      const merged = isAlias(source) ? source.resolve(document) : source;
      if (isMap(merged)) {
        const found = findPair(document, merged, key);
        if (found !== undefined) return found;
      }
    }
  }
  return undefined;
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}
