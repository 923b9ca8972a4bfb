import * as area from '../../lib/operations/sessions.ts';
import type { OperationName } from '../../lib/operations/table.ts';
import { fuzzOperations } from './support/operations.ts';

// The sessions operations of the table, each through its real handler (see support/operations.ts).
fuzzOperations('sessions', Object.keys(area) as OperationName[]);
