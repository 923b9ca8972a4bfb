/**
 * Lambda entry points, one per operation of the table (lib/operations/table.ts). Each is the
 * generic operation handler bound to its table entry; serverless.yml names them
 * `functions/handlers.<name>`. A unit test checks that this list and the table stay in step.
 */
import { createOperationHandler } from '../lib/http/operation-handler.ts';
import { OPERATIONS } from '../lib/operations/table.ts';

export const createSession = createOperationHandler(OPERATIONS.createSession);
export const retrieveDecision = createOperationHandler(OPERATIONS.retrieveDecision);
export const idVerification = createOperationHandler(OPERATIONS.idVerification);
export const amlScreening = createOperationHandler(OPERATIONS.amlScreening);
