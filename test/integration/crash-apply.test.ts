import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crashManifests, duplicateAddresses, killAfter, leftovers, planChanges, prepareTemp, seededRandom, strayEtcTemps, timedWeft } from '../support/crash.js';
import { TestHost } from '../support/netns.js';

// Issue 16, kill-anywhere: weft apply / destroy of 50 containers on 3 networks with published
// ports, SIGKILLed (the whole process group) after a random delay in [0, T], T being the wall time
// of the same command unkilled. After each kill the next weft is accepted at once (the lock is an
// flock the kernel dropped), converges, and leaves no address held twice. COUNT kills each (10 by
// default; `npm run crash` does 50); SEED replays a run.

const COUNT = Number(process.env['COUNT'] ?? 10);
const SEED = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
// The CI default is smaller (the same paths, each kill within budget); `npm run crash` uses 50.
const CONTAINERS = Number(process.env['CONTAINERS'] ?? 10);

describe(`kill anywhere (SEED=${SEED} COUNT=${COUNT} CONTAINERS=${CONTAINERS})`, () => {
  let host: TestHost;
  const dirs: string[] = [];
  const random = seededRandom(SEED);
  const log = (msg: string) => process.stderr.write(`[crash SEED=${SEED}] ${msg}\n`);

  beforeAll(async () => {
    host = await TestHost.create('wk', { foreign: true });
    await prepareTemp(host);
    dirs.push(await host.manifests(crashManifests(CONTAINERS, 0), 'set0'));
    dirs.push(await host.manifests(crashManifests(CONTAINERS, 1), 'set1'));
  });
  afterAll(async () => {
    await host?.cleanup();
  });

  /** What must hold after every recovery: converged, nothing half-written, no address twice. */
  async function assertConverged(dir: string, context: string): Promise<void> {
    const plan = await host.weft(['plan', '-f', dir]);
    expect(plan.code, `${context}: plan failed: ${plan.stderr}`).toBe(0);
    expect(planChanges(plan.stdout), `${context}: plan not clean`).toEqual([]);
    expect(await duplicateAddresses(host), `${context}: addresses held twice`).toEqual([]);
    expect(await strayEtcTemps(host), `${context}: half-written files left`).toEqual([]);
  }

  // Per test: COUNT rounds of at most a killed run, a recovery and a check, T being a few seconds
  // per 10 containers on a loaded 2-core machine.
  const budget = 60_000 + COUNT * CONTAINERS * 3_000;

  it('apply: every kill is followed by an apply accepted at once that converges', async () => {
    const first = await timedWeft(host, ['apply', '-f', dirs[0]!]);
    expect(first.code, first.out).toBe(0);
    // T: the same work unkilled (start-up included): a full switch of every container.
    const t = await timedWeft(host, ['apply', '-f', dirs[1]!]);
    expect(t.code, t.out).toBe(0);
    log(`apply T=${t.ms} ms`);
    let killed = 0;
    for (let i = 0; i < COUNT; i++) {
      const dir = dirs[i % 2]!;
      const delay = Math.floor(random() * t.ms);
      const k = await killAfter(host, ['apply', '-f', dir], delay);
      if (k.killed) killed++;
      const context = `apply kill ${i + 1}/${COUNT} after ${delay} ms (killed=${k.killed})`;
      // Accepted at once: no lock left by the dead process, and it converges in one run.
      const r = await timedWeft(host, ['apply', '-f', dir]);
      expect(r.out, context).not.toContain('another weft is writing');
      expect(r.code, `${context}: ${r.out}`).toBe(0);
      await assertConverged(dir, context);
      log(`${context}: recovered in ${r.ms} ms`);
    }
    log(`apply: ${COUNT}/${COUNT} kills survived (${killed} landed before weft finished)`);
  }, budget);

  it('destroy: every kill is followed by a destroy that leaves nothing of weft', async () => {
    const dir = dirs[0]!;
    expect((await timedWeft(host, ['apply', '-f', dir])).code).toBe(0);
    const t = await timedWeft(host, ['destroy', '-f', dir]);
    expect(t.code, t.out).toBe(0);
    expect(await leftovers(host)).toEqual([]);
    log(`destroy T=${t.ms} ms`);
    let killed = 0;
    for (let i = 0; i < COUNT; i++) {
      const context0 = `destroy kill ${i + 1}/${COUNT}`;
      const up = await timedWeft(host, ['apply', '-f', dir]);
      expect(up.code, `${context0}: re-apply: ${up.out}`).toBe(0);
      await assertConverged(dir, `${context0}: re-apply`);
      const delay = Math.floor(random() * t.ms);
      const k = await killAfter(host, ['destroy', '-f', dir], delay);
      if (k.killed) killed++;
      const context = `${context0} after ${delay} ms (killed=${k.killed})`;
      const r = await timedWeft(host, ['destroy', '-f', dir]);
      expect(r.out, context).not.toContain('another weft is writing');
      expect(r.code, `${context}: ${r.out}`).toBe(0);
      expect(await leftovers(host), context).toEqual([]);
      log(`${context}: recovered in ${r.ms} ms`);
    }
    log(`destroy: ${COUNT}/${COUNT} kills survived (${killed} landed before weft finished)`);
  }, budget);
});
