/**
 * The Lambda entry point of the `user.signup` EventBridge rule (source `app.users`): creates one Didit
 * session per sign-up (`vendor_data` = userId) and publishes `didit.session.created` with the session link
 * (lib/adapters/triggers/signup.ts).
 */
import { traced } from '../lib/observability/tracing.ts';
import { createSignupHandler } from '../lib/adapters/triggers/signup.ts';

/** The `user.signup` rule's target: see {@link createSignupHandler}. */
export const onSignup = traced(createSignupHandler());
