// One place that turns a DestinationConfig into a Destination.
import type { DestinationConfig } from '../archiver/config.js';
import type { Logger } from '../util/logger.js';
import type { Destination } from './destination.js';
import { FileDestination } from './file.js';
import { S3Destination, type S3DestinationOptions } from './s3.js';

export function createDestination(
  config: DestinationConfig,
  logger?: Logger,
  s3Options: S3DestinationOptions = {},
): Destination {
  switch (config.kind) {
    case 's3':
      return new S3Destination(config, { ...s3Options, ...(logger ? { logger } : {}) });
    case 'file':
      return new FileDestination(config);
    default:
      throw new Error(`unknown destination kind '${(config as { kind: string }).kind}'`);
  }
}
