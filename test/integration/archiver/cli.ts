// Runs the compiled `gochive` CLI (dist/, built by `npm run build` or `npx tsc -p .`) as a child
// process against the test servers, bounded in time.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, testEnv } from '../../support/testenv.js';

export const CLI = path.join(repoRoot, 'dist', 'operator', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment the CLI needs: the S3 settings as every AWS tool reads them. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = testEnv();
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_ENDPOINT_URL_S3: env.s3.endpoint,
    AWS_ACCESS_KEY_ID: env.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.s3.secretAccessKey,
    AWS_REGION: env.s3.region,
    ...extra,
  };
}

export interface RunningCli {
  done: Promise<CliResult>;
  kill(signal?: NodeJS.Signals): void;
  output(): { stdout: string; stderr: string };
}

export function startCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 300_000): RunningCli {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npx tsc -p .' (or npm run build) first`);
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `gochive ${args.join(' ')} did not exit within ${timeoutMs} ms\nstderr: ${stderr.slice(-4000)}`,
        ),
      );
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
  });
  return { done, kill: (s = 'SIGTERM') => child.kill(s), output: () => ({ stdout, stderr }) };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs?: number): Promise<CliResult> {
  return startCli(args, env, timeoutMs).done;
}
