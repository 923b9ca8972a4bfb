/**
 * Management APIs (didit-api.md §4, §6.5): workflows, blocklist, webhook destinations.
 */
import type { Route } from './route.ts';

export const MANAGEMENT_ROUTES: readonly Route[] = [];
