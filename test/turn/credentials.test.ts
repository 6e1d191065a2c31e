import { expect } from 'chai';
import { scrub } from '../../lib/base/log.js';
import { EphemeralCredentialProvider, ephemeralCredentials, ephemeralPassword, staticCredentials } from '../../lib/turn/credentials.js';

describe('turn/credentials (REST-style ephemeral credentials, coturn use-auth-secret)', () => {
  it('password is base64 HMAC-SHA1: RFC 2202 test case 2 ("Jefe")', () => {
    // RFC 2202 §3 test_case 2: digest 0xeffcdf6ae5eb2fa2d27416d5f184df9c259a7c79.
    expect(ephemeralPassword('Jefe', 'what do ya want for nothing?')).to.equal(Buffer.from('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79', 'hex').toString('base64'));
  });

  it('username is "expiry:user" in UNIX seconds; password matches an openssl-computed vector', () => {
    // echo -n "1700003600:alice" | openssl dgst -sha1 -hmac "north-wind" -binary | base64
    const c = ephemeralCredentials('north-wind', 'alice', 3600, 1_700_000_000_000);
    expect(c.username).to.equal('1700003600:alice');
    expect(c.password).to.equal('iRtTIZ3N38dm9S+dP+UkHfnN9Qo=');
    expect(c.expiresAt).to.equal(1_700_003_600_000);
  });

  it('registers the secret and the password for redaction', () => {
    const c = ephemeralCredentials('very-secret-value', 'bob', 60, 1_000_000);
    expect(scrub(`secret very-secret-value password ${c.password}`)).to.equal('secret *** password ***');
    staticCredentials('carol', 'static-pass-1');
    expect(scrub('static-pass-1')).to.equal('***');
  });

  it('rejects a non-positive ttl and an empty user', () => {
    expect(() => ephemeralCredentials('s', 'u', 0)).to.throw(RangeError);
    expect(() => ephemeralCredentials('s', '', 10)).to.throw(RangeError);
  });

  it('the provider renews before expiry, not before', () => {
    let now = 1_700_000_000_000;
    const p = new EphemeralCredentialProvider('north-wind', 'alice', 600, { renewBeforeSec: 60, now: () => now });
    const first = p.get();
    expect(first.username).to.equal('1700000600:alice');
    now += 539_000; // 61 s left
    expect(p.get()).to.equal(first);
    now += 2_000; // 59 s left
    const second = p.get();
    expect(second.username).to.equal(`${Math.floor(now / 1000) + 600}:alice`);
    expect(p.renewals).to.equal(2);
  });
});
