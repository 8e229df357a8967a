import { BackgroundSeal } from './background-seal.js';

/** A promise and the functions that settle it. */
function gate(): { promise: Promise<void>; open: () => void; fail: (err: Error) => void } {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

describe('BackgroundSeal', () => {
  test('runs one seal at a time and reports which bundle is in flight', async () => {
    const seals = new BackgroundSeal();
    const g = gate();
    seals.start('b1', () => g.promise);
    expect(seals.inFlight).toBe('b1');
    expect(() => seals.start('b2', () => Promise.resolve())).toThrow(/b1 is still being sealed/);
    g.open();
    await seals.wait();
    expect(seals.inFlight).toBeUndefined();
    seals.start('b2', () => Promise.resolve());
    await seals.wait();
  });

  test('a failed seal is thrown by the next wait, once', async () => {
    const seals = new BackgroundSeal();
    const g = gate();
    seals.start('b1', () => g.promise);
    g.fail(new Error('disk full'));
    await expect(seals.wait()).rejects.toThrow('disk full');
    expect(seals.inFlight).toBeUndefined();
    await expect(seals.wait()).resolves.toBeUndefined();
  });

  test('settle waits for the seal and forgets its failure', async () => {
    const seals = new BackgroundSeal();
    const g = gate();
    let settled = false;
    seals.start('b1', () => g.promise);
    const s = seals.settle().then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    g.fail(new Error('aborted'));
    await s;
    expect(settled).toBe(true);
    await expect(seals.wait()).resolves.toBeUndefined();
  });
});
