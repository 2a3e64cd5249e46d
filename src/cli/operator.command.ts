import { parseArgs } from 'node:util';
import { DEFAULTS, Operator } from '../operator/operator.ts';
import { CliError } from './client.ts';

export const OPERATOR_USAGE = `Usage: wisp operator [--kubeconfig PATH] [--context NAME] [--leader-elect] [--lease-namespace ${DEFAULTS.leaseNamespace}] [--health-listen ${DEFAULTS.healthListen}]

Runs the Wisp operator: reconciles Collectors into agent DaemonSets, RBAC, Services and
the agent plan compiled from Tracepoints, DataRetentions and ExportPipelines.
--kubeconfig        kubeconfig file (default: in-cluster, else $KUBECONFIG / ~/.kube/config)
--context           kubeconfig context to use
--leader-elect      run controllers only while holding the Lease ${DEFAULTS.leaseName}
--lease-namespace   namespace of that Lease (default ${DEFAULTS.leaseNamespace})
--lease-duration    lease duration in seconds (default ${DEFAULTS.leaseDurationMs / 1000})
--health-listen     /healthz and /readyz address ('' disables; default ${DEFAULTS.healthListen})`;

export async function operatorCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      'leader-elect': { type: 'boolean', default: false },
      'lease-namespace': { type: 'string' },
      'lease-duration': { type: 'string' },
      'health-listen': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(`${OPERATOR_USAGE}\n`); return 0; }
  const leaseSeconds = values['lease-duration'] === undefined ? undefined : Number(values['lease-duration']);
  if (leaseSeconds !== undefined && !(Number.isFinite(leaseSeconds) && leaseSeconds >= 2)) {
    throw new CliError(`--lease-duration wants seconds >= 2, got ${JSON.stringify(values['lease-duration'])}`);
  }
  let operator: Operator;
  try {
    operator = new Operator({
      ...(values.kubeconfig !== undefined && { kubeconfig: values.kubeconfig }),
      ...(values.context !== undefined && { context: values.context }),
      leaderElect: values['leader-elect'],
      ...(values['lease-namespace'] !== undefined && { leaseNamespace: values['lease-namespace'] }),
      ...(leaseSeconds !== undefined && { leaseDurationMs: leaseSeconds * 1000 }),
      ...(values['health-listen'] !== undefined && { healthListen: values['health-listen'] }),
    });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  await operator.start();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await operator.stop();
  return 0;
}
