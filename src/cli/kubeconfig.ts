import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig as load } from '../common/kube-config.ts';
import { CliError } from './client.ts';

/** The shared kubeconfig loader, failing as a one-line CLI error. */
export function loadKubeConfig(options: { kubeconfig?: string; context?: string }): KubeConfig {
  try {
    return load(options);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
}
