import { redactSecrets, uriPasswords, uriUserinfo } from './redact.js';

describe('URI credentials', () => {
  test('the password of a URI, raw and percent-decoded', () => {
    expect(uriPasswords('mongodb://app:p%40ss%3Aw0rd@db:27017/x')).toEqual(['p%40ss%3Aw0rd', 'p@ss:w0rd']);
    expect(uriPasswords('mongodb+srv://app:plain@cluster.example.com')).toEqual(['plain', 'plain']);
    expect(uriPasswords('mongodb://app:bad%zz@db')).toEqual(['bad%zz']);
  });

  test('no password: nothing to redact', () => {
    expect(uriPasswords('mongodb://db:27017')).toEqual([]);
    expect(uriPasswords('mongodb://app@db:27017')).toEqual([]);
    expect(uriPasswords('mongodb://app:@db:27017')).toEqual([]);
    expect(uriPasswords('db.example.com:27017')).toEqual([]);
  });

  test('the userinfo, and a decoded password scrubbed from a message', () => {
    expect(uriUserinfo('mongodb://app:s3cret@db')).toBe('app:s3cret');
    expect(uriUserinfo('mongodb://db')).toBeUndefined();
    const uri = 'mongodb://app:p%40ss@db';
    expect(redactSecrets('auth failed for p@ss', uriPasswords(uri))).toBe('auth failed for ***');
  });
});
