/**
 * The Lambda entry point of every operation. Each function of serverless.yml (generated from the
 * table) sets OPERATION to its table key; the handler is the generic one bound to that entry, so an
 * operation is added by adding a table entry, nothing here.
 */
import { createOperationHandler } from '../lib/adapters/http/operation-handler.ts';
import { traced } from '../lib/observability/tracing.ts';
import { operationNamed } from '../lib/operations/table.ts';
import { loadOperationName } from '../lib/runtime/config.ts';

/** This function's table entry (OPERATION) behind API Gateway: see {@link createOperationHandler} (errors, deadlines). */
export const handler = traced(createOperationHandler(operationNamed(loadOperationName())));
