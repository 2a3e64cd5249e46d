import { KubeConfig } from '@kubernetes/client-node';
import { CliError } from './client.ts';

/** kubectl's rules: --kubeconfig, else $KUBECONFIG / ~/.kube/config, else in-cluster; --context picks a context. */
export function loadKubeConfig(options: { kubeconfig?: string; context?: string }): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    if (options.kubeconfig) kubeConfig.loadFromFile(options.kubeconfig);
    else kubeConfig.loadFromDefault();
    if (options.context) kubeConfig.setCurrentContext(options.context);
  } catch (error) {
    throw new CliError(`load kubeconfig${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: ${(error as Error).message}`);
  }
  if (!kubeConfig.getCurrentCluster()) throw new CliError('load kubeconfig: no current cluster (use --kubeconfig or --context)');
  return kubeConfig;
}
