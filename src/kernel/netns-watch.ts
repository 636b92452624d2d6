import type { FSWatcher } from 'node:fs';
import { mkdirSync, watch } from 'node:fs';
import { namespaceIdentity } from './netns-identity.js';

/** Where named namespaces live (as iproute2 keeps them). */
const NETNS_RUN_DIR = '/run/netns';

/**
 * Calls `onChange` whenever a name under /run/netns is added, removed or replaced. A descriptor
 * opened inside a namespace (a DNS socket) keeps that namespace alive: its holder must close it as
 * soon as the name goes, or a deleted namespace, and its veths, would never be destroyed. Returns
 * the function that stops watching. Events are hints: the holder checks identities itself.
 */
export function watchNetnsNames(onChange: (name: string | null) => void): () => void {
  let watcher: FSWatcher | undefined;
  try {
    mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
    watcher = watch(NETNS_RUN_DIR, (_event, file) => onChange(typeof file === 'string' ? file : null));
    // A failing watch (the folder replaced) says "anything may have changed".
    watcher.on('error', () => onChange(null));
  } catch {
    /* cannot watch: the holder's periodic check still notices */
  }
  return () => watcher?.close();
}

/** The nsfs identity ("dev:ino") of the namespace at `path`, as the namespace worker reports it; undefined when gone. */
export function netnsKey(path: string): string | undefined {
  const id = namespaceIdentity(path);
  return id ? `${id.dev}:${id.ino}` : undefined;
}
