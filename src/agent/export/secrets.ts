import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { SecretReader } from './export-pipeline.ts';

/**
 * Reads a Secret's data through the API server with the agent's own
 * credentials. The operator grants those per pipeline: a Role in the
 * pipeline's namespace allowing `get` on exactly the Secrets it names
 * (resourceNames), so an agent can read no other Secret.
 */
export function kubeSecretReader(kubeConfig: KubeConfig): SecretReader {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return async (namespace, name) => {
    let secret;
    try {
      secret = await core.readNamespacedSecret({ namespace, name });
    } catch (error) {
      const code = (error as { code?: number }).code;
      throw new Error(code === 404 ? 'not found' : code === 403 ? 'forbidden (no RBAC grant for this Secret)' : (error as Error).message.split('\n')[0]!, { cause: error });
    }
    return Object.fromEntries(Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]));
  };
}
