import { KubeConfig } from '@kubernetes/client-node';
import { shareConnections } from './kube-connections.ts';

/**
 * kubectl's rules: `kubeconfig`, else $KUBECONFIG / ~/.kube/config, else
 * in-cluster; `context` picks a context. Every API client made from the result
 * shares one keep-alive connection pool. Throws one line naming what failed.
 */
export function loadKubeConfig(options: { kubeconfig?: string; context?: string }): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    if (options.kubeconfig) kubeConfig.loadFromFile(options.kubeconfig);
    else kubeConfig.loadFromDefault();
    if (options.context) kubeConfig.setCurrentContext(options.context);
  } catch (error) {
    throw new Error(`load kubeconfig${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: ${(error as Error).message}`);
  }
  if (!kubeConfig.getCurrentCluster()) throw new Error('load kubeconfig: no current cluster (use --kubeconfig or --context, or run in a cluster)');
  return shareConnections(kubeConfig);
}

/**
 * The `authorization` header value this kubeconfig's user presents (a
 * bearer token; re-read on each call, as in-cluster tokens rotate), or
 * undefined when it authenticates otherwise (client certificates).
 */
export async function authorizationHeader(kubeConfig: KubeConfig): Promise<string | undefined> {
  const options: { headers: Record<string, string> } = { headers: {} };
  await kubeConfig.applyToHTTPSOptions(options);
  return options.headers['Authorization'] ?? options.headers['authorization'];
}
