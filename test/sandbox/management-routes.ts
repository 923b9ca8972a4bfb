/**
 * Management APIs (didit-api.md §4, §6.5): workflows, blocklist, webhook destinations. All free, all
 * on the generic rate-limit budget.
 */
import { blocklistAdd, blocklistRemove, listBlocklist } from './management-blocklist.ts';
import { createDestination, deleteDestination, getDestination, listDestinations, updateDestination } from './management-destinations.ts';
import { createWorkflow, deleteWorkflow, getWorkflow, listWorkflows, updateWorkflow } from './management-workflows.ts';
import type { Route } from './route.ts';

const WORKFLOWS = /^\/v3\/workflows\/$/;
const WORKFLOW = /^\/v3\/workflows\/([^/]+)\/$/;
const DESTINATIONS = /^\/v3\/webhook\/destinations\/$/;
const DESTINATION = /^\/v3\/webhook\/destinations\/([^/]+)\/$/;

export const MANAGEMENT_ROUTES: readonly Route[] = [
  { pattern: WORKFLOWS, method: 'GET', scope: 'other', handle: (_, __, ctx) => listWorkflows(ctx) },
  { pattern: WORKFLOWS, method: 'POST', scope: 'other', handle: (_, body, ctx) => createWorkflow(body, ctx) },
  { pattern: WORKFLOW, method: 'GET', scope: 'other', handle: ([id = ''], _, ctx) => getWorkflow(id, ctx) },
  { pattern: WORKFLOW, method: 'PATCH', scope: 'other', handle: ([id = ''], body, ctx) => updateWorkflow(id, body, ctx) },
  { pattern: WORKFLOW, method: 'DELETE', scope: 'other', handle: ([id = ''], _, ctx) => deleteWorkflow(id, ctx) },

  { pattern: /^\/v3\/blocklist\/add\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => blocklistAdd(body, ctx) },
  { pattern: /^\/v3\/blocklist\/remove\/$/, method: 'POST', scope: 'other', handle: (_, body, ctx) => blocklistRemove(body, ctx) },
  { pattern: /^\/v3\/blocklist\/$/, method: 'GET', scope: 'other', handle: (_, __, ctx) => listBlocklist(ctx) },

  { pattern: DESTINATIONS, method: 'GET', scope: 'other', handle: (_, __, ctx) => listDestinations(ctx) },
  { pattern: DESTINATIONS, method: 'POST', scope: 'other', handle: (_, body, ctx) => createDestination(body, ctx) },
  { pattern: DESTINATION, method: 'GET', scope: 'other', handle: ([id = ''], _, ctx) => getDestination(id, ctx) },
  { pattern: DESTINATION, method: 'PATCH', scope: 'other', handle: ([id = ''], body, ctx) => updateDestination(id, body, ctx) },
  { pattern: DESTINATION, method: 'DELETE', scope: 'other', handle: ([id = ''], _, ctx) => deleteDestination(id, ctx) },
];
