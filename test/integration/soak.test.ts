import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestHost, repoRoot } from '../support/netns.js';
import { runSoak, soakTable, type SoakResult } from '../support/soak.js';

// Issue 16, the soak: `weft watch` under a fault every 200 ms and a manifest edit every 5 s. Every
// fault must be seen repaired and every edit applied by an independent eye (ip -j, nft -j, files),
// the daemon's RSS and open fds must stay flat after the warm-up, its log may hold no error that
// no planned fault explains, and `weft plan` must be clean at the end. CI: 60 s over 30
// containers; `npm run soak` runs 10 min over 200 (SOAK_SECONDS=3600 for a release). SEED replays;
// SOAK_OUT writes the result as JSON, SOAK_LOG the daemon's log.

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 60);
const CONTAINERS = Number(process.env['SOAK_CONTAINERS'] ?? 30);
const RESYNC = process.env['SOAK_RESYNC'] ?? '15s';
const SEED = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const OUT = process.env['SOAK_OUT'];
/** Flat: less than this growth of RSS and fds from the end of the warm-up to the end. */
const MAX_GROWTH_PCT = 10;

describe(`soak (SEED=${SEED} SOAK_SECONDS=${SECONDS} SOAK_CONTAINERS=${CONTAINERS})`, () => {
  let host: TestHost;
  let r: SoakResult;
  const log = (msg: string) => process.stderr.write(`[soak SEED=${SEED}] ${msg}\n`);

  beforeAll(async () => {
    host = await TestHost.create('wsk', { foreign: true });
  });
  afterAll(async () => {
    await host?.cleanup();
  });

  it('repairs every fault, applies every edit, stays flat and ends converged', async () => {
    r = await runSoak(host, { seconds: SECONDS, containers: CONTAINERS, seed: SEED, resync: RESYNC, log, ...(process.env['SOAK_LOG'] ? { daemonLog: process.env['SOAK_LOG'] } : {}) });
    log(`\n${soakTable(r)}`);
    if (OUT) {
      const file = path.resolve(repoRoot, OUT);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, `${JSON.stringify({ date: new Date().toISOString(), ...r }, null, 1)}\n`);
      log(`written to ${file}`);
    }
    expect(r.faults.injected, 'the chaos loop injected nothing').toBeGreaterThan(SECONDS);
    expect(r.faults.unrepaired, 'faults never repaired').toEqual([]);
    expect(r.edits.unconverged, 'edits never applied').toEqual([]);
    expect(r.plan.code).toBe(0);
    expect(r.plan.changes, 'plan not clean at the end').toEqual([]);
    expect(r.log.unplanned, 'errors in the log that no planned fault explains').toEqual([]);
    expect(r.daemon.fdGrowthPct, 'open fds grew').toBeLessThan(MAX_GROWTH_PCT);
    expect(r.daemon.rssGrowthPct, 'RSS grew').toBeLessThan(MAX_GROWTH_PCT);
  }, (SECONDS + 900) * 1000);
});
