import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';

/** Who is asking, as the API server authenticated them. */
export interface Requester {
  readonly username: string;
  readonly groups: readonly string[];
  readonly uid?: string;
  readonly extra?: Record<string, string[]>;
}

/** What a requester may see. `allNamespaces`: every row; otherwise only rows of pods in `namespaces`. */
export interface RowScope {
  readonly allNamespaces: boolean;
  readonly namespaces: readonly string[];
}

/** An error the endpoint answers with `status` and the message, in one line. */
export class AccessError extends Error {
  readonly status: 401 | 403;
  constructor(status: 401 | 403, message: string) {
    super(message);
    this.status = status;
  }
}

export interface AccessControl {
  /** Authenticates a bearer token (throws AccessError 401). */
  authenticate(token: string | undefined): Promise<Requester>;
  /** Which rows the requester may read: pods they may `get` (throws AccessError 403 when none). */
  scope(requester: Requester): Promise<RowScope>;
}

/**
 * Agents answer with every row they hold, unscoped: only callers granted the
 * RBAC verb `query` on `agents.wisp.dev` may ask them directly (the query
 * endpoint's ServiceAccount, cluster admins). Everyone else goes through the
 * endpoint, which scopes rows by namespace.
 */
export const AGENT_QUERY_PERMISSION = Object.freeze({ group: 'wisp.dev', resource: 'agents', verb: 'query' });

/** The bearer token of an `authorization` header, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
}

/**
 * Kubernetes decides: TokenReview authenticates the bearer token, and
 * SubjectAccessReview says whether the user may `get pods` in all namespaces
 * (then every row, including rows without a pod) or in which namespaces.
 * Results are cached briefly so a burst of queries costs one review.
 * The endpoint's own identity needs create on tokenreviews and
 * subjectaccessreviews, and list on namespaces.
 */
export class KubernetesAccessControl implements AccessControl {
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly listNamespaces: () => Promise<string[]>;
  private readonly cache = new Map<string, { expiresMs: number; value: Promise<unknown> }>();
  private readonly cacheMs: number;

  /** `listNamespaces` is needed by scope() only. */
  constructor(kubeConfig: KubeConfig, listNamespaces: () => Promise<string[]> = () => Promise.resolve([]), cacheMs = 10_000) {
    this.authn = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.authz = kubeConfig.makeApiClient(AuthorizationV1Api);
    this.listNamespaces = listNamespaces;
    this.cacheMs = cacheMs;
  }

  authenticate(token: string | undefined): Promise<Requester> {
    if (!token) return Promise.reject(new AccessError(401, 'no bearer token: use a kubeconfig with a token (wisp run --kubeconfig/--context)'));
    return this.cached(`token:${token}`, async () => {
      const review = await this.authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
      const user = review.status?.user;
      if (!review.status?.authenticated || !user?.username) {
        throw new AccessError(401, `the API server did not accept the token${review.status?.error ? `: ${review.status.error}` : ''}`);
      }
      return { username: user.username, groups: user.groups ?? [], ...(user.uid && { uid: user.uid }), ...(user.extra && { extra: user.extra }) };
    });
  }

  scope(requester: Requester): Promise<RowScope> {
    return this.cached(`scope:${requester.username}:${requester.groups.join(',')}`, async () => {
      if (await this.mayGetPods(requester, '')) return { allNamespaces: true, namespaces: [] };
      const namespaces: string[] = [];
      for (const namespace of await this.listNamespaces()) {
        if (await this.mayGetPods(requester, namespace)) namespaces.push(namespace);
      }
      if (namespaces.length === 0) throw new AccessError(403, `${requester.username} may not get pods in any namespace`);
      return { allNamespaces: false, namespaces };
    });
  }

  /** Authenticates a caller of an agent's query API and checks AGENT_QUERY_PERMISSION (AccessError 401/403). */
  authorizeAgentQuery(token: string | undefined): Promise<Requester> {
    return this.cached(`agent:${token ?? ''}`, async () => {
      const requester = await this.authenticate(token);
      if (!await this.allowed(requester, AGENT_QUERY_PERMISSION)) {
        const { verb, resource, group } = AGENT_QUERY_PERMISSION;
        throw new AccessError(403, `${requester.username} may not ${verb} ${resource}.${group}: query through the wisp query endpoint`);
      }
      return requester;
    });
  }

  private mayGetPods(requester: Requester, namespace: string): Promise<boolean> {
    return this.allowed(requester, { verb: 'get', resource: 'pods', ...(namespace && { namespace }) });
  }

  private async allowed(requester: Requester, resourceAttributes: { verb: string; resource: string; group?: string; namespace?: string }): Promise<boolean> {
    const review = await this.authz.createSubjectAccessReview({ body: {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: {
        user: requester.username, groups: [...requester.groups],
        ...(requester.uid && { uid: requester.uid }), ...(requester.extra && { extra: requester.extra }),
        resourceAttributes,
      },
    } });
    return review.status?.allowed === true;
  }

  private cached<T>(key: string, compute: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.expiresMs > now) return hit.value as Promise<T>;
    if (this.cache.size > 1024) this.cache.clear();
    const value = compute();
    this.cache.set(key, { expiresMs: now + this.cacheMs, value });
    value.catch(() => this.cache.delete(key));
    return value;
  }
}
