// Single place for the version string stamped into manifests, logs and user agents.
export const GOCHIVE_VERSION = '0.1.0';
