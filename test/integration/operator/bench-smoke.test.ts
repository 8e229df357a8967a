// CI smoke run of the operator benchmark (`npm run bench:operator`) at 50 policies: it fails only when
// the benchmark cannot complete (an operator process died, the benchmark's policy watch died, a policy
// never reported a status or never went Idle) and never on a timing. The figures are printed for the log.
import { formatBenchResult, runOperatorBench } from '../../bench/operator-bench-run.js';

const POLICIES = 50;
const TIMED = 5;

test(`operator benchmark completes with ${POLICIES} policies`, async () => {
  const r = await runOperatorBench({
    policies: POLICIES,
    timed: TIMED,
    idleSeconds: 10,
    replicas: 1,
    deadlineSeconds: 480,
  });
  process.stdout.write(`\noperator benchmark smoke run:\n${formatBenchResult(r)}\n`);
  expect(r.applyToFirstStatusMs).toHaveLength(TIMED);
  expect(r.replicas[0]!.leasesHeld).toBe(POLICIES);
});
