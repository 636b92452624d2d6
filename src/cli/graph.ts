import type { Command } from 'commander';
import { Option } from 'commander';
import { UsageError } from '../errors.js';
import { buildGraph, renderDot, renderMermaid } from '../inspect/graph.js';
import { dotToSvg } from '../inspect/graphviz.js';
import type { Model } from '../model/index.js';
import { loadModel } from '../model/index.js';
import type { ReconcileContext } from '../reconcile/index.js';
import { reconcile } from '../reconcile/index.js';
import type { GlobalOptions } from './context.js';
import { makeContext, makeLogger } from './context.js';

export const GRAPH_FORMATS = ['svg', 'dot', 'mermaid'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/**
 * The topology picture of a model against the kernel as it is: the same compile, observe and
 * plan path as `weft plan`, nothing written.
 */
export async function topologyPicture(model: Model, ctx: ReconcileContext, format: GraphFormat): Promise<string> {
  const result = await reconcile(model, ctx, { prune: false, dryRun: true });
  const graph = buildGraph({ topology: result.topology, plan: result.plan, hosts: [...model.hosts.values()] });
  if (format === 'mermaid') return renderMermaid(graph);
  const dot = renderDot(graph);
  return format === 'dot' ? dot : dotToSvg(dot);
}

/** For the daemon's /topology.svg: a context of its own (uncached reads; the daemon's cache stays its own). */
export function topologySvgFor(g: GlobalOptions, current: () => Model | undefined, log: ReturnType<typeof makeLogger>): () => Promise<string | undefined> {
  // One drawing at a time: requests that arrive meanwhile share it.
  let inFlight: Promise<string | undefined> | undefined;
  const draw = async () => {
    const model = current();
    if (!model) return undefined;
    return topologyPicture(model, await makeContext(g, model, log), 'svg');
  };
  return () => {
    inFlight ??= draw().finally(() => (inFlight = undefined));
    return inFlight;
  };
}

export function registerGraphCommand(program: Command): void {
  program
    .command('graph')
    .description('topology picture: hosts, networks, containers, addresses, ports; drift in colour')
    .addOption(new Option('-f, --file <paths...>', 'manifest files or folders (repeatable)'))
    .addOption(new Option('--format <format>', 'svg (needs Graphviz), dot or mermaid').default('svg'))
    .action(async (opts: { file?: string[]; format: string }, cmd: Command) => {
      const format = opts.format as GraphFormat;
      if (!GRAPH_FORMATS.includes(format)) throw new UsageError(`--format ${opts.format}: use svg, dot or mermaid`);
      if (!opts.file || opts.file.length === 0) throw new UsageError('no manifests given; pass files or folders with -f PATH');
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const log = makeLogger(g);
      const model = await loadModel(opts.file);
      process.stdout.write(await topologyPicture(model, await makeContext(g, model, log), format));
    });
}
