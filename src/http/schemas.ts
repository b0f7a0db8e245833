/** Wire pieces shared by the API routes: errors, pagination, times. */
import { z } from 'zod';

export const errorSchema = z.object({ error: z.string().describe('machine-readable kind'), message: z.string().describe('what is wrong, in a sentence') });

/** `limit` and `offset` of a paged list; the answer carries `total`, every match counted. */
export const pageQuery = (defaultLimit: number, maxLimit: number) => ({
  limit: z.coerce.number().int().min(1).max(maxLimit).default(defaultLimit).describe(`page size, at most ${maxLimit}`),
  offset: z.coerce.number().int().min(0).default(0).describe('items to skip'),
});

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** An E.164 number inside free text (an SMS actor such as `sms:+22376000001`). */
const PHONE_IN_TEXT = /\+\d{6,15}/g;

/** Phone numbers are for operators: viewers see that a number was there, not which. */
export const maskPhones = (text: string): string => text.replace(PHONE_IN_TEXT, '+•••');
