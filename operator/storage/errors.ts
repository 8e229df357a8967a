// Storage errors with messages a user can act on. They name the bucket/key, never a credential.

export type StorageErrorCode =
  | 'NoSuchBucket'
  | 'AccessDenied'
  | 'InvalidCredentials'
  | 'NoRegion'
  | 'Unreachable'
  | 'VerifyFailed'
  | 'BodyMismatch'
  | 'InvalidKey'
  | 'NotFound'
  | 'Other';

export class StorageError extends Error {
  constructor(
    public readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}
