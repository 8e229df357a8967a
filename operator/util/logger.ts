// Structured JSON logs (pino). Every child logger carries the policy's name and namespace.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: string; destination?: number | string } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.GOCHIVE_LOG_LEVEL ?? 'info',
      base: { app: 'gochive' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Belt and braces for I7: the code never logs these, but a careless `log.info(obj)` would.
      redact: {
        paths: ['uri', '*.uri', 'password', '*.password', 'secretAccessKey', '*.secretAccessKey'],
        censor: '***',
      },
    },
    pino.destination({ dest: opts.destination ?? 2, sync: true }),
  );
}

export function policyLogger(parent: Logger, namespace: string, name: string): Logger {
  return parent.child({ policy: name, namespace });
}
