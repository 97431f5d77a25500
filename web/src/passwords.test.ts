import { describe, expect, test } from 'vitest';
import { MIN_PASSWORD_LENGTH, newPasswordProblem } from './passwords';

describe('newPasswordProblem', () => {
  test('accepts a long enough password typed the same twice', () => {
    expect(newPasswordProblem('correct horse', 'correct horse', 'old-password')).toBeNull();
    expect(
      newPasswordProblem('x'.repeat(MIN_PASSWORD_LENGTH), 'x'.repeat(MIN_PASSWORD_LENGTH)),
    ).toBeNull();
  });

  test.each([
    ['short', 'short', undefined, /at least 8 characters/],
    ['x'.repeat(1025), 'x'.repeat(1025), undefined, /at most 1024 characters/],
    ['new-password', 'new-passwort', undefined, /not the same/],
    ['same-password', 'same-password', 'same-password', /same as the current one/],
  ])('refuses %j / %j (current %j)', (password, repeated, current, problem) => {
    expect(newPasswordProblem(password, repeated, current)).toMatch(problem);
  });
});
