import * as area from '../../lib/operations/management.ts';
import type { OperationName } from '../../lib/operations/table.ts';
import { fuzzOperations } from './support/operations.ts';

// The management operations of the table, each through its real handler (see support/operations.ts).
fuzzOperations('management', Object.keys(area) as OperationName[]);
