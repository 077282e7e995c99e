/**
 * N users logged in through HAProxy and the provider's login form, a bounded
 * number at once, each with its own cookie jar: N gateway sessions and N
 * provider grants, as N browsers would make them.
 */
import { loginThroughProvider } from '../../test/support/browser-login.js';
import type { DevUser } from '../../src/dev/dev-users.js';

const SOAK_PASSWORD = 'test';
export const soakUser = (i: number): DevUser => ({ username: `soak-user-${i}`, password: SOAK_PASSWORD, given_name: 'Soak', family_name: `User ${i}` });

export interface SoakSession {
  readonly index: number;
  /** `bff_session=…` */
  readonly cookie: string;
  /** Set at the first 401 (during the run or at the final check). */
  lostAt?: number;
  lostEvent?: string;
}

export async function logInSessions(
  publicUrl: string,
  count: number,
  concurrency: number,
  onProgress?: (done: number) => void,
): Promise<SoakSession[]> {
  const sessions: SoakSession[] = new Array(count);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const user = soakUser(index);
      const { browser, finalResponse } = await loginThroughProvider(`${publicUrl}/auth/login`, { username: user.username, password: SOAK_PASSWORD });
      await finalResponse.body?.cancel();
      const cookie = browser.jar.get(publicUrl, 'bff_session');
      if (finalResponse.status !== 302 || !cookie) throw new Error(`login ${index} ended with ${finalResponse.status} and no session cookie`);
      sessions[index] = { index, cookie: `bff_session=${cookie.value}` };
      if (++done % 100 === 0) onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return sessions;
}
