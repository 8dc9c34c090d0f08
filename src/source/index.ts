// Declared objects from YAML files and folders, with their positions.
export {
  IO_PROBLEM_CODES,
  loadSources,
  parseSource,
  type LoadProblem,
  type LoadProblemCode,
  type LoadResult,
  type ParsedSource,
  type SourceObject,
  type SourcePosition,
} from './load.js';
export { fieldPathSegments } from '../rules/field-path.js';
