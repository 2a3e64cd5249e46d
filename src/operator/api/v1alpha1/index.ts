// wisp.dev/v1alpha1: the custom resources' types, schemas and pure validators.
// The TypeScript types here are the single source; crds/*.yaml are rendered
// from the schemas by ../crd.generator.ts (`make manifests`).
import { collectorSchema } from './collector.types.ts';
import { dataRetentionSchema } from './data-retention.types.ts';
import { exportPipelineSchema } from './export-pipeline.types.ts';
import { tracepointSchema } from './tracepoint.types.ts';

export * from './common.types.ts';
export * from './collector.types.ts';
export * from './tracepoint.types.ts';
export * from './data-retention.types.ts';
export * from './export-pipeline.types.ts';
export * from './validation.ts';

/** Every kind of the version, in the order the generator writes them. */
export const KINDS = Object.freeze([collectorSchema, tracepointSchema, dataRetentionSchema, exportPipelineSchema]);
