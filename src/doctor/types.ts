/**
 * @module doctor/types
 * The vocabulary of `berth doctor`: a finding per observation (one output line), the options of a
 * run, and the state the checks hand on to each other (what the DNS check resolved, the challenge
 * `/v2/` gave, the token, the measured upload rate). Checks never throw for a problem they
 * diagnose: they return findings; only a bug in a check escapes.
 */

export type Status = 'pass' | 'warn' | 'fail' | 'skip';

export type CheckId =
  'dns' | 'tls' | 'registry' | 'realm' | 'token' | 'clock' | 'upload' | 'lifetime';

export interface Finding {
  check: CheckId;
  status: Status;
  /** One line: what was found. */
  summary: string;
  /** Why it matters (warnings and failures). */
  explanation?: string;
  /** What to do about it. */
  fix?: string;
  /** Measured values for `--json` (addresses, throughput, lifetimes…). */
  data?: Record<string, unknown>;
}

/** Text of a finding beyond its summary; an absent part is simply left out. */
export interface Advice {
  summary: string;
  explanation?: string;
  fix?: string;
}

export function finding(
  check: CheckId,
  status: Status,
  advice: Advice,
  data?: Record<string, unknown>,
): Finding {
  const f: Finding = { check, status, summary: advice.summary };
  if (advice.explanation !== undefined) f.explanation = advice.explanation;
  if (advice.fix !== undefined) f.fix = advice.fix;
  if (data !== undefined) f.data = data;
  return f;
}

/** Named so that nobody mistakes it for an image; doctor deletes it after the check. */
export const SCRATCH_REPOSITORY = 'library/berth-doctor-scratch';

export interface DoctorOptions {
  /** The registry as a client names it; `host:port` without a scheme means https (as docker). */
  url: string;
  username?: string;
  password?: string;
  /** Extra CA certificates (PEM file), trusted besides the system's. */
  caFile?: string;
  /** Size of the test blob. */
  blobSizeBytes: number;
  /** Scratch repository for the token scope and the test upload. */
  repository: string;
  /** No progress for this long during the upload counts as a stall. */
  stallSeconds: number;
}

/** Where the client connects: parsed once from the URL. */
export interface Target {
  url: URL;
  https: boolean;
  /** The host name without IPv6 brackets. */
  hostname: string;
  port: number;
  /** `host:port` exactly as docker names its certs.d folder (no port when it is the default). */
  dialled: string;
  /** `https://host:port`: the origin every request goes to. */
  origin: string;
}

/** A parsed `WWW-Authenticate` challenge. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export interface TokenInfo {
  token: string;
  /** Seconds, as the token endpoint said (60 when it did not, as clients assume). */
  expiresIn: number;
  expiresInGiven: boolean;
  /** The JWT's `iat` (seconds since the epoch), when the token is a readable JWT. */
  issuedAtSeconds?: number;
  /** Local time the token arrived (ms). */
  receivedAtMs: number;
  /** Actions the token grants on the scratch repository (from its `access` claim), if readable. */
  actions?: string[];
}

/** What the checks learned, for the ones after them. */
export interface DoctorState {
  target: Target;
  /** PEM certificates trusted for TLS: the system's plus certs.d plus `--ca-file`. */
  ca: string[];
  /** Where the extra CAs came from (for the report). */
  caSources: string[];
  /** False when TLS did not verify: later requests go on without verification to find more. */
  tlsVerified: boolean;
  /** False when nothing answered: the HTTP checks are skipped. */
  reachable: boolean;
  /** The `/v2/` challenge; null when `/v2/` answered without asking for credentials. */
  challenge?: Challenge | null;
  /** The advertised token realm (an absolute URL). */
  realm?: URL;
  /** The realm moved onto the dialled origin, when the advertised one points elsewhere. */
  correctedRealm?: URL;
  token?: TokenInfo;
  /** Server `Date` against the local clock at the middle of the request. */
  serverDate?: { serverMs: number; localMs: number };
  /** The measured upload: its size and rate. */
  upload?: { bytes: number; bytesPerSecond: number };
}
