// For tests: the seed entry of the original values file (SPEC §2), verbatim, and its spec (no name).

export const seedEntry = {
  name: 'incubator-offerwall-event-log',
  hostAddress: 'incubator',
  ageLimit: '92d',
  queryLimit: 2000,
  archiveCheckInterval: 9,
  collection: 'offerwall_event_log',
  database: 'ALWAYZ',
  archiveField: 'createdAt',
  s3: { bucket: 'levit-database-archive-prod/incubator/offerwall_event_log/', uploadInterval: 65 },
};

const { name: _name, ...spec } = seedEntry;
export const seedSpec = spec;
