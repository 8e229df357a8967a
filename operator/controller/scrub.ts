// Invariant I7 at the last moment: every log line, event note and status message the operator emits
// passes through a scrubber that knows the secret values it has read (passwords, URIs, S3 keys). The
// code never logs them on purpose; this catches a library error message that quotes a URI.
import { writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { redactSecrets } from '../util/redact.js';

export class SecretSet {
  private readonly values = new Set<string>();

  add(values: Iterable<string>): void {
    for (const v of values) if (v && v.length >= 3) this.values.add(v);
  }

  redact(text: string): string {
    return redactSecrets(text, this.values);
  }

  get size(): number {
    return this.values.size;
  }
}

/** The operator's pino logger: JSON to stderr, scrubbed, every line tagged with the replica identity. */
export function createScrubbedLogger(opts: {
  level: string;
  identity: string;
  secrets: SecretSet;
  fd?: number;
}): Logger {
  const fd = opts.fd ?? 2;
  const stream = {
    write(line: string): void {
      writeSync(fd, opts.secrets.redact(line));
    },
  };
  return pino(
    {
      level: opts.level,
      base: { app: 'gochive', replica: opts.identity },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'uri',
          '*.uri',
          'mongoUri',
          '*.mongoUri',
          'password',
          '*.password',
          'secretAccessKey',
          '*.secretAccessKey',
        ],
        censor: '***',
      },
    },
    stream,
  );
}
