import type { ArchivePolicyStatus } from '../api/schema.js';
import { createLogger } from '../util/logger.js';
import { KubeApiError, type KubeClient, type KubeRequest } from './kube-rest.js';
import { StatusWriter } from './status-writer.js';
import { EventRecorder } from './events.js';

class FakeRest implements KubeClient {
  calls: KubeRequest[] = [];
  fail: KubeApiError | undefined;
  async request<T>(req: KubeRequest): Promise<T> {
    this.calls.push(req);
    if (this.fail) throw this.fail;
    return {} as T;
  }
}
const log = createLogger({ level: 'silent' });
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('StatusWriter', () => {
  it('merge-patches /status, writes phase changes at once and rate-limits the rest', async () => {
    const rest = new FakeRest();
    const w = new StatusWriter({ rest, log, minIntervalMs: 100 });
    let cur: ArchivePolicyStatus = { phase: 'Pending' };
    const req = () => w.request('ns/p', { namespace: 'ns', name: 'p' }, undefined, () => cur);
    req();
    await wait(5);
    expect(rest.calls).toHaveLength(1);
    expect(rest.calls[0]).toMatchObject({
      method: 'PATCH',
      path: '/apis/gochive.io/v1alpha1/namespaces/ns/archivepolicies/p/status',
      contentType: 'application/merge-patch+json',
      body: { status: { phase: 'Pending' } },
    });
    cur = { phase: 'Archiving', backlog: 1 };
    req(); // phase change: immediately
    await wait(5);
    expect(rest.calls).toHaveLength(2);
    for (let i = 2; i < 20; i++) {
      cur = { phase: 'Archiving', backlog: i };
      req();
    }
    await wait(5);
    expect(rest.calls).toHaveLength(2); // within the interval: held back
    await wait(130);
    expect(rest.calls).toHaveLength(3); // one write of the newest picture
    expect((rest.calls[2]!.body as { status: ArchivePolicyStatus }).status.backlog).toBe(19);
    req(); // unchanged: nothing
    await wait(150);
    expect(rest.calls).toHaveLength(3);
  });

  it('writes a change of lastFetchTime alone only every volatileIntervalMs, but a real change soon', async () => {
    const rest = new FakeRest();
    const w = new StatusWriter({ rest, log, minIntervalMs: 50, volatileIntervalMs: 400 });
    let cur: ArchivePolicyStatus = { phase: 'Idle', lastFetchTime: 't0' };
    const req = () => w.request('ns/p', { namespace: 'ns', name: 'p' }, undefined, () => cur);
    req();
    await wait(5);
    expect(rest.calls).toHaveLength(1);
    cur = { phase: 'Idle', lastFetchTime: 't1' };
    req();
    await wait(120);
    expect(rest.calls).toHaveLength(1); // only the fetch time moved: held back
    cur = { phase: 'Idle', lastFetchTime: 't2', backlog: 5 };
    req();
    await wait(80);
    expect(rest.calls).toHaveLength(2); // a real change: written after minIntervalMs, not 400 ms
    cur = { phase: 'Idle', lastFetchTime: 't3', backlog: 5 };
    req();
    await wait(450);
    expect(rest.calls).toHaveLength(3);
    expect((rest.calls[2]!.body as { status: ArchivePolicyStatus }).status.lastFetchTime).toBe('t3');
  });

  it('drops a policy that is gone and retries other errors', async () => {
    const rest = new FakeRest();
    const w = new StatusWriter({ rest, log, minIntervalMs: 10 });
    rest.fail = new KubeApiError(404, 'NotFound', 'gone');
    w.request('ns/p', { namespace: 'ns', name: 'p' }, undefined, () => ({ phase: 'Idle' }));
    await wait(20);
    expect(w.last('ns/p')).toBeUndefined();
    rest.fail = new KubeApiError(500, 'InternalError', 'oops');
    w.request('ns/q', { namespace: 'ns', name: 'q' }, undefined, () => ({ phase: 'Idle' }));
    await wait(20);
    rest.fail = undefined;
    await wait(1400);
    expect(w.last('ns/q')).toEqual({ phase: 'Idle' });
  });
});

describe('EventRecorder', () => {
  it('creates an events.k8s.io/v1 Event with MicroTime, then aggregates repeats into its series', async () => {
    const rest = new FakeRest();
    const rec = new EventRecorder({
      rest,
      instance: 'pod-a',
      log,
      seriesFlushMs: 50,
      redact: (t) => t.split('hunter22').join('***'),
    });
    const regarding = {
      apiVersion: 'gochive.io/v1alpha1',
      kind: 'ArchivePolicy',
      namespace: 'ns',
      name: 'p',
      uid: 'u1',
    };
    rec.record(regarding, {
      type: 'Warning',
      reason: 'ConnectFailed',
      action: 'Connect',
      note: 'auth failed for mongodb://u:hunter22@h/ password hunter22',
    });
    for (let i = 0; i < 5; i++)
      rec.record(regarding, { type: 'Warning', reason: 'ConnectFailed', action: 'Connect', note: 'again' });
    await wait(5);
    expect(rest.calls).toHaveLength(1);
    const ev = rest.calls[0]!.body as Record<string, unknown>;
    expect(rest.calls[0]!.path).toBe('/apis/events.k8s.io/v1/namespaces/ns/events');
    expect(ev).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      reason: 'ConnectFailed',
      type: 'Warning',
      reportingController: 'gochive.io/operator',
      reportingInstance: 'pod-a',
      regarding: { kind: 'ArchivePolicy', name: 'p', uid: 'u1' },
    });
    expect(ev.eventTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(JSON.stringify(ev)).not.toContain('hunter22');
    await wait(80);
    expect(rest.calls).toHaveLength(2);
    expect(rest.calls[1]).toMatchObject({
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { series: { count: 6 } },
    });
    // A different reason is a different Event.
    rec.record(regarding, { type: 'Normal', reason: 'BundleUploaded', action: 'Upload', note: 'x' });
    await wait(5);
    expect(rest.calls).toHaveLength(3);
    await rec.close();
  });
});
