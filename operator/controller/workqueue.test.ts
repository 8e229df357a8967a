import { WorkQueue } from './workqueue.js';

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('collapses repeated adds of a waiting key into one run', async () => {
    const q = new WorkQueue({ concurrency: 1 });
    const runs: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    q.start(async (k) => {
      runs.push(k);
      if (k === 'block') await gate;
    });
    q.add('block');
    q.add('a');
    q.add('a');
    q.add('a');
    release();
    await tick(20);
    expect(runs).toEqual(['block', 'a']);
    await q.shutdown();
  });

  it('never runs one key twice at the same time and re-runs it when added while running', async () => {
    const q = new WorkQueue({ concurrency: 4 });
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    q.start(async () => {
      active++;
      runs++;
      maxActive = Math.max(maxActive, active);
      await tick(20);
      active--;
    });
    q.add('k');
    await tick(2);
    q.add('k'); // while running: marked dirty
    q.add('k');
    await tick(80);
    expect(maxActive).toBe(1);
    expect(runs).toBe(2);
    await q.shutdown();
  });

  it('runs different keys in parallel up to the concurrency', async () => {
    const q = new WorkQueue({ concurrency: 2 });
    let active = 0;
    let maxActive = 0;
    q.start(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await tick(15);
      active--;
    });
    for (const k of ['a', 'b', 'c', 'd']) q.add(k);
    await tick(60);
    expect(maxActive).toBe(2);
    await q.shutdown();
  });

  it('requeues a failing key with growing back-off and resets it after a success', async () => {
    const errors: number[] = [];
    const q = new WorkQueue({
      concurrency: 1,
      backoff: { baseMs: 10, maxMs: 1000, jitter: 0 },
      onError: (_k, _e, n) => errors.push(n),
    });
    const times: number[] = [];
    let fail = 3;
    q.start(async () => {
      times.push(Date.now());
      if (fail-- > 0) throw new Error('boom');
    });
    q.add('k');
    await tick(200);
    expect(times).toHaveLength(4);
    expect(errors).toEqual([1, 2, 3]);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps[0]!).toBeGreaterThanOrEqual(9);
    expect(gaps[2]!).toBeGreaterThanOrEqual(38);
    expect(q.numRequeues('k')).toBe(0);
    await q.shutdown();
  });

  it('honours requeueAfterMs and keeps only the soonest delayed add', async () => {
    const q = new WorkQueue({ concurrency: 1 });
    const runs: number[] = [];
    q.start(async () => {
      runs.push(Date.now());
    });
    q.addAfter('k', 200);
    q.addAfter('k', 20);
    await tick(60);
    expect(runs).toHaveLength(1);
    await tick(200);
    expect(runs).toHaveLength(1);
    await q.shutdown();
  });

  it('shutdown waits for running reconciles and refuses new keys', async () => {
    const q = new WorkQueue({ concurrency: 1 });
    let finished = false;
    q.start(async () => {
      await tick(30);
      finished = true;
    });
    q.add('k');
    await tick(2);
    await q.shutdown();
    expect(finished).toBe(true);
    q.add('x');
    expect(q.length).toBe(0);
  });
});
