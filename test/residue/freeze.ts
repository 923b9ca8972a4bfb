import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Freezes a process the way Lambda freezes an execution environment between invocations: with the cgroup v1
 * freezer where it is writable (../shared/lambda-sandbox.md), SIGSTOP otherwise. A frozen process's memory
 * stays readable through /proc/<pid>/mem, which is what a snapshot of a frozen environment would hold.
 */
export interface Freezer {
  /** 'cgroup-v1-freezer' or 'SIGSTOP'. */
  readonly method: string;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** Thaws and removes the cgroup (the process must have exited for the group to be removed). */
  dispose(): void;
}

const FREEZER_ROOT = '/sys/fs/cgroup/freezer';

export function freezerFor(pid: number): Freezer {
  const group = join(FREEZER_ROOT, `didit-residue-${process.pid}-${pid}`);
  let cgroup = false;
  try {
    if (existsSync(join(FREEZER_ROOT, 'cgroup.procs'))) {
      mkdirSync(group, { recursive: true });
      writeFileSync(join(group, 'cgroup.procs'), String(pid));
      cgroup = true;
    }
  } catch {
    cgroup = false;
  }
  const state = (): string => readFileSync(join(group, 'freezer.state'), 'utf8').trim();
  if (cgroup) {
    return {
      method: 'cgroup-v1-freezer',
      async freeze() {
        writeFileSync(join(group, 'freezer.state'), 'FROZEN');
        // FREEZING until every task of the group is frozen; the state file is the event to wait for.
        while (state() !== 'FROZEN') await new Promise<void>((r) => setImmediate(r));
      },
      async thaw() {
        writeFileSync(join(group, 'freezer.state'), 'THAWED');
        while (state() !== 'THAWED') await new Promise<void>((r) => setImmediate(r));
      },
      dispose() {
        try {
          writeFileSync(join(group, 'freezer.state'), 'THAWED');
        } catch {
          // gone already
        }
        try {
          rmdirSync(group);
        } catch {
          // still has a task (the child is exiting); the kernel keeps an empty group harmlessly
        }
      },
    };
  }
  const procState = (): string => /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?';
  return {
    method: 'SIGSTOP',
    async freeze() {
      process.kill(pid, 'SIGSTOP');
      while (procState() !== 'T') await new Promise<void>((r) => setImmediate(r));
    },
    async thaw() {
      process.kill(pid, 'SIGCONT');
      while (procState() === 'T') await new Promise<void>((r) => setImmediate(r));
    },
    dispose() {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // exited
      }
    },
  };
}
