import { bindConflict, freePort } from './ports';

describe('ports', () => {
  test('freePort hands out a bindable port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });

  test('bindConflict recognises a taken port however the server reports it, and nothing else', () => {
    expect(
      bindConflict(Object.assign(new Error('listen EADDRINUSE: address already in use'), { code: 'EADDRINUSE' })),
    ).toBe(true);
    // grpc-js reports the bind failure in its own words, the cause nested.
    expect(bindConflict(new Error('No address added out of total 1 resolved'))).toBe(true);
    expect(bindConflict(new Error('start failed', { cause: new Error('Address already in use') }))).toBe(true);
    expect(bindConflict(new Error('password authentication failed for user "postgres"'))).toBe(false);
    expect(bindConflict(undefined)).toBe(false);
  });
});
