import type { KernelStats } from '../kernel/index.js';
import type { Counter, Gauge, Histogram } from './metrics.js';
import { Registry } from './metrics.js';
import type { StoreStatus } from './store-sync.js';

export type ReconcileOutcome = 'converged' | 'applied' | 'failed';

/** What the metrics read from the daemon when they are scraped. */
export interface MetricsSnapshot {
  ready: boolean;
  owned: Record<string, number>;
  /** When the last reconcile finished (ms since the epoch), if any. */
  lastReconcileAt?: number;
  source: { kind: string; revision?: string };
  /** Only with a membership store. */
  store?: StoreStatus;
  /** Plugin endpoints that failed in the last reconcile, and CHECK warnings (plugins that fail their own CHECK). */
  plugins?: { pending: number; checkWarnings: number };
}

/** Reconcile durations from 5 ms (a converged check) to 30 s (thousands of containers). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The daemon's Prometheus metrics, all prefixed weft_. */
export class DaemonMetrics {
  private readonly registry = new Registry();
  readonly reconcileDuration: Histogram;
  readonly reconciles: Counter;
  readonly changes: Counter;
  readonly driftEvents: Counter;
  readonly ownEvents: Counter;
  readonly driftRepairs: Counter;
  readonly driftRepairedObjects: Counter;
  readonly manifestLoads: Counter;
  private readonly owned: Gauge;
  private readonly ready: Gauge;
  private readonly lastReconcile: Gauge;
  private readonly sourceInfo: Gauge;
  private readonly dnsQueries: Counter;
  private readonly kernelProcesses: Counter;
  private readonly kernelWrites: Counter;
  private readonly storeConnected: Gauge;
  private readonly storeRemoteEndpoints: Gauge;
  private readonly storePublishedEndpoints: Gauge;
  private readonly storeLastPublish: Gauge;
  private readonly storeChanges: Counter;
  private readonly storeErrors: Counter;
  private readonly storeRejected: Counter;
  private readonly pluginPending: Gauge;
  private readonly pluginCheckWarnings: Gauge;

  constructor(
    private readonly kernelStats: () => KernelStats,
    private readonly dnsQueriesByRcode: () => Record<string, number> | undefined,
  ) {
    const r = this.registry;
    this.reconcileDuration = r.histogram('weft_reconcile_duration_seconds', 'Time of one reconcile: observe, compile, plan, apply and verify.', DURATION_BUCKETS);
    this.reconciles = r.counter('weft_reconciles_total', 'Reconciles by result: converged (nothing to do), applied (changes written and verified), failed.');
    for (const result of ['converged', 'applied', 'failed']) this.reconciles.init({ result });
    this.changes = r.counter('weft_changes_total', 'Kernel objects created, updated or deleted by reconciles.');
    this.driftEvents = r.counter('weft_drift_events_total', 'Kernel events (ip monitor, nft monitor) that were not weft\'s own and triggered a reconcile.');
    for (const source of ['ip', 'nft']) this.driftEvents.init({ source });
    this.ownEvents = r.counter('weft_own_events_ignored_total', 'Kernel events caused by weft\'s own writes, ignored.');
    this.driftRepairs = r.counter('weft_drift_repairs_total', 'Reconciles that repaired drift (changes with unchanged manifests).');
    this.driftRepairs.init({});
    this.driftRepairedObjects = r.counter('weft_drift_repaired_objects_total', 'Kernel objects repaired after drift.');
    this.driftRepairedObjects.init({});
    this.manifestLoads = r.counter('weft_manifest_loads_total', 'Manifest revisions loaded, by result (valid, invalid).');
    this.owned = r.gauge('weft_owned_objects', 'Kernel objects weft owns on this host, by kind.');
    this.ready = r.gauge('weft_ready', '1 when the last reconcile converged and the manifests are valid.');
    this.lastReconcile = r.gauge('weft_last_reconcile_timestamp_seconds', 'When the last reconcile finished.');
    this.sourceInfo = r.gauge('weft_source_info', 'The manifest source and the revision in force.');
    this.dnsQueries = r.counter('weft_dns_queries_total', 'DNS queries answered by the embedded server, by response code.');
    this.kernelProcesses = r.counter('weft_kernel_processes_total', 'Processes weft ran to read or write the kernel.');
    this.kernelWrites = r.counter('weft_kernel_writes_total', 'Kernel write operations weft issued.');
    this.storeConnected = r.gauge('weft_store_connected', '1 when the membership store answered the last operation and its watch is up (only with --store).');
    this.storeRemoteEndpoints = r.gauge('weft_store_remote_endpoints', 'Other nodes\' endpoints in use: as last read from the membership store, or last known while it does not answer.');
    this.storePublishedEndpoints = r.gauge('weft_store_published_endpoints', 'This node\'s endpoints in its last publication to the membership store.');
    this.storeLastPublish = r.gauge('weft_store_last_publish_timestamp_seconds', 'When this node last published its endpoints to the membership store.');
    this.storeChanges = r.counter('weft_store_changes_total', 'Changes of other nodes\' endpoints seen on the membership store\'s watch.');
    this.storeErrors = r.counter('weft_store_errors_total', 'Failed membership store operations, by operation (read, publish, watch).');
    this.pluginPending = r.gauge('weft_plugin_pending_endpoints', 'Endpoints of plugin networks (CNI, remote drivers) whose plugin failed in the last reconcile: retried with backoff.');
    this.pluginCheckWarnings = r.gauge('weft_plugin_check_warnings', 'Plugin endpoints whose plugin fails its own CHECK right after ADD (a plugin bug such as containernetworking/plugins#819): kept, not re-created.');
    this.storeRejected = r.counter('weft_store_endpoints_rejected_total', 'Store records not used because the manifests do not vouch for them (or they are not endpoints), by reason; each record counted once.');
  }

  recordReconcile(outcome: ReconcileOutcome, seconds: number): void {
    this.reconcileDuration.observe(seconds);
    this.reconciles.inc({ result: outcome });
  }

  /** The exposition text, with the gauges read from the daemon now. */
  render(s: MetricsSnapshot): string {
    this.owned.replace(Object.entries(s.owned).map(([kind, value]) => ({ labels: { kind }, value })));
    this.ready.set({}, s.ready ? 1 : 0);
    if (s.lastReconcileAt !== undefined) this.lastReconcile.set({}, s.lastReconcileAt / 1000);
    this.sourceInfo.clear();
    this.sourceInfo.set({ kind: s.source.kind, revision: s.source.revision ?? '' }, 1);
    for (const [rcode, n] of Object.entries(this.dnsQueriesByRcode() ?? {})) this.dnsQueries.sync({ rcode }, n);
    const k = this.kernelStats();
    this.kernelProcesses.sync({}, k.processes);
    this.kernelWrites.sync({}, k.writes);
    if (s.store) this.renderStore(s.store);
    this.pluginPending.set({}, s.plugins?.pending ?? 0);
    this.pluginCheckWarnings.set({}, s.plugins?.checkWarnings ?? 0);
    return this.registry.render();
  }

  private renderStore(s: StoreStatus): void {
    this.storeConnected.set({}, s.connected ? 1 : 0);
    this.storeRemoteEndpoints.set({}, s.remoteEndpoints);
    this.storePublishedEndpoints.set({}, s.lastPublish?.endpoints ?? 0);
    if (s.lastPublish) this.storeLastPublish.set({}, Date.parse(s.lastPublish.at) / 1000);
    this.storeChanges.sync({}, s.changes);
    for (const [op, n] of Object.entries(s.errors)) this.storeErrors.sync({ op }, n);
    for (const [reason, n] of Object.entries(s.rejected ?? {})) this.storeRejected.sync({ reason }, n);
  }
}
