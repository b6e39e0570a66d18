/**
 * The JSON Schemas the `iovabitmap` command line ships (packages/bench/schemas/*.schema.json,
 * draft 2020-12), compiled with Ajv: a document must validate against the schema its `document`
 * field names.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

const DIR = fileURLToPath(new URL('../../packages/bench/schemas/', import.meta.url));

let validators: Map<string, ValidateFunction> | undefined;

function load(): Map<string, ValidateFunction> {
  // strict: unknown keywords and formats are schema bugs; date-time is checked as an exact ISO string.
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)) && new Date(s).toISOString() === s);
  const files = readdirSync(DIR).filter((f) => f.endsWith('.schema.json'));
  for (const f of files) ajv.addSchema(JSON.parse(readFileSync(DIR + f, 'utf8')) as object);
  const out = new Map<string, ValidateFunction>();
  for (const kind of ['report', 'migrate', 'bench']) out.set(kind, ajv.getSchema(`https://iovabitmap.invalid/schemas/${kind}.schema.json`)!);
  return out;
}

/** The schema files shipped, by name. */
export function schemaFiles(): string[] {
  return readdirSync(DIR).filter((f) => f.endsWith('.schema.json')).sort();
}

/**
 * The errors of `doc` against the schema of its `document` kind (`[]` when valid), as
 * `path: message` lines.
 */
export function schemaErrors(doc: unknown): string[] {
  validators ??= load();
  const kind = (doc as { document?: unknown })?.document;
  const v = typeof kind === 'string' ? validators.get(kind) : undefined;
  if (v === undefined) return [`document: unknown kind ${JSON.stringify(kind)}`];
  if (v(doc)) return [];
  return (v.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message} ${JSON.stringify(e.params)}`);
}
