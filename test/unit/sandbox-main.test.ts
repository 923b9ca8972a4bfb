import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../sandbox/main.ts', import.meta.url));
/**
 * main.ts needs a Node that strips types (22.18+). The project pins one in node_modules; the runner's
 * own Node may be older when vitest was started through a system `node`.
 */
const PINNED_NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
const NODE = existsSync(PINNED_NODE) ? PINNED_NODE : process.execPath;

interface Started {
  child: ChildProcessWithoutNullStreams;
  url: string;
  caFile: string;
  stdout: () => string;
}

/** Start main.ts and wait for its one JSON line. */
function startMain(args: string[], stdinLine?: string): Promise<Started> {
  const child = spawn(NODE, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  if (stdinLine !== undefined) child.stdin.write(`${stdinLine}\n`);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`main.ts exited with ${String(code)}: ${err}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const newline = out.indexOf('\n');
      if (newline !== -1) {
        const info = JSON.parse(out.slice(0, newline)) as { url: string; caFile: string };
        resolve({ child, url: info.url, caFile: info.caFile, stdout: () => out });
      }
    });
  });
}

function get(url: string, ca: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve(child.exitCode);
      return;
    }
    child.removeAllListeners('exit');
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

describe('sandbox main.ts', () => {
  const running: ChildProcessWithoutNullStreams[] = [];
  afterEach(async () => {
    for (const child of running.splice(0)) await stop(child);
  });

  it('takes the key from stdin, prints only {url, caFile}, serves control routes, and cleans up on SIGTERM', async () => {
    const key = 'stdin-key-AbC_123-xyz';
    const started = await startMain(['--key-from-stdin'], key);
    running.push(started.child);
    const line = JSON.parse(started.stdout().trim()) as Record<string, unknown>;
    expect(Object.keys(line).sort()).toEqual(['caFile', 'url']);
    expect(started.stdout()).not.toContain(key);

    const ca = await readFile(started.caFile, 'utf8');
    const ok = await get(`${started.url}/v3/session/`, ca, { 'x-api-key': key, 'content-type': 'application/json' }, 'POST', JSON.stringify({ workflow_id: '5d1b7a52-1c8f-4b0e-9d38-2a6f0c4e7b11' }));
    expect(ok.status).toBe(201);
    expect((await get(`${started.url}/v3/session/`, ca, { 'x-api-key': 'nope' }, 'POST', '{}')).status).toBe(401);

    const stats = JSON.parse((await get(`${started.url}/__sandbox/stats`, ca)).text) as Record<string, number>;
    expect(stats['count']).toBe(2);
    const received = (await get(`${started.url}/__sandbox/received`, ca)).text;
    expect(received).not.toContain(key);

    expect(await stop(started.child)).toBe(0);
    await expect(stat(started.caFile)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('generates a key when none is given and prints nothing about it', async () => {
    const started = await startMain([]);
    running.push(started.child);
    expect(started.stdout().trim().split('\n')).toHaveLength(1);
    const ca = await readFile(started.caFile, 'utf8');
    expect((await get(`${started.url}/v3/sessions/`, ca)).status).toBe(401);
  });
});
