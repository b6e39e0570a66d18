/**
 * What every JSON document of the `iovabitmap` command line starts with, and how it is written.
 *
 * Theory of operation
 * -------------------
 * Each command (`report`, `migrate`, `bench`) writes one kind of document, with its own JSON
 * Schema shipped in the package (`schemas/<document>.schema.json`, draft 2020-12) and its own
 * `schemaVersion`. Every document opens with the same {@link DocumentHeader}:
 *   document       which kind (`"report"`, `"migrate"`, `"bench"`): the schema to read it with;
 *   schemaVersion  that kind's version; bumped on any change of shape (a field added, removed or
 *                  given another meaning), the schema file and its version changing in the same
 *                  commit. Readers keep reading the older versions they know (./schema.ts reads
 *                  bench v1 and v2). The schemas are strict (no unknown properties), so a test
 *                  that validates a command's output catches a field the schema forgot;
 *   tool           the producer, with the version of @iovabitmap/bench read from its package.json
 *                  (the one source of truth; {@link toolInfo});
 *   machine        where it ran ({@link MachineInfo});
 *   complete       false when the command was interrupted (Ctrl-C, SIGTERM) or failed part-way
 *                  and the document holds what was done so far.
 * To extend a document (the migrate command's will grow): add the field to its TypeScript type, to
 * its builder and to its schema file, bump its version constant, and keep the reader of the old
 * version.
 *
 * Values that can exceed 2^53 (bytes, IOVAs) are bigints in memory and decimal strings in JSON
 * ({@link toJsonText}).
 */
import { availableParallelism, arch, cpus, release, totalmem, type as osType } from 'node:os';
import { packageInfo } from '../packageInfo.js';

/** The kinds of document the command line writes, one JSON Schema each. */
export type DocumentKind = 'report' | 'migrate' | 'bench';

/** The producer of a document. */
export interface ToolInfo {
  /** Always `"iovabitmap"`. */
  readonly name: string;
  /** The command that wrote the document (`"report"`, `"migrate"`, `"bench"`). */
  readonly command: string;
  /** Version of @iovabitmap/bench (its package.json); `null` in a document upgraded from bench schema v1, which did not record it. */
  readonly version: string | null;
}

/** Where the run happened. */
export interface MachineInfo {
  /** CPU model string of the first logical CPU, e.g. `"AMD EPYC 9R45"`. */
  readonly cpuModel: string;
  /** Logical CPUs available to this process (`os.availableParallelism()`). */
  readonly cores: number;
  /** Installed memory, bytes. JSON: decimal string. */
  readonly totalMemoryBytes: bigint;
  /** Node.js version, e.g. `"v20.20.2"`. */
  readonly node: string;
  /** V8 version, e.g. `"11.3.244.8-node.33"`. */
  readonly v8: string;
  /** Operating system: type, release and architecture, e.g. `"Linux 6.1.0 x64"`. */
  readonly os: string;
  /** When the run started, ISO 8601 UTC. */
  readonly date: string;
}

/** The fields every document starts with (see the module comment). */
export interface DocumentHeader<K extends DocumentKind = DocumentKind, V extends number = number> {
  /** Which kind of document. */
  readonly document: K;
  /** The version of that kind's schema. */
  readonly schemaVersion: V;
  /** The producer. */
  readonly tool: ToolInfo;
  /** Where it ran. */
  readonly machine: MachineInfo;
  /** False when the command was interrupted or failed part-way: the document holds what was done. */
  readonly complete: boolean;
}

/** The version of @iovabitmap/bench, from its package.json (../packageInfo.ts); `"unknown"` if unreadable. */
export function toolVersion(): string {
  try {
    return packageInfo().version;
  } catch {
    return 'unknown';
  }
}

/** The producer block of a document written by `command`. */
export function toolInfo(command: DocumentKind): ToolInfo {
  return { name: 'iovabitmap', command, version: toolVersion() };
}

/** Describes this machine now. */
export function machineInfo(now: Date = new Date()): MachineInfo {
  const cpu = cpus()[0];
  return {
    cpuModel: cpu?.model.trim() || 'unknown',
    cores: availableParallelism(),
    totalMemoryBytes: BigInt(totalmem()),
    node: process.version,
    v8: process.versions.v8,
    os: `${osType()} ${release()} ${arch()}`,
    date: now.toISOString(),
  };
}

/** One line describing the machine, for tables and Markdown. */
export function machineLine(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} logical CPUs, Node ${m.node} (V8 ${m.v8}), ${m.os}, ${m.date}`;
}

/** The header of a document of `kind` at `schemaVersion`, produced now on this machine. */
export function documentHeader<K extends DocumentKind, V extends number>(kind: K, schemaVersion: V, complete: boolean, started?: Date): DocumentHeader<K, V> {
  return { document: kind, schemaVersion, tool: toolInfo(kind), machine: machineInfo(started), complete };
}

/** An array of numbers as JSON.stringify indents it: one number per line. */
const INDENTED_NUMBER_ARRAY = /\[\n\s+(-?\d[\d.eE+-]*(?:,\n\s+-?\d[\d.eE+-]*)*)\n\s*\]/g;

/**
 * JSON text of a document: bigints as decimal strings, two-space indentation except inside
 * arrays of numbers (samples: one line each, not one line per number), a final newline.
 */
export function toJsonText(doc: unknown): string {
  const text = JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
  return text.replace(INDENTED_NUMBER_ARRAY, (_m, items: string) => `[${items.split(/,\n\s+/).join(', ')}]`) + '\n';
}

/** The Markdown lines that open every document's Markdown form: title, machine, tool, completeness. */
export function markdownHeader(title: string, h: DocumentHeader): string[] {
  const lines = [`# ${title}`, '', `Machine: ${machineLine(h.machine)}. Tool: ${h.tool.name} ${h.tool.command} ${h.tool.version ?? '(version not recorded)'}.`];
  if (!h.complete) lines.push('', '**Incomplete:** the command was interrupted or failed part-way; what follows is what was done until then.');
  return lines;
}
