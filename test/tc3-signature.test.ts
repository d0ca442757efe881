/**
 * TC3-HMAC-SHA256 against Tencent's published worked example (API 3.0
 * "Signature v3": CVM DescribeInstances in ap-guangzhou, X-TC-Timestamp
 * 1551113065) and against a second, step-by-step implementation of the
 * documented formulas written here.
 */
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { canonicalRequest, parseTc3Authorization, signingKey, tc3Sign, utcDate } from '../src/channels/sms/tc3-signature.js';

/** The example request, byte for byte as the documentation prints it (the Chinese name as \u escapes). */
const EXAMPLE = {
  method: 'POST',
  headers: { 'content-type': 'application/json; charset=utf-8', host: 'cvm.tencentcloudapi.com' },
  payload: '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}',
  service: 'cvm',
  timestamp: 1551113065,
};

describe("Tencent's published example", () => {
  test('the hashed payload, canonical request and string to sign are the ones printed', () => {
    const { canonical, signedHeaders } = canonicalRequest(EXAMPLE);
    expect(signedHeaders).toBe('content-type;host');
    expect(canonical).toBe(
      'POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n' +
        '35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064',
    );
    const signed = tc3Sign(EXAMPLE, 'any', 'any');
    expect(signed.credentialScope).toBe('2019-02-25/cvm/tc3_request');
    expect(signed.stringToSign).toBe(
      'TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031',
    );
  });

  test('the date is the UTC day: 00:44 on the 26th in Beijing is still the 25th', () => {
    expect(utcDate(1551113065)).toBe('2019-02-25');
  });

  test('with the masked demo keys of the current page, the printed signature and Authorization', () => {
    // the current page prints its demo keys with the asterisks in them, and signs with exactly those strings
    const signed = tc3Sign(EXAMPLE, 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******', 'Gu5t9xGARNpq86cd98joQYCN3*******');
    expect(signed.signature).toBe('2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c');
    expect(signed.authorization).toBe(
      'TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, ' +
        'Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c',
    );
  });

  test('with the EXAMPLE key of the English page, its printed signature', () => {
    const signed = tc3Sign(EXAMPLE, 'AKID**********************0123456789EXAMPLE', 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE');
    expect(signed.signature).toBe('72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168');
  });
});

describe('a second implementation of the documented steps', () => {
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
  const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s).digest();

  /** The documentation's pseudocode, line by line, for a SendSms call signed with content-type, host and x-tc-action. */
  function byTheBook(secretKey: string, timestamp: number, payload: string): string {
    const date = new Date(timestamp * 1000).toISOString().slice(0, 10);
    const canonicalHeaders = 'content-type:application/json; charset=utf-8\n' + 'host:sms.tencentcloudapi.com\n' + 'x-tc-action:sendsms\n';
    const canonical = 'POST' + '\n' + '/' + '\n' + '' + '\n' + canonicalHeaders + '\n' + 'content-type;host;x-tc-action' + '\n' + sha256(payload);
    const toSign = 'TC3-HMAC-SHA256' + '\n' + timestamp + '\n' + `${date}/sms/tc3_request` + '\n' + sha256(canonical);
    const secretDate = hmac('TC3' + secretKey, date);
    const secretService = hmac(secretDate, 'sms');
    const secretSigning = hmac(secretService, 'tc3_request');
    return hmac(secretSigning, toSign).toString('hex');
  }

  test('agrees on a SendSms body with Chinese text, an extra signed header in mixed case, at a UTC day boundary', () => {
    const payload = JSON.stringify({ PhoneNumberSet: ['+8613800138000'], SmsSdkAppId: '1400006666', SignName: '智链OS', TemplateId: '1110', TemplateParamSet: ['库存预警', '鸡肉 <5kg>'] });
    for (const timestamp of [1700006399, 1700006400, 1551113065]) {
      const signed = tc3Sign(
        { method: 'post', headers: { Host: 'sms.tencentcloudapi.com', 'X-TC-Action': 'SendSms', 'Content-Type': 'application/json; charset=utf-8' }, payload, service: 'sms', timestamp },
        'AKIDsecond',
        'second-key',
      );
      expect(signed.signature).toBe(byTheBook('second-key', timestamp, payload));
      expect(signed.signedHeaders).toBe('content-type;host;x-tc-action');
    }
  });

  test('the derived key is the HMAC chain TC3+key → date → service → tc3_request', () => {
    expect(signingKey('k', '2019-02-25', 'sms')).toEqual(hmac(hmac(hmac('TC3k', '2019-02-25'), 'sms'), 'tc3_request'));
  });

  test('a different key, body or timestamp gives a different signature', () => {
    const base = tc3Sign(EXAMPLE, 'id', 'key').signature;
    expect(tc3Sign(EXAMPLE, 'id', 'key2').signature).not.toBe(base);
    expect(tc3Sign({ ...EXAMPLE, payload: EXAMPLE.payload.replace('1', '2') }, 'id', 'key').signature).not.toBe(base);
    expect(tc3Sign({ ...EXAMPLE, timestamp: EXAMPLE.timestamp + 1 }, 'id', 'key').signature).not.toBe(base);
  });
});

test('an Authorization header parses back into its parts', () => {
  const { authorization, signature } = tc3Sign(EXAMPLE, 'AKIDabc', 'key');
  expect(parseTc3Authorization(authorization)).toEqual({ secretId: 'AKIDabc', date: '2019-02-25', service: 'cvm', signedHeaders: ['content-type', 'host'], signature });
  expect(parseTc3Authorization('TC3-HMAC-SHA256 Credential=x')).toBeNull();
});
