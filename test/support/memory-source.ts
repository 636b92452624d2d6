import type { ManifestSource, SourceEvent, SourceLoad } from '../../src/reconcile/index.js';
import { contentRevision, loadFromText } from '../../src/reconcile/index.js';

/** Manifests held in memory for daemon tests; set() is an edit. */
export class MemorySource implements ManifestSource {
  readonly info = { kind: 'files' as const, paths: ['memory'] };
  recorded: string[] = [];
  watching = 0;
  private onEvent: ((e: SourceEvent) => void) | undefined;

  constructor(public text: string) {}

  async load(): Promise<SourceLoad> {
    const sources = [{ file: 'net.yaml', text: this.text }];
    return loadFromText(contentRevision(sources), sources);
  }

  watch(onEvent: (e: SourceEvent) => void): void {
    this.watching++;
    this.onEvent = onEvent;
  }

  set(text: string): void {
    this.text = text;
    this.onEvent?.({ kind: 'changed' });
  }

  async refresh(): Promise<void> {}

  async recordApplied(revision: string): Promise<void> {
    this.recorded.push(revision);
  }

  async close(): Promise<void> {}
}
