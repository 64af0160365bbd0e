/**
 * The password-file lines we write, verified by the real nginx itself: each scheme the
 * platform offers must let the right password in and keep a wrong one out.
 */
import { describe, expect, it } from 'vitest';
import { currentUser } from '../../src/stack/discover.js';
import { probeHashSchemes } from '../../src/nginx/probe.js';
import { getPlatform } from '../../src/system/platform.js';
import { lookupNginx } from '../../src/system/tools.js';

describe('htpasswd lines verified by the real nginx', () => {
  it('verifies bcrypt ($2b$, cost 5) and apr1 lines on Linux', async () => {
    const platform = getPlatform();
    const nginx = (await lookupNginx({ env: process.env, platform })).found;
    expect(nginx, "nginx is installed by npm test's set-up").toBeDefined();
    const result = await probeHashSchemes(
      nginx!,
      platform,
      ['bcrypt', 'apr1'],
      platform.nginxUserDirective(currentUser(platform)),
    );
    expect(result).toEqual({ bcrypt: 'verified', apr1: 'verified' });
  });
});
