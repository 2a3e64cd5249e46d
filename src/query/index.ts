// The query language: compile PxL scripts to plans, run them over a table
// source, and shape results for the API.
export { compileScript, DEFAULT_HEAD_ROWS, DEFAULT_OUTPUT_NAME, type CompileOptions, type TableCatalog } from './pxl.compiler.ts';
export { executeLocal, executeMerge, executeOverSources, runFragment, EXECUTOR_DEFAULTS, type ExecuteOptions, type NodeResults, type QueryOutput, type QueryResult, type RunContext } from './local.executor.ts';
export { ARROW_STREAM_TYPE, decodeFragmentResult, encodeFragmentResult } from './fragment.codec.ts';
export { parseQueryRequest, pickOutput, type QueryRequest } from './api.ts';
export { EMPTY_METADATA_RESOLVER, type MetadataResolver, type UpidProperty, type PodIdProperty, type PodNameProperty, type IpProperty, type ServiceIdProperty } from './metadata.ts';
export { TDigest, REPORTED_QUANTILES } from './tdigest.ts';
export { resultToJson, type JsonColumn, type JsonOutput, type JsonResult } from './result-json.ts';
export { QueryError } from './query-error.ts';
export { SCALAR_FUNCTIONS, PX_FUNCTIONS, type ScalarFunction, type Overload } from './function.registry.ts';
export type { AggregateFn, AggregateNode, AggregateSpec, CompiledOutput, CompiledQuery, JoinNode, PlanColumn, PlanNode, QuerySettings, ScalarExpr, UnionNode } from './plan.ts';
export type { TableSource } from './source.ts';
