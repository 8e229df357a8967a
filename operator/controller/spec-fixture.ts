// For tests: the smallest valid ArchivePolicy spec but for its host (database d, collection c).

export const minimalSpec = {
  ageLimit: '30d',
  archiveCheckInterval: 1,
  collection: 'c',
  database: 'd',
  archiveField: 'createdAt',
  s3: { bucket: 'bucket/p/', uploadInterval: 2 },
};
