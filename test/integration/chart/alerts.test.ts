// The chart's PrometheusRule evaluated for real: a running operator holds policies in the commonest
// broken states (an invalid spec; a uriSecretRef whose Secret is missing, lacks the key, or holds no
// MongoDB URI) next to a healthy one; its /metrics is scraped, the series are held for the alerts' `for:`
// in a promtool unit-test file, and `promtool test rules` runs the rules `helm template` renders. The
// Failed/Blocked alerts must fire for exactly the broken policies. None of these policies ever gets a
// worker, so this needs series that do not depend on one (gochive_policy_phase).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { ensureTool } from '../../env/builder.js';
import { binaryPath, tools } from '../../env/tools.js';
import { apply, condition, ensureCrd, getPolicy, OperatorProcess, waitFor } from '../operator/harness.js';
import { policyManifest, policySpec, sandbox, seed, type Sandbox } from '../operator/fixtures.js';
import { baseValues, helmTemplate, one } from './helm.js';

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** "15m", "1h30m", "90s" → seconds (the forms a PrometheusRule `for:` takes). */
function durationSeconds(d: string): number {
  const unit: Record<string, number> = {
    ms: 0.001,
    s: 1,
    m: 60,
    h: 3600,
    d: 86_400,
    w: 604_800,
    y: 31_536_000,
  };
  let total = 0;
  const re = /(\d+)(ms|s|m|h|d|w|y)/g;
  let m: RegExpExecArray | null;
  let seen = '';
  while ((m = re.exec(d))) {
    total += Number(m[1]) * unit[m[2]!]!;
    seen += m[0];
  }
  if (!seen || seen !== d) throw new Error(`cannot parse duration ${JSON.stringify(d)}`);
  return total;
}

/**
 * The samples of /metrics (text format) whose labels name `namespace`, as `[series, value]`; the series
 * text (`name{label="v",…}`) is also PromQL series notation, which promtool's input_series takes.
 */
function scrapedSeries(body: string, namespace: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const line of body.split('\n')) {
    if (!line || line.startsWith('#') || !line.includes(`namespace="${namespace}"`)) continue;
    const i = line.lastIndexOf(' ');
    const value = Number(line.slice(i + 1));
    if (Number.isFinite(value)) out.push([line.slice(0, i), value]);
  }
  return out;
}

describe('chart alerts evaluated by promtool against a running operator', () => {
  let sb: Sandbox;
  let op: OperatorProcess | undefined;
  let promtool: string;
  let work: string;

  // Broken policies and the phase/reason their status shows; none of them ever starts a worker.
  const broken = {
    'invalid-spec': { phase: 'Failed', reason: 'InvalidSpec', alert: 'GochivePolicyFailed' },
    'secret-not-found': { phase: 'Blocked', reason: 'SecretNotFound', alert: 'GochivePolicyBlocked' },
    'secret-key-missing': { phase: 'Blocked', reason: 'SecretKeyMissing', alert: 'GochivePolicyBlocked' },
    'invalid-uri': { phase: 'Blocked', reason: 'InvalidURI', alert: 'GochivePolicyBlocked' },
  } as const;
  const healthy = 'healthy';

  beforeAll(async () => {
    // Built once per version into the tool cache, like the test servers (jest's global setup builds it
    // too; this covers a run that reuses servers started before promtool was added).
    await ensureTool(tools.prometheus);
    promtool = binaryPath(tools.prometheus, 'promtool');
    work = mkdtempSync(path.join(os.tmpdir(), 'gochive-alerts-'));
    await ensureCrd();
    sb = await sandbox('alerts');
    op = await OperatorProcess.start({ name: 'alerts', args: sb.operatorArgs });
  }, 1_800_000);

  afterAll(async () => {
    await op?.stop();
    await sb?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('GochivePolicyFailed/Blocked fire for InvalidSpec, SecretNotFound, SecretKeyMissing, InvalidURI; not for a healthy policy', async () => {
    const ns = sb.namespace;
    await seed(sb.db, healthy, 20, 40);
    const { hostAddress: _unused, ...byUri } = policySpec(sb, {}, 'events');
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'uri-without-key', namespace: ns },
        stringData: { other: 'mongodb://127.0.0.1:1/' },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'uri-not-mongodb', namespace: ns },
        stringData: { uri: 'https://example.invalid/' },
      },
      policyManifest(ns, healthy, policySpec(sb, {}, healthy)),
      // Accepted by the API server; only the operator knows Mars has no IANA time zone.
      policyManifest(
        ns,
        'invalid-spec',
        policySpec(sb, { windows: [{ start: '01:00', end: '02:00', timeZone: 'Mars/Olympus_Mons' }] }),
      ),
      policyManifest(ns, 'secret-not-found', { ...byUri, uriSecretRef: { name: 'no-such-secret' } }),
      policyManifest(ns, 'secret-key-missing', { ...byUri, uriSecretRef: { name: 'uri-without-key' } }),
      policyManifest(ns, 'invalid-uri', { ...byUri, uriSecretRef: { name: 'uri-not-mongodb' } }),
    ]);

    // Each policy in the state under test, as its status says.
    for (const [name, want] of Object.entries(broken)) {
      await waitFor(
        `${name} to be ${want.phase}/${want.reason}`,
        async () => {
          const p = await getPolicy(ns, name);
          return p?.status?.phase === want.phase && condition(p, 'Ready')?.reason === want.reason;
        },
        60_000,
        250,
      );
    }
    await waitFor(
      `${healthy} to archive its documents and go Idle`,
      async () => {
        const p = await getPolicy(ns, healthy);
        return p?.status?.phase === 'Idle' && p.status.totals?.documentsDeleted === 20;
      },
      90_000,
      500,
    );

    // What Prometheus would scrape from this replica now: held unchanged for the alerts' `for:`.
    const series = scrapedSeries(await op!.metrics(), ns);
    expect(series.length).toBeGreaterThan(0);

    // The rules exactly as the chart renders them (no chart policies: the generic rules only).
    const objs = await helmTemplate(
      { ...baseValues, metrics: { prometheusRule: { enabled: true } } },
      { namespace: 'gochive' },
    );
    const groups = (one(objs, 'PrometheusRule').spec as { groups: Array<{ name: string; rules: Rule[] }> })
      .groups;
    writeFileSync(path.join(work, 'rules.yaml'), stringify({ groups }));
    const rules = groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => !!r.alert);
    const byName = (alert: string): Rule & { alert: string } => {
      const r = rules.find((x) => x.alert === alert);
      if (!r) throw new Error(`the chart renders no ${alert} rule`);
      return r;
    };
    const forSeconds = Math.max(...rules.map((r) => durationSeconds(r.for ?? '0s')));
    const minutes = Math.ceil(forSeconds / 60) + 5;

    /** The alert as the rule would label and annotate it for one policy. */
    const expected = (alert: string, policy: string) => {
      const r = byName(alert);
      const expand = (t: string) =>
        t.replaceAll('{{ $labels.namespace }}', ns).replaceAll('{{ $labels.policy }}', policy);
      return {
        exp_labels: { namespace: ns, policy, ...(r.labels ?? {}) },
        exp_annotations: Object.fromEntries(
          Object.entries(r.annotations ?? {}).map(([k, v]) => [k, expand(v)]),
        ),
      };
    };
    const firing = (alert: string) =>
      Object.entries(broken)
        .filter(([, b]) => b.alert === alert)
        .map(([name]) => expected(alert, name));
    const failedFor = durationSeconds(byName('GochivePolicyFailed').for ?? '0s');
    const blockedFor = durationSeconds(byName('GochivePolicyBlocked').for ?? '0s');

    const unitTest = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: series.map(([s, v]) => ({ series: s, values: `${v}x${minutes}` })),
          alert_rule_test: [
            // Not yet: the condition has not held for `for:`.
            ...(failedFor >= 120
              ? [{ eval_time: `${failedFor - 60}s`, alertname: 'GochivePolicyFailed', exp_alerts: [] }]
              : []),
            ...(blockedFor >= 120
              ? [{ eval_time: `${blockedFor - 60}s`, alertname: 'GochivePolicyBlocked', exp_alerts: [] }]
              : []),
            // Then exactly the broken policies fire, the healthy one never.
            ...[...new Set(rules.map((r) => r.alert))].map((alert) => ({
              eval_time: `${forSeconds + 120}s`,
              alertname: alert,
              exp_alerts:
                alert === 'GochivePolicyFailed' || alert === 'GochivePolicyBlocked' ? firing(alert) : [],
            })),
          ],
        },
      ],
    };
    writeFileSync(path.join(work, 'alerts.test.yaml'), stringify(unitTest));
    const res = spawnSync(promtool, ['test', 'rules', 'alerts.test.yaml'], {
      cwd: work,
      encoding: 'utf8',
      timeout: 60_000,
    });
    const output = `${res.stdout ?? ''}${res.stderr ?? ''}`;
    const metricNames = new Set(rules.flatMap((r) => r.expr.match(/\bgochive_\w+/g) ?? []));
    const used = series.filter(([s]) => metricNames.has(s.slice(0, s.search(/[{ ]|$/))));
    if (res.status !== 0)
      throw new Error(
        `promtool test rules failed (exit ${res.status ?? res.signal}):\n${output}\n` +
          `scraped series for ${ns} that the rules use:\n${used.map(([s, v]) => `  ${s} ${v}`).join('\n')}`,
      );
    expect(output).toMatch(/SUCCESS/);
  }, 300_000);
});
