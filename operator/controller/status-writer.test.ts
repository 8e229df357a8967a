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
    const req = () => w.request('ns/p', { namespace: 'ns', name: 'p' }, undefined, undefined, () => cur);
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
    const req = () => w.request('ns/p', { namespace: 'ns', name: 'p' }, undefined, undefined, () => cur);
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
    w.request('ns/p', { namespace: 'ns', name: 'p' }, undefined, undefined, () => ({ phase: 'Idle' }));
    await wait(20);
    expect(w.last('ns/p')).toBeUndefined();
    rest.fail = new KubeApiError(500, 'InternalError', 'oops');
    w.request('ns/q', { namespace: 'ns', name: 'q' }, undefined, undefined, () => ({ phase: 'Idle' }));
    await wait(20);
    rest.fail = undefined;
    await wait(1400);
    expect(w.last('ns/q')).toEqual({ phase: 'Idle' });
  });
});

/** An API server's view of one object: PATCHes carrying a stale resourceVersion get 409 Conflict. */
class ConditionalRest implements KubeClient {
  calls: KubeRequest[] = [];
  constructor(
    public rv: number,
    public status: ArchivePolicyStatus,
  ) {}
  async request<T>(req: KubeRequest): Promise<T> {
    this.calls.push(req);
    if (req.method === 'GET')
      return { metadata: { resourceVersion: String(this.rv) }, status: this.status } as T;
    const body = req.body as { metadata?: { resourceVersion?: string }; status: ArchivePolicyStatus };
    const want = body.metadata?.resourceVersion;
    if (want !== undefined && want !== String(this.rv))
      throw new KubeApiError(409, 'Conflict', 'the object has been modified');
    this.status = { ...this.status, ...body.status };
    this.rv++;
    return { metadata: { resourceVersion: String(this.rv) }, status: this.status } as T;
  }
}

describe('StatusWriter conditional writes', () => {
  it('computes from a stale base, gets 409, re-reads and computes again from what is on the server', async () => {
    // Another replica wrote totals 50 at rv 7; this writer still believes 10 at rv 3 (informer lag).
    const rest = new ConditionalRest(7, { totals: { documentsArchived: 50 } });
    const w = new StatusWriter({ rest, log, minIntervalMs: 10 });
    const addOne = (prev: ArchivePolicyStatus | undefined): ArchivePolicyStatus => ({
      ...prev,
      totals: { documentsArchived: (prev?.totals?.documentsArchived ?? 0) + 1 },
    });
    w.request('ns/p', { namespace: 'ns', name: 'p' }, { totals: { documentsArchived: 10 } }, '3', addOne);
    await wait(60);
    expect(rest.calls.map((c) => c.method)).toEqual(['PATCH', 'GET', 'PATCH']);
    expect(rest.calls[2]!.body).toMatchObject({ metadata: { resourceVersion: '7' } });
    expect(rest.status.totals?.documentsArchived).toBe(51);
    expect(w.last('ns/p')?.totals?.documentsArchived).toBe(51);
    // The next write is conditional on the version its own write produced.
    w.request('ns/p', { namespace: 'ns', name: 'p' }, undefined, undefined, (prev) => ({
      ...prev,
      phase: 'Idle',
    }));
    await wait(40);
    expect(rest.calls.at(-1)!.body).toMatchObject({ metadata: { resourceVersion: '8' } });
    expect(rest.status).toMatchObject({ phase: 'Idle', totals: { documentsArchived: 51 } });
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
