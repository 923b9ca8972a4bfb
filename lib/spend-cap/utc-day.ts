/** The UTC calendar day of `now` as `YYYY-MM-DD`: the counter's key, so every region and function agrees. */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Whole seconds from `now` until the next 00:00 UTC (at least 1): the Retry-After of a capped call. */
export function secondsUntilNextUtcDay(now: number): number {
  const d = new Date(now);
  const next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now) / 1000));
}
