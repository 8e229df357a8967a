// Child process of the archiver benchmark: runs one policy in `once` mode and reports its own peak
// RSS (process.resourceUsage().maxRSS), so the figure covers exactly the archiver and nothing else.
// Input: a JSON job on argv[2]; output: one JSON line on stdout.
import { pino } from 'pino';
import type { PolicyConfig } from '../../operator/archiver/config.js';
import { Worker } from '../../operator/archiver/worker.js';

interface Job {
  config: PolicyConfig;
  mongoUri: string;
  spoolRoot: string;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  let peakSampled = 0;
  const sampler = setInterval(() => (peakSampled = Math.max(peakSampled, process.memoryUsage().rss)), 100);
  const t0 = performance.now();
  const worker = new Worker(
    {
      config: job.config,
      mongoUri: job.mongoUri,
      spoolRoot: job.spoolRoot,
      logger: pino({ level: 'warn' }, pino.destination(2)),
      once: true,
    },
    { estimateIntervalMs: 3_600_000 },
  );
  await worker.run();
  clearInterval(sampler);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${JSON.stringify({
      seconds,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      peakSampledRssBytes: peakSampled,
      snapshot: worker.snapshot(),
      stats: worker.statistics(),
    })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
