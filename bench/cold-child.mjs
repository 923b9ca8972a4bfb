// One cold-start sample for bench/run.ts: a fresh Node process that imports one variant's esbuild
// bundle (as Lambda loads the deployed .mjs) and makes its first call. Plain .mjs on purpose: a .ts
// driver would make Node load its type stripper, which a deployed bundle never pays for.
//
// argv: <bundle path> <API Gateway event as JSON>. Configuration comes from the environment the parent
// set for this variant. Reports over IPC: times relative to this process's time origin (its start).
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';

const driverStartMs = performance.now();
const [bundle, eventJson] = process.argv.slice(2);
const { handler } = await import(pathToFileURL(bundle).href);
const loadedMs = performance.now();

const deadline = Date.now() + 13_000;
const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'bench-cold',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench-cold',
  memoryLimitInMB: '512',
  awsRequestId: randomUUID(),
  logGroupName: '/aws/lambda/bench-cold',
  logStreamName: 'bench',
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};
const result = await handler(JSON.parse(eventJson), context);
const respondedMs = performance.now();

process.send(
  {
    type: 'cold',
    status: result.statusCode,
    driverStartMs,
    moduleLoadMs: loadedMs - driverStartMs,
    firstCallMs: respondedMs - loadedMs,
    sinceOriginMs: respondedMs,
  },
  () => process.exit(0),
);
