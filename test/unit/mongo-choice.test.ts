// GOCHIVE_MONGO (make's MONGO=) picks the test MongoDB server; a typo must fail loudly, not fall back.
import { requestedMongoServer } from '../env/mongo-choice.js';

describe('requestedMongoServer', () => {
  test('unset or empty: nothing asked for (a running environment is reused as it is)', () => {
    expect(requestedMongoServer({})).toBeUndefined();
    expect(requestedMongoServer({ GOCHIVE_MONGO: ' ' })).toBeUndefined();
  });

  test('the two servers, spaces trimmed', () => {
    expect(requestedMongoServer({ GOCHIVE_MONGO: 'ferretdb' })).toBe('ferretdb');
    expect(requestedMongoServer({ GOCHIVE_MONGO: ' ferretdb2\n' })).toBe('ferretdb2');
  });

  test('anything else is an error naming the known servers', () => {
    expect(() => requestedMongoServer({ GOCHIVE_MONGO: 'mongodb' })).toThrow(
      "GOCHIVE_MONGO (or make's MONGO=) is 'mongodb'; known: ferretdb, ferretdb2",
    );
  });
});
