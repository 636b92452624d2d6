import type { KernelProgram, NsRef } from '../kernel/index.js';
import type { Provider, RenderContext } from '../providers/index.js';
import { ProgramBuilder } from '../providers/index.js';
import type { LinkEntry } from '../state/types.js';
import type { PlannedChange } from './plan.js';

/** Turns planned changes into one kernel program. Pure. */
export function buildProgram(changes: readonly PlannedChange[], providers: readonly Provider[], host: NsRef, context: RenderContext): KernelProgram {
  const out = new ProgramBuilder(host);
  // One memo per program: providers note there what they already did for it.
  const ctx = { ...context, memo: new Map<string, unknown>() };
  const byDomain = new Map(providers.map((p) => [p.domain, p]));
  for (const c of changes) {
    if (c.implied) {
      // A host veth whose namespace is deleted vanishes asynchronously: wait for it, so the
      // verification pass does not see it.
      const link = c.observed as LinkEntry | undefined;
      if (c.domain === 'links' && link?.kind === 'veth') out.awaitGone(host, link.name);
      continue;
    }
    byDomain.get(c.domain)?.render(c as never, out, ctx);
  }
  return out.build();
}
