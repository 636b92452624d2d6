import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { ReconcileResult } from '../reconcile/index.js';
import type { GlobalOptions } from './context.js';

/**
 * Small records weft keeps in --state-dir that the kernel cannot hold: when each network was
 * created (for `network inspect`'s Created). Written only when something is created.
 */
function file(g: GlobalOptions): string {
  return path.join(g.stateDir, `${g.hostNetns || 'root'}.networks.json`);
}

export async function readCreated(g: GlobalOptions): Promise<Record<string, string>> {
  try {
    return JSON.parse(await readFile(file(g), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

export async function recordCreated(g: GlobalOptions, r: ReconcileResult): Promise<void> {
  const created = r.plan.changes.filter((c) => c.domain === 'links' && c.action === 'create' && c.desired?.owner.kind === 'network');
  if (created.length === 0) return;
  const rec = await readCreated(g);
  const now = new Date().toISOString();
  for (const c of created) if (c.desired) rec[c.desired.owner.name] = now;
  await mkdir(g.stateDir, { recursive: true });
  // A new file renamed over the old one: a weft killed mid-write leaves the old record whole, and
  // a link planted at the name is replaced, never written through.
  await writeFileAtomic(file(g), `${JSON.stringify(rec, null, 2)}\n`, 0o600);
}
