// Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules.
//
// Contracts:
// - A candidate takes the Lease when it is absent, released (empty holder), or
//   not renewed for leaseDurationMs *as observed on this process's clock*
//   (the holder's renewTime is never compared with our clock, so clock skew
//   between replicas cannot make two leaders).
// - Every write carries the resourceVersion read just before it; a 409
//   Conflict means another candidate won that round, never an error.
// - The leader renews every retryPeriodMs; if it cannot renew for
//   renewDeadlineMs it stops leading (onStoppedLeading) before the lease
//   can expire for others (renewDeadlineMs < leaseDurationMs), then becomes a
//   candidate again.
// - stop() releases the Lease (holder cleared) so a successor takes over at once.
import { hostname } from 'node:os';
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { V1MicroTime } from '@kubernetes/client-node';
import { apiErrorCode } from './api-errors.ts';

export const DEFAULTS = Object.freeze({
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
});

export interface LeaderElectionOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  /** Unique per replica; defaults to hostname + pid. */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  /** Told about API errors other than conflicts (the elector keeps trying). */
  onError?: (error: unknown) => void;
}

export class LeaderElector {
  readonly identity: string;
  private readonly options: LeaderElectionOptions;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** The last Lease we read or wrote and when (our clock) its record last changed. */
  private observed: { holder: string; renewTime: string; at: number } | undefined;
  private lastRenewAt = 0;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.identity = options.identity ?? `${hostname()}_${process.pid}`;
    this.leaseDurationMs = options.leaseDurationMs ?? DEFAULTS.leaseDurationMs;
    this.renewDeadlineMs = options.renewDeadlineMs ?? Math.min(DEFAULTS.renewDeadlineMs, Math.floor(this.leaseDurationMs * 2 / 3));
    this.retryPeriodMs = options.retryPeriodMs ?? Math.min(DEFAULTS.retryPeriodMs, Math.floor(this.leaseDurationMs / 5));
    if (!(this.renewDeadlineMs < this.leaseDurationMs)) throw new Error('configure leader election: renewDeadlineMs must be below leaseDurationMs');
  }

  get isLeader(): boolean { return this.leading; }

  /** Starts campaigning in the background; returns at once. */
  start(): void {
    if (this.loop) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops campaigning, calls onStoppedLeading if leading, and releases the Lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
    this.loop = undefined;
    if (this.leading) {
      this.leading = false;
      await this.release();
      await this.callback(this.options.onStoppedLeading);
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const ok = await this.tryAcquireOrRenew();
      const now = Date.now();
      if (ok) {
        this.lastRenewAt = now;
        if (!this.leading && !this.stopped) {
          this.leading = true;
          await this.callback(this.options.onStartedLeading);
        }
      } else if (this.leading && now - this.lastRenewAt >= this.renewDeadlineMs) {
        this.leading = false;
        await this.callback(this.options.onStoppedLeading);
      }
      await this.sleep(this.retryPeriodMs);
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name } = this.options;
    const now = new V1MicroTime();
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (apiErrorCode(error) !== 404) { this.report(error); return false; }
      try {
        const created = await api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: this.record(now, now, 0),
          },
        });
        this.observe(created);
        return true;
      } catch (createError) {
        if (apiErrorCode(createError) !== 409) this.report(createError);
        return false;
      }
    }
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const expired = this.observed !== undefined && Date.now() >= this.observed.at + this.leaseDurationMs;
    if (holder !== '' && holder !== this.identity && !expired) return false;
    const mine = holder === this.identity;
    const transitions = (spec.leaseTransitions ?? 0) + (mine ? 0 : 1);
    const acquireTime = mine && spec.acquireTime ? spec.acquireTime : now;
    try {
      const replaced = await api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: this.record(acquireTime, now, transitions) },
      });
      this.observe(replaced);
      return true;
    } catch (error) {
      if (apiErrorCode(error) !== 409) this.report(error);
      return false;
    }
  }

  private async release(): Promise<void> {
    const { api, namespace, name } = this.options;
    try {
      const lease = await api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      await api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime() } },
      });
    } catch (error) {
      // Not fatal: the successor waits out the lease instead.
      this.report(error);
    }
  }

  private record(acquireTime: Date, renewTime: Date, leaseTransitions: number): NonNullable<V1Lease['spec']> {
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.leaseDurationMs / 1000)),
      acquireTime: acquireTime as V1MicroTime,
      renewTime: renewTime as V1MicroTime,
      leaseTransitions,
    };
  }

  /** Remember when (our clock) the lease record last changed. */
  private observe(lease: V1Lease): void {
    const holder = lease.spec?.holderIdentity ?? '';
    const renewTime = String(lease.spec?.renewTime?.valueOf() ?? '');
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: Date.now() };
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) { resolve(); return; }
      this.wake = () => { if (this.timer) clearTimeout(this.timer); resolve(); };
      this.timer = setTimeout(resolve, ms);
    });
  }

  private async callback(fn: () => void | Promise<void>): Promise<void> {
    try { await fn(); } catch (error) { this.report(error); }
  }

  private report(error: unknown): void {
    try { this.options.onError?.(error); } catch { /* never let a logger stop the elector */ }
  }
}
