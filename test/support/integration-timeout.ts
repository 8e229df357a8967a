// The integration project's per-test time limit. Jest reads `testTimeout` only from the global
// config (120 s there, for unit tests), so a project-level value is silently ignored; an integration
// test that starts several CLI processes on a loaded two-core machine needed longer than 120 s.
import { jest } from '@jest/globals';

jest.setTimeout(600_000);
