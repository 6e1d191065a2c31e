/** Shared assertion for typed parse errors (lib/base/errors.ts): class, `where`, and a message naming it. */
import { expect } from 'chai';
import { ParseError } from '../../lib/base/errors.js';

/** Runs `fn`, expecting a ParseError whose `where` is `where` and whose message names the field. */
export function expectParseError(fn: () => unknown, where: string): ParseError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(ParseError);
    expect((e as ParseError).where, (e as Error).message).to.equal(where);
    expect((e as Error).message).to.include(where === 'alt' ? 'alt' : where.split('-').pop()!);
    return e as ParseError;
  }
  expect.fail(`expected a ParseError at ${where}`);
}

/** Runs `fn`, expecting it to throw a ParseError, and returns it (for further checks). */
export function catchParseError(fn: () => unknown): ParseError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(ParseError);
    return e as ParseError;
  }
  expect.fail('expected a ParseError');
}
