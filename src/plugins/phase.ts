import type { PluginAttachment } from '../compile/index.js';
import type { NsSnapshot } from '../kernel/index.js';
import { observedDrift } from './drift.js';
import type { RecordStore } from './records.js';
import { requestHash } from './records.js';
import type { PluginChange, PluginFailure, PluginRecord, PluginRunner, PluginWarning, RunnerContext } from './types.js';
import { PluginError } from './types.js';

/**
 * The plugin phase of a reconcile, beside the kernel program: plan (compare what compile asks for
 * with the records and the kernel, ask plugins to CHECK), then apply in two halves around the
 * kernel program: deletes before it (the container namespaces still exist), adds after it (they
 * exist now). A plugin's failure is its network's: recorded as a PluginFailure, never thrown.
 */

export interface PluginPlanInput {
  attachments: readonly PluginAttachment[];
  records: readonly PluginRecord[];
  /** Container namespaces as observed, by key. */
  namespaces: ReadonlyMap<string, NsSnapshot>;
  /** Records whose container is no longer declared go only with prune (weft's orphan rule). */
  prune: boolean;
  declaredContainers: ReadonlySet<string>;
  /** destroy: every record of these containers or networks is deleted, whatever is attached. */
  destroy?: { containers: ReadonlySet<string>; networks: ReadonlySet<string> };
}

export interface PluginPlan {
  changes: PluginChange[];
  /** Records kept although nothing asks for them (orphans without --prune). */
  orphans: PluginRecord[];
  failures: PluginFailure[];
  warnings: PluginWarning[];
  /** The request for each attachment, by record key (resolved once, used by apply). */
  requests: Map<string, unknown>;
}

export const recordKey = (r: { network: string; container: string }) => `${r.network}\0${r.container}`;

/** Plans the plugin phase. Read-only: resolves configurations and runs the plugins' CHECK. */
export async function planPlugins(input: PluginPlanInput, runners: ReadonlyMap<string, PluginRunner>, ctx: RunnerContext): Promise<PluginPlan> {
  const plan: PluginPlan = { changes: [], orphans: [], failures: [], warnings: [], requests: new Map() };
  const records = new Map(input.records.map((r) => [recordKey(r), r]));
  const wanted = new Set<string>();
  for (const att of input.destroy ? [] : input.attachments) {
    const key = recordKey(att);
    wanted.add(key);
    const rec = records.get(key);
    const runner = runners.get(att.kind);
    const fail = (message: string) => plan.failures.push({ kind: att.kind, network: att.network, container: att.container, pos: att.pos, message });
    if (!runner) {
      fail(`no ${att.kind} plugin support in this weft`);
      continue;
    }
    let request: unknown;
    try {
      request = await runner.request(att);
    } catch (err) {
      fail(messageOf(err));
      continue;
    }
    plan.requests.set(key, request);
    const base = { kind: att.kind, network: att.network, container: att.container, attachment: att };
    if (!rec) {
      plan.changes.push({ action: 'add', ...base });
      continue;
    }
    if (rec.requestHash !== requestHash(request)) {
      plan.changes.push({ action: 'repair', ...base, record: rec, reason: 'the declaration changed' });
      continue;
    }
    const ns = input.namespaces.get(att.nsKey);
    const drift = observedDrift(rec, ns);
    if (drift !== undefined) {
      plan.changes.push({ action: 'repair', ...base, record: rec, reason: drift });
      continue;
    }
    let checked: string | undefined;
    try {
      checked = await runner.check?.(rec, ctx);
    } catch (err) {
      checked = messageOf(err);
    }
    if (checked === undefined) continue;
    // A CHECK that failed right after the plugin made the endpoint is the plugin's own bug: say so, do not loop.
    if (rec.checkWarning !== undefined) plan.warnings.push({ network: att.network, container: att.container, message: checked });
    else plan.changes.push({ action: 'repair', ...base, record: rec, reason: `CHECK failed: ${checked}` });
  }
  for (const rec of input.records) {
    if (wanted.has(recordKey(rec))) continue;
    const target = input.destroy ? input.destroy.containers.has(rec.container) || input.destroy.networks.has(rec.network) : true;
    const orphan = !input.destroy && !input.declaredContainers.has(rec.container);
    if (!target) continue;
    if (orphan && !input.prune) plan.orphans.push(rec);
    else plan.changes.push({ action: 'delete', kind: rec.kind, network: rec.network, container: rec.container, record: rec });
  }
  return plan;
}

export interface PluginApplyContext extends RunnerContext {
  store: RecordStore;
  runners: ReadonlyMap<string, PluginRunner>;
  now: () => Date;
}

/**
 * First half, before the kernel program: DEL for deletes and repairs; the record goes once the
 * plugin confirmed. A failed DEL keeps the record (the next apply tries again) and skips the
 * repair's ADD. Returns the changes whose second half may run.
 */
export async function applyPluginDeletes(plan: PluginPlan, ctx: PluginApplyContext): Promise<PluginChange[]> {
  const next: PluginChange[] = [];
  for (const c of plan.changes) {
    if (c.action === 'add' || !c.record) {
      next.push(c);
      continue;
    }
    try {
      const runner = ctx.runners.get(c.record.kind);
      if (!runner) throw new PluginError(`no ${c.record.kind} plugin support in this weft`);
      await runner.delete(c.record, ctx);
      await ctx.store.remove(c.record);
      next.push(c);
    } catch (err) {
      plan.failures.push(failureOf(c, `${c.action === 'repair' ? 'repair: ' : ''}DEL failed: ${messageOf(err)}`));
    }
  }
  return next;
}

/**
 * Second half, after the kernel program: ADD for adds and repairs, a record per success, CHECK
 * right after (a failure then is the plugin's bug: recorded as checkWarning, not repaired again);
 * then per-network cleanup for networks whose last endpoint went.
 */
export async function applyPluginAdds(plan: PluginPlan, changes: readonly PluginChange[], ctx: PluginApplyContext): Promise<void> {
  for (const c of changes) {
    if (c.action === 'delete' || !c.attachment) continue;
    const att = c.attachment;
    const runner = ctx.runners.get(att.kind);
    const request = plan.requests.get(recordKey(att));
    if (!runner || request === undefined) continue;
    try {
      const result = await runner.add(att, request, ctx);
      const rec: PluginRecord = {
        kind: att.kind,
        network: att.network,
        container: att.container,
        containerId: att.containerId,
        endpointId: att.endpointId,
        // The name the interface really got (a Docker plugin's DstPrefix + index), for drift and DEL.
        ifname: result.interfaces?.find((i) => i.sandbox !== undefined && i.sandbox !== '')?.name ?? att.ifname,
        nsKey: att.nsKey,
        netnsPath: att.netnsPath,
        request,
        requestHash: requestHash(request),
        result,
        createdAt: ctx.now().toISOString(),
      };
      await ctx.store.write(rec);
      const checked = await runner.check?.(rec, ctx).catch((err: unknown) => messageOf(err));
      if (checked !== undefined) {
        rec.checkWarning = checked;
        await ctx.store.write(rec);
        plan.warnings.push({ network: att.network, container: att.container, message: checked });
        ctx.log.warn({ network: att.network, container: att.container, check: checked }, 'plugin CHECK fails right after ADD; kept, not repaired again');
      }
    } catch (err) {
      plan.failures.push(failureOf(c, `ADD failed: ${messageOf(err)}`));
    }
  }
  await cleanupNetworks(plan, changes, ctx);
}

/**
 * The networks left without any endpoint after this apply (the last one deleted, or the first
 * ADD failed and was undone): the runner removes what its plugin left for the network itself.
 */
async function cleanupNetworks(plan: PluginPlan, changes: readonly PluginChange[], ctx: PluginApplyContext): Promise<void> {
  const recorded = new Set((await ctx.store.list()).map((r) => r.network));
  const gone = new Map<string, { kind: string; requests: unknown[] }>();
  for (const c of changes) {
    if (recorded.has(c.network)) continue;
    const request = c.action === 'delete' ? c.record?.request : plan.requests.get(recordKey(c));
    if (request === undefined) continue;
    const entry = gone.get(c.network) ?? { kind: c.kind, requests: [] };
    entry.requests.push(request);
    gone.set(c.network, entry);
  }
  for (const [network, { kind, requests }] of gone) {
    try {
      await ctx.runners.get(kind)?.networkGone?.(network, requests, ctx);
    } catch (err) {
      plan.failures.push({ kind, network, message: `cleanup failed: ${messageOf(err)}` });
    }
  }
}

function failureOf(c: PluginChange, message: string): PluginFailure {
  return { kind: c.kind, network: c.network, container: c.container, ...(c.attachment ? { pos: c.attachment.pos } : {}), message };
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One plan line per plugin change, as `plan` prints them (+ add, - delete, ~ repair). */
export function pluginPlanLines(plan: Pick<PluginPlan, 'changes' | 'warnings'>): string[] {
  const sign = { add: '+', delete: '-', repair: '~' } as const;
  const verb = { add: 'ADD', delete: 'DEL', repair: 'DEL, ADD' } as const;
  return [
    ...plan.changes.map((c) => `${sign[c.action]} ${c.kind} endpoint ${c.network}/${c.container} (${verb[c.action]}${c.reason !== undefined ? `: ${c.reason}` : ''})`),
    ...plan.warnings.map((w) => `! ${w.network}/${w.container}: plugin CHECK fails right after ADD (kept, not repaired again): ${w.message}`),
  ];
}
