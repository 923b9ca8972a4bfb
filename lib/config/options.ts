import { ConfigError } from './env.ts';

/**
 * One factory's options, checked and merged with its `defaults` the way middy's middlewares do
 * (`packages/secrets-manager`: a frozen `defaults` object, the options validated, then `{ ...defaults, ...opts }`),
 * so a timeout or a limit has one value in one place and a misspelt or mistyped option is refused at
 * construction instead of silently falling back to a default.
 */

/** What an option's value must be; `expects` completes "option X must be …" (never quotes the value). */
export interface OptionRule {
  readonly expects: string;
  readonly required: boolean;
  test(value: unknown): boolean;
}

/** A rule for every option a factory takes: a name without a rule is an unknown option. */
export type OptionRules<T> = { readonly [K in keyof T]-?: OptionRule };

const rule = (expects: string, test: (value: unknown) => boolean): OptionRule => Object.freeze({ expects, required: false, test });

/** The usual rules. Every rule accepts `undefined` unless wrapped in {@link required}: an absent option takes its default. */
export const is = Object.freeze({
  /** A non-empty string. */
  string: rule('a non-empty string', (v) => typeof v === 'string' && v !== ''),
  /** Any string, '' included (e.g. a setting only some entry points use). */
  text: rule('a string', (v) => typeof v === 'string'),
  boolean: rule('true or false', (v) => typeof v === 'boolean'),
  function: rule('a function', (v) => typeof v === 'function'),
  /** A client, a source, a store: anything with methods. */
  object: rule('an object', (v) => (typeof v === 'object' && v !== null) || typeof v === 'function'),
  /** Trust anchors: PEM text or its bytes. */
  pem: rule('PEM text or bytes', (v) => (typeof v === 'string' && v !== '') || v instanceof Uint8Array),
  /** A plain string-to-string record (environment variables, encryption contexts). */
  record: rule('a record of strings', (v) => typeof v === 'object' && v !== null && Object.values(v).every((x) => x === undefined || typeof x === 'string')),
  /** A finite number in `min..max`. */
  number: (min: number, max: number): OptionRule => rule(`a number in ${min}..${max}`, (v) => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max),
  /** A whole number in `min..max`. */
  integer: (min: number, max: number): OptionRule =>
    rule(`an integer in ${min}..${max}`, (v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max),
});

/** The option must be given (TypeScript says so already; this also holds for casts and plain JS callers). */
export function required(base: OptionRule): OptionRule {
  return Object.freeze({ ...base, required: true });
}

/**
 * Validates `options` against `rules` and returns `{ ...defaults, ...options }` (options left `undefined`
 * take their default). Throws ConfigError naming the factory and the option: an unknown option name, a
 * required one missing, or a value of the wrong type or out of range. The message never holds the value.
 */
export function withDefaults<T extends object, D extends Partial<T>>(factory: string, defaults: D, rules: OptionRules<T>, options: T): Readonly<T & D> {
  if (typeof options !== 'object' || options === null) throw new ConfigError(`${factory}: options must be an object`);
  const given: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (!Object.hasOwn(rules, name)) throw new ConfigError(`${factory}: unknown option ${JSON.stringify(name)}`);
    if (value === undefined) continue;
    const check = (rules as Record<string, OptionRule>)[name] as OptionRule;
    if (!check.test(value)) throw new ConfigError(`${factory}: option ${name} must be ${check.expects}`);
    given[name] = value;
  }
  for (const [name, check] of Object.entries(rules as Record<string, OptionRule>)) {
    if (check.required && given[name] === undefined && (defaults as Record<string, unknown>)[name] === undefined) {
      throw new ConfigError(`${factory}: option ${name} is required`);
    }
  }
  for (const [name, value] of Object.entries(defaults)) {
    const check = (rules as Record<string, OptionRule>)[name];
    // A default that breaks its own rule is a bug here, not the caller's: fail at the first construction.
    if (check === undefined || (value !== undefined && !check.test(value))) throw new ConfigError(`${factory}: default ${name} is invalid`);
  }
  return Object.freeze({ ...defaults, ...given }) as Readonly<T & D>;
}
