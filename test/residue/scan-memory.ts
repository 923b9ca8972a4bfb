import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import type { Pattern } from './patterns.ts';

export type RegionKind = 'anonymous' | 'heap' | 'stack' | 'file' | 'special';

export interface Region {
  readonly start: bigint;
  readonly end: bigint;
  readonly perms: string;
  readonly path: string;
  readonly kind: RegionKind;
  /**
   * True when the mapping provably holds nothing the process wrote: an anonymous mapping with no page
   * resident or swapped (it reads as zeros), or a mapping of a file on disk with no dirty, anonymous
   * (copy-on-write) or swapped page (it reads as the file). From /proc/<pid>/smaps.
   */
  readonly pristine: boolean;
}

export interface Hit {
  readonly pattern: string;
  readonly address: string;
  readonly region: string;
  readonly kind: RegionKind;
}

export interface ScanResult {
  readonly hits: Hit[];
  readonly regionsScanned: number;
  readonly bytesScanned: number;
  readonly unreadableRegions: number;
  /** Readable mappings skipped as pristine (see {@link Region.pristine}) and their size. */
  readonly pristineRegions: number;
  readonly pristineBytes: number;
}

const CHUNK = 8 * 1024 * 1024;

/**
 * Scans every readable mapping of another process for the patterns, through /proc/<pid>/mem.
 * It must run in a different process from the one scanned: reading /proc/self/mem would copy the
 * key into the scanner's own memory (key-hygiene.md).
 *
 * V8's heap lives in anonymous mappings, as do malloc arenas other than the main `[heap]`; the
 * `kind` of each hit says where it was.
 */
export function scanProcessMemory(pid: number, patterns: readonly Pattern[]): ScanResult {
  const regions = readMaps(pid);
  const longest = Math.max(...patterns.map((p) => p.bytes.length));
  const hits: Hit[] = [];
  let bytesScanned = 0;
  let regionsScanned = 0;
  let unreadableRegions = 0;
  let pristineRegions = 0;
  let pristineBytes = 0;
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  const buffer = Buffer.alloc(CHUNK + longest);
  try {
    for (const region of regions) {
      if (!region.perms.startsWith('r') || region.kind === 'special') continue;
      if (region.pristine) {
        pristineRegions++;
        pristineBytes += Number(region.end - region.start);
        continue;
      }
      regionsScanned++;
      let carry = 0;
      for (let at = region.start; at < region.end; ) {
        const want = Number(region.end - at < BigInt(CHUNK) ? region.end - at : BigInt(CHUNK));
        let got: number;
        try {
          got = readSync(fd, buffer, carry, want, at);
        } catch {
          unreadableRegions++;
          break;
        }
        if (got <= 0) break;
        const view = buffer.subarray(0, carry + got);
        for (const pattern of patterns) {
          let from = 0;
          for (;;) {
            const i = view.indexOf(pattern.bytes, from);
            if (i < 0) break;
            const address = at - BigInt(carry) + BigInt(i);
            hits.push({
              pattern: pattern.name,
              address: `0x${address.toString(16)}`,
              region: `${region.start.toString(16)}-${region.end.toString(16)} ${region.perms} ${region.path}`,
              kind: region.kind,
            });
            from = i + 1;
          }
        }
        bytesScanned += got;
        at += BigInt(got);
        // Keep the tail so a pattern straddling two chunks is still seen (and not counted twice:
        // a match fully inside the tail was already reported, so only matches ending past it count).
        carry = Math.min(longest - 1, view.length);
        view.copy(buffer, 0, view.length - carry);
        dedupeTail(hits, at, carry, longest);
      }
    }
  } finally {
    closeSync(fd);
    buffer.fill(0);
  }
  return { hits: unique(hits), regionsScanned, bytesScanned, unreadableRegions, pristineRegions, pristineBytes };
}

function dedupeTail(_hits: Hit[], _at: bigint, _carry: number, _longest: number): void {
  // Duplicates from the carried tail are removed by `unique` (same pattern, same address).
}

function unique(hits: Hit[]): Hit[] {
  const seen = new Set<string>();
  return hits.filter((h) => {
    const id = `${h.pattern}@${h.address}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

export function readMaps(pid: number): Region[] {
  const out: Region[] = [];
  let current: { start: bigint; end: bigint; perms: string; path: string; fields: Map<string, number> } | undefined;
  const flush = (): void => {
    if (current === undefined) return;
    const kind = kindOf(current.path);
    const f = (name: string): number => current!.fields.get(name) ?? Number.NaN;
    // Unknown fields (NaN) never count as pristine: then the region is scanned.
    const untouchedAnon = kind === 'anonymous' && f('Rss') === 0 && f('Swap') === 0;
    const onDisk = kind === 'file' && current.path.startsWith('/') && !current.path.startsWith('/dev/') && !current.path.endsWith('(deleted)');
    const cleanFile = onDisk && f('Private_Dirty') === 0 && f('Shared_Dirty') === 0 && f('Anonymous') === 0 && f('Swap') === 0;
    out.push({ start: current.start, end: current.end, perms: current.perms, path: current.path, kind, pristine: untouchedAnon || cleanFile });
    current = undefined;
  };
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s*(.*)$/.exec(line);
    if (m !== null) {
      flush();
      current = { start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perms: m[3]!, path: m[4]!.trim(), fields: new Map() };
      continue;
    }
    const field = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (field !== null && current !== undefined) current.fields.set(field[1]!, Number(field[2]));
  }
  flush();
  return out;
}

function kindOf(path: string): RegionKind {
  if (path === '') return 'anonymous';
  if (path === '[heap]') return 'heap';
  if (path.startsWith('[stack')) return 'stack';
  if (path === '[vvar]' || path === '[vsyscall]' || path === '[vdso]' || path.startsWith('[vvar')) return 'special';
  if (path.startsWith('[')) return 'anonymous';
  return 'file';
}
