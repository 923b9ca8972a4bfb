import * as area from '../../lib/operations/standalone.ts';
import type { OperationName } from '../../lib/operations/table.ts';
import { fuzzOperations } from './support/operations.ts';

// The standalone operations of the table, each through its real handler (see support/operations.ts).
fuzzOperations('standalone', Object.keys(area) as OperationName[]);
