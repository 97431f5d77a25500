/**
 * @module doctor/clock
 * Check 5: the server's clock against this one, from the `Date` header of `/v2/` (1 s resolution)
 * and the `iat` of the token. Tokens carry issue and expiry times, so a skew beyond the verifier's
 * leeway makes fresh tokens look not yet valid or already expired.
 */
import { finding, type DoctorState, type Finding } from './types.js';

export const MAX_SKEW_SECONDS = 30;

export interface SkewSample {
  source: string;
  /** Server minus local, in seconds. */
  seconds: number;
}

/** Judges the samples: a warning when any differs by more than {@link MAX_SKEW_SECONDS}. */
export function judgeSkew(samples: readonly SkewSample[]): Finding {
  if (samples.length === 0)
    return finding('clock', 'skip', { summary: 'no server time seen (no Date header, no token)' });
  const worst = samples.reduce((a, b) => (Math.abs(b.seconds) > Math.abs(a.seconds) ? b : a));
  const described = samples
    .map((s) => {
      const r = Math.round(s.seconds) || 0; // no "-0"
      return `${s.source} ${r > 0 ? '+' : ''}${r} s`;
    })
    .join(', ');
  const data = Object.fromEntries(samples.map((s) => [s.source, Math.round(s.seconds)]));
  if (Math.abs(worst.seconds) <= MAX_SKEW_SECONDS) {
    return finding('clock', 'pass', { summary: `clocks agree (${described})` }, data);
  }
  const direction = worst.seconds > 0 ? 'ahead of' : 'behind';
  return finding(
    'clock',
    'warn',
    {
      summary: `the server's clock is ${Math.round(Math.abs(worst.seconds))} s ${direction} this one (${described})`,
      explanation:
        'Tokens carry issue and expiry times: with clocks this far apart, fresh tokens look not yet valid or already expired to one side (registries allow about 30 s), and a certificate issued minutes ago looks not yet valid.',
      fix: 'run NTP on the server and the clients (timedatectl set-ntp true, or chrony)',
    },
    data,
  );
}

export function checkClock(state: DoctorState): Finding[] {
  const samples: SkewSample[] = [];
  if (state.serverDate) {
    samples.push({
      source: 'Date header',
      seconds: (state.serverDate.serverMs - state.serverDate.localMs) / 1000,
    });
  }
  const token = state.token;
  if (token?.issuedAtSeconds !== undefined) {
    samples.push({
      source: 'token iat',
      seconds: token.issuedAtSeconds - Math.floor(token.receivedAtMs / 1000),
    });
  }
  return [judgeSkew(samples)];
}
