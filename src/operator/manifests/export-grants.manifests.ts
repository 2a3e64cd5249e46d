// Per ExportPipeline, the agents' read access to exactly the Secrets it
// names (headersFrom, tls): a Role in the pipeline's namespace with
// resourceNames, bound to the agent ServiceAccount of every Collector.
// Least privilege: no cluster-wide `secrets` rule for the agents, and no
// copies of Secret values anywhere. Owned by the pipeline, so the garbage
// collector removes both with it.
import type { V1Role, V1RoleBinding } from '@kubernetes/client-node';
import { referencedSecrets } from '../api/v1alpha1/export-pipeline.types.ts';
import type { ExportPipelineSpec as ApiSpec } from '../api/v1alpha1/export-pipeline.types.ts';
import { API_VERSION, type Collector, type ExportPipeline } from '../resources.ts';
import { AGENT_NAME, COMMON_LABELS } from './agent.manifests.ts';

const DEFAULT_AGENT_NAMESPACE = 'wisp-system';

/** Name of the Role and RoleBinding of one pipeline (in its namespace). */
export function exportGrantName(pipeline: ExportPipeline): string {
  return `wisp-export-${pipeline.metadata.name ?? ''}`.slice(0, 253);
}

/** Secrets a pipeline's agents must read, sorted. */
export function pipelineSecrets(pipeline: ExportPipeline): string[] {
  return pipeline.spec?.destination ? referencedSecrets({ spec: pipeline.spec as unknown as ApiSpec }).sort() : [];
}

function metadata(pipeline: ExportPipeline) {
  return {
    name: exportGrantName(pipeline),
    namespace: pipeline.metadata.namespace ?? '',
    labels: { ...COMMON_LABELS, 'wisp.dev/export-pipeline': pipeline.metadata.name ?? '' },
    // No blockOwnerDeletion: that would need update on exportpipelines/finalizers, and nothing waits on these.
    ownerReferences: [{ apiVersion: API_VERSION, kind: 'ExportPipeline', name: pipeline.metadata.name ?? '', uid: pipeline.metadata.uid ?? '' }],
  };
}

export function exportSecretRole(pipeline: ExportPipeline, secrets: readonly string[]): V1Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: metadata(pipeline),
    rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [...secrets], verbs: ['get'] }],
  };
}

export function exportSecretRoleBinding(pipeline: ExportPipeline, collectors: readonly Collector[]): V1RoleBinding {
  const namespaces = [...new Set(collectors.map((c) => c.spec?.namespace ?? DEFAULT_AGENT_NAMESPACE))].sort();
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: metadata(pipeline),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: exportGrantName(pipeline) },
    subjects: namespaces.map((namespace) => ({ kind: 'ServiceAccount', name: AGENT_NAME, namespace })),
  };
}
