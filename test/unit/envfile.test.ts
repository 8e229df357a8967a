// `make testenv-status` prints the env file: never the S3 secret or a URI's password.
import { redactEnvFile } from '../env/envfile.js';

test('redactEnvFile hides secret values and URI credentials, keeps the rest', () => {
  const text = [
    '# Written by `make testenv-up` (test/env). Use: source .testenv/env',
    'export MONGODB_URI=mongodb://gochive:s3cr3t-pw@127.0.0.1:27017/',
    'export AWS_ACCESS_KEY_ID=gochive-test',
    'export AWS_SECRET_ACCESS_KEY=abcdef0123456789',
    'export SOME_TOKEN=t0k3n',
    'export AWS_REGION=us-east-1',
  ].join('\n');
  const out = redactEnvFile(text);
  expect(out).not.toMatch(/s3cr3t-pw|abcdef0123456789|t0k3n/);
  expect(out).toContain('export MONGODB_URI=mongodb://***@127.0.0.1:27017/');
  expect(out).toContain('export AWS_SECRET_ACCESS_KEY=***');
  expect(out).toContain('export AWS_REGION=us-east-1');
  expect(out).toContain('export AWS_ACCESS_KEY_ID=gochive-test');
});
