import type { ArchivePolicy } from '../api/schema.js';
import type { PolicyConfig } from '../archiver/config.js';
import { decide, type PolicyState, type Seen } from './reconcile-plan.js';
import type { RunningWorker } from './workers.js';

const state = (over: Partial<PolicyState> = {}): PolicyState => ({
  uid: 'u1',
  namespace: 'ns',
  name: 'p',
  generation: 2,
  mode: { kind: 'running' },
  restarts: 0,
  nextStartAt: 0,
  secretValues: [],
  ...over,
});

const runnable = (st: PolicyState, worker?: Partial<RunningWorker>): Seen => ({
  kind: 'runnable',
  st,
  policy: { metadata: { name: 'p' } } as ArchivePolicy,
  config: {} as PolicyConfig,
  mongoUri: 'mongodb://db',
  fingerprint: 'f2',
  worker: worker && ({ generation: 2, fingerprint: 'f2', stopRequested: false, ...worker } as RunningWorker),
});

describe('decide', () => {
  test('the running worker is kept while generation and connection are unchanged', () => {
    expect(decide(runnable(state(), {}), 0)).toEqual({ kind: 'keep' });
  });

  test('a running worker is replaced, saying why: new generation, changed Secret, or asked to stop', () => {
    expect(decide(runnable(state(), { generation: 1, fingerprint: 'f1' }), 0)).toEqual({
      kind: 'start',
      replacing: 'new generation 2',
    });
    expect(decide(runnable(state(), { fingerprint: 'old' }), 0)).toEqual({
      kind: 'start',
      replacing: 'connection Secret changed',
    });
    expect(decide(runnable(state(), { stopRequested: true }), 0)).toEqual({
      kind: 'start',
      replacing: 'restart',
    });
  });

  test('no worker: start now, or wait out the restart back-off', () => {
    expect(decide(runnable(state()), 1000)).toEqual({ kind: 'start' });
    expect(decide(runnable(state({ nextStartAt: 5000 })), 1000)).toEqual({ kind: 'wait', ms: 4000 });
    expect(decide(runnable(state({ nextStartAt: 5000 }), { exited: { at: 900 } }), 1000)).toEqual({
      kind: 'wait',
      ms: 4000,
    });
  });

  test('without the lease: leave a hand-over alone, otherwise drop', () => {
    expect(decide({ kind: 'not-held', handingBack: true }, 0)).toEqual({ kind: 'leave' });
    expect(decide({ kind: 'not-held', handingBack: false }, 0)).toEqual({
      kind: 'drop',
      why: 'lease not held',
    });
    expect(decide({ kind: 'deleted' }, 0)).toEqual({ kind: 'drop', why: 'policy deleted' });
  });

  test('suspended: stop and release the Secrets; blocked: stop, naming the reason', () => {
    const st = state();
    const policy = { metadata: { name: 'p' } } as ArchivePolicy;
    expect(decide({ kind: 'suspended', st, policy }, 0)).toMatchObject({
      kind: 'stand',
      stopWhy: 'suspended',
      releaseSecrets: true,
      mode: { kind: 'suspended' },
    });
    expect(
      decide({ kind: 'blocked', st, policy, reason: 'SecretNotFound', message: 'no Secret ns/s' }, 0),
    ).toMatchObject({ kind: 'stand', stopWhy: 'SecretNotFound', event: { reason: 'SecretNotFound' } });
  });
});
