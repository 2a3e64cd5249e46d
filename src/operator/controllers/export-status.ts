// ExportPipeline.status from the agents' reports: each agent's Lease
// carries its per-pipeline counters (EXPORT_STATUS_ANNOTATION); the
// pipeline's status is their sum, plus the newest success and error.
import type { V1Lease } from '@kubernetes/client-node';
import { AGENT_LEASE_PREFIX, EXPORT_STATUS_ANNOTATION, parseAgentExportStatus } from '../../common/agent-plan.ts';
import type { ConditionInput } from '../runtime/conditions.ts';

export interface ExportTotals {
  exported: number;
  dropped: number;
  droppedByReason: Record<string, number>;
  lastExportTime?: string;
  lastError?: string;
  lastErrorTime?: string;
  lastErrorReason?: string;
  /** Agents that reported this pipeline. */
  agents: number;
}

/** Sums what every agent Lease reports for pipeline `key` ("namespace/name"). Pure. */
export function exportTotals(leases: readonly V1Lease[], key: string): ExportTotals {
  const totals: ExportTotals = { exported: 0, dropped: 0, droppedByReason: {}, agents: 0 };
  for (const lease of leases) {
    if (!lease.metadata?.name?.startsWith(AGENT_LEASE_PREFIX)) continue;
    const node = lease.spec?.holderIdentity ?? lease.metadata.name.slice(AGENT_LEASE_PREFIX.length);
    for (const s of parseAgentExportStatus(lease.metadata.annotations?.[EXPORT_STATUS_ANNOTATION])) {
      if (s.key !== key) continue;
      totals.agents++;
      totals.exported += s.exported;
      for (const [reason, n] of Object.entries(s.dropped)) {
        if (typeof n !== 'number' || n <= 0) continue;
        totals.dropped += n;
        totals.droppedByReason[reason] = (totals.droppedByReason[reason] ?? 0) + n;
      }
      if (s.lastSuccessTime && (!totals.lastExportTime || s.lastSuccessTime > totals.lastExportTime)) totals.lastExportTime = s.lastSuccessTime;
      if (s.lastError && s.lastErrorTime && (!totals.lastErrorTime || s.lastErrorTime > totals.lastErrorTime)) {
        totals.lastErrorTime = s.lastErrorTime;
        totals.lastError = `node ${node}: ${s.lastError}`;
        totals.lastErrorReason = s.lastErrorReason || 'ExportFailed';
      }
    }
  }
  return totals;
}

/**
 * The Exporting condition: True once an export succeeded after the last
 * error; False with the error's reason (Unreachable, TLSError, Rejected,
 * SecretNotFound, ScriptFailed, …) when the newest event is an error.
 */
export function exportingCondition(totals: ExportTotals, generation: number | undefined): ConditionInput {
  const base = generation !== undefined ? { observedGeneration: generation } : {};
  if (totals.lastErrorTime && (!totals.lastExportTime || totals.lastErrorTime > totals.lastExportTime)) {
    return { type: 'Exporting', status: 'False', reason: totals.lastErrorReason ?? 'ExportFailed', message: totals.lastError ?? '', ...base };
  }
  if (totals.lastExportTime) {
    return { type: 'Exporting', status: 'True', reason: 'ExportSucceeded', message: `${totals.exported} items exported by ${totals.agents} agent(s)`, ...base };
  }
  return { type: 'Exporting', status: 'Unknown', reason: 'NoExportYet', message: totals.agents === 0 ? 'no agent has reported this pipeline yet' : 'no export attempt finished yet', ...base };
}
