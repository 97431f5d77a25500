/**
 * The registry's rules for a new password (src/auth/passwords.ts enforces the same), checked in
 * the browser first so that a typo in the repeated password never reaches the server.
 */
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

/** Why a new password, typed twice, cannot be used; null when it can. */
export function newPasswordProblem(
  password: string,
  repeated: string,
  current?: string,
): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) {
    return `The new password needs at least ${String(MIN_PASSWORD_LENGTH)} characters.`;
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    return `The new password may have at most ${String(MAX_PASSWORD_LENGTH)} characters.`;
  }
  if (password !== repeated) return 'The two new passwords are not the same.';
  if (current !== undefined && password === current) {
    return 'The new password is the same as the current one.';
  }
  return null;
}
