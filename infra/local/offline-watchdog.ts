/**
 * Preloaded (`node --import`) into the serverless-offline child by `offline.ts`: when the Node process
 * that started it goes away without stopping it (SIGKILL, crash), the child notices that its parent pid
 * changed and shuts down, so no `sls offline` is left holding ports, and removes its own build folder
 * (which the parent would have removed on `stop()`).
 *
 * serverless-offline runs handlers in worker threads, which inherit `--import`: only the main thread
 * watches. The first step is SIGTERM to ourselves (serverless-offline's graceful halt); if that does not
 * finish, exit hard.
 */
import { rmSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { isMainThread } from 'node:worker_threads';

const expected = Number(process.env['DIDIT_OFFLINE_PARENT_PID']);
const workFolder = process.env['DIDIT_ESBUILD_WORK_FOLDER'];

if (isMainThread && Number.isInteger(expected) && expected > 0) {
  const timer = setInterval(() => {
    if (process.ppid === expected) return;
    clearInterval(timer);
    // Only ever a per-run folder under .cache/offline/ (offline.ts names it), never anything else.
    if (workFolder && /^\.cache[\\/]offline[\\/][\w-]+$/.test(workFolder)) {
      const target = resolve(process.cwd(), workFolder);
      if (target.startsWith(resolve(process.cwd(), '.cache', 'offline') + sep)) {
        process.once('exit', () => rmSync(target, { recursive: true, force: true }));
      }
    }
    setTimeout(() => process.exit(1), 5_000).unref();
    process.kill(process.pid, 'SIGTERM');
  }, 500);
  timer.unref();
}
