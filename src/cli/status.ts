import type { Command } from 'commander';
import { Option } from 'commander';
import { WeftError } from '../errors.js';
import { DEFAULT_LISTEN, listenUrl, parseListen } from '../reconcile/index.js';
import type { DaemonStatus } from '../reconcile/index.js';
import type { GlobalOptions } from './context.js';
import { printLines } from './output.js';
import { reexecInHostNetns } from './watch.js';

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

function short(rev: string | undefined): string {
  if (!rev) return '(none)';
  return /^[0-9a-f]{40}$/.test(rev) ? rev.slice(0, 12) : rev;
}

/** The daemon's /status for a person. Pure. */
export function formatStatus(s: DaemonStatus, now = Date.now()): string[] {
  const src = s.source;
  const lines: string[] = [];
  lines.push(`daemon:      pid ${s.pid}, host ${s.hostNetns || '(root namespace)'}${s.node ? `, node ${s.node}` : ''}, up since ${s.startedAt} (${ago(s.startedAt, now)})`);
  if (src.kind === 'git') lines.push(`source:      git ${src.url} ref ${src.ref}${src.path ? ` path ${src.path}` : ''}, fetched every ${Math.round(src.intervalMs / 1000)}s`);
  else lines.push(`source:      files ${src.paths.join(' ')}`);
  lines.push(`revision:    ${short(src.revision)} in force${src.latest && src.latest !== src.revision ? `; latest ${short(src.latest)}` : ''}`);
  if (src.skipped) lines.push(`skipped:     ${short(src.skipped.revision)} (invalid manifests, ${ago(src.skipped.at, now)})`);
  lines.push(`ready:       ${s.ready ? 'yes' : 'no'}`);
  const l = s.lastReconcile;
  if (l) {
    lines.push(`last reconcile: ${l.result} at ${l.finishedAt} (${ago(l.finishedAt, now)}), ${l.durationMs} ms, trigger ${l.trigger.join('+')}, ${l.changes} change${l.changes === 1 ? '' : 's'}${l.changes > 0 ? ` (${l.summary})` : ''}`);
  } else lines.push('last reconcile: none yet');
  const owned = Object.entries(s.owned).map(([k, n]) => `${n} ${k}`);
  lines.push(`owned:       ${owned.length > 0 ? owned.join(', ') : 'nothing'}${s.orphans > 0 ? `; ${s.orphans} orphaned (kept without --prune)` : ''}`);
  lines.push(`reconciles:  ${s.reconciles.converged} converged, ${s.reconciles.applied} applied, ${s.reconciles.failed} failed`);
  lines.push(`drift:       ${s.drift.events} events, ${s.drift.repairs} repairs (${s.drift.repairedObjects} objects)${s.drift.lastEventAt ? `, last ${ago(s.drift.lastEventAt, now)}` : ''}`);
  if (s.dns) lines.push(`dns:         ${Object.entries(s.dns.queries).map(([rc, n]) => `${n} ${rc}`).join(', ') || 'no queries yet'}`);
  if (s.store) lines.push(`store:       ${storeLine(s.store, now)}`);
  for (const f of s.plugins?.pending ?? []) lines.push(`pending:     network ${f.network}${f.container !== undefined ? ` (container ${f.container})` : ''}: ${f.kind} plugin: ${f.message} (retried with backoff)`);
  for (const w of s.plugins?.warnings ?? []) lines.push(`warning:     ${w.network}/${w.container}: plugin CHECK fails right after ADD (kept, not repaired again): ${w.message}`);
  if (s.errors.length === 0) lines.push('error:       none');
  for (const e of s.errors) {
    lines.push(`error:       ${e.kind}${e.revision ? ` at ${short(e.revision)}` : ''} (${ago(e.at, now)}):`);
    for (const m of e.problems ?? e.message.split('\n')) lines.push(`  ${m}`);
  }
  return lines;
}

/** "etcd://… connected; 3 remote endpoints (read 2s ago); published 1 endpoint 5s ago". Pure. */
function storeLine(st: NonNullable<DaemonStatus['store']>, now: number): string {
  const state = st.connected ? 'connected' : 'NOT connected';
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  const from = st.cached ? 'kept from the last run' : st.readAt ? `read ${ago(st.readAt, now)}` : 'none read yet';
  const parts = [`${st.url} ${state}`, `${n(st.remoteEndpoints, 'remote endpoint')} (${st.connected ? from : `last known, ${from}`})`];
  parts.push(st.lastPublish ? `published ${n(st.lastPublish.endpoints, 'endpoint')} ${ago(st.lastPublish.at, now)}` : 'nothing published yet');
  const rejected = Object.values(st.rejected ?? {}).reduce((a, b) => a + b, 0);
  if (rejected > 0) parts.push(`${n(rejected, 'record')} rejected (see the log)`);
  return parts.join('; ');
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("what the watch daemon reports: source, commit, last reconcile, drift, errors")
    .addOption(new Option('--listen <host:port>', "the daemon's HTTP address (inside the host namespace)").default(DEFAULT_LISTEN))
    .option('--json', 'print /status as JSON')
    .action(async (opts: { listen: string; json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      if (await reexecInHostNetns(g)) return;
      const url = listenUrl(parseListen(opts.listen), '/status');
      let status: DaemonStatus;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        status = (await res.json()) as DaemonStatus;
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
        throw new WeftError('UNREACHABLE', `no weft daemon answers at ${url}${g.hostNetns ? ` in namespace ${g.hostNetns}` : ''} (${cause}); start one with weft watch, or pass its --listen`);
      }
      if (opts.json) console.log(JSON.stringify(status, null, 2));
      else printLines(formatStatus(status));
      // Scripts can wait on it: 0 only when the daemon is in sync.
      process.exitCode = status.ready ? 0 : 1;
    });
}
