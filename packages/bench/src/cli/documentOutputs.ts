/**
 * One output convention for every command: `--json [file]` and `--markdown [file]`.
 *
 * Theory of operation
 * -------------------
 * `report`, `migrate` and `bench` each produce one document (../output/document.ts; a JSON Schema
 * per kind in the package's schemas/). `--json FILE` writes it as JSON to FILE, `--json` alone (or
 * `--json -`) to stdout; `--markdown` likewise as Markdown. When a document goes to stdout, stdout
 * carries that document and nothing else, so it can be piped into a parser: the human text
 * (progress, tables, "wrote ..." lines) goes to stderr instead ({@link humanStream}). At most one
 * document can go to stdout.
 *
 * Paths are checked before the command runs (../output/outputPaths.ts), and the documents written
 * after it ends, also after an interrupt (then with `complete: false`). A write that still fails
 * (the disk filled, a directory vanished) is reported as EIO after the other outputs are written,
 * and the JSON document is printed on stdout so that the results are not lost.
 */
import { IovaBitmapError } from '@iovabitmap/core';
import { usageError } from './cliOptions.js';
import { checkOutputFile, writeOutputFile } from '../output/outputPaths.js';

/** The document options as commander parses them: absent, `true` (no file: stdout) or a path (`-`: stdout). */
export interface DocumentOptions {
  /** `--json [file]`. */
  readonly json?: string | true;
  /** `--markdown [file]`. */
  readonly markdown?: string | true;
}

/** Where a command writes and what stops it. */
export interface CommandIo {
  /** Documents that go to stdout, and the human text when none does. */
  readonly stdout: NodeJS.WriteStream;
  /** Errors, and the human text when a document goes to stdout. */
  readonly stderr: NodeJS.WriteStream;
  /** Aborts the command (Ctrl-C: ./interrupts.ts). */
  readonly signal?: AbortSignal;
}

/** The process's streams, no signal. */
export function processIo(): CommandIo {
  return { stdout: process.stdout, stderr: process.stderr };
}

/** True when a document option sends its document to stdout. */
export function toStdout(target: string | true | undefined): boolean {
  return target === true || target === '-';
}

/** The stream for the human text: stderr when a document goes to stdout, else stdout. */
export function humanStream(o: DocumentOptions, io: CommandIo): NodeJS.WriteStream {
  return toStdout(o.json) || toStdout(o.markdown) ? io.stderr : io.stdout;
}

/**
 * Checks the document options before the command runs: at most one to stdout, and every file
 * writable.
 * @throws IovaBitmapError `EINVAL` naming the option and the path.
 */
export async function checkDocumentOptions(o: DocumentOptions): Promise<void> {
  if (toStdout(o.json) && toStdout(o.markdown)) {
    throw usageError('--markdown', o.markdown === true ? '(stdout)' : o.markdown, 'cannot go to stdout as --json does: give one of them a file');
  }
  if (typeof o.json === 'string' && !toStdout(o.json)) await checkOutputFile('--json', o.json);
  if (typeof o.markdown === 'string' && !toStdout(o.markdown)) await checkOutputFile('--markdown', o.markdown);
}

/** Another output of a command (bench's `--charts DIR`), written with the documents. */
export interface ExtraOutput {
  /** The option, e.g. `"--charts"`. */
  readonly option: string;
  /** The path the user gave. */
  readonly path: string;
  /** Writes it; returns the human line to print. */
  readonly write: () => Promise<string>;
}

/** The two renderings of a command's document. */
export interface DocumentRenderers {
  readonly json: () => string;
  readonly markdown: () => string;
}

/**
 * Writes the requested documents (and `extra` outputs), then reports failed writes (see the
 * module comment).
 * @param command - for messages, e.g. `"iovabitmap bench"`
 * @throws IovaBitmapError `EIO` naming every output that could not be written; the JSON document
 *   is then on stdout.
 */
export async function writeDocuments(command: string, o: DocumentOptions, render: DocumentRenderers, io: CommandIo, extra: readonly ExtraOutput[] = []): Promise<void> {
  const human = humanStream(o, io);
  const failed: string[] = [];
  const attempt = async (option: string, path: string, write: () => Promise<string>): Promise<void> => {
    try {
      human.write(await write());
    } catch (e) {
      failed.push(`${option} ${path} (${(e as NodeJS.ErrnoException).code ?? IovaBitmapError.dataOf(e).message})`);
    }
  };
  for (const [option, target, text] of [
    ['--json', o.json, render.json],
    ['--markdown', o.markdown, render.markdown],
  ] as const) {
    if (target === undefined) continue;
    if (target === true || toStdout(target)) io.stdout.write(text());
    else await attempt(option, target, async () => (await writeOutputFile(target, text()), `wrote ${target}\n`));
  }
  for (const x of extra) await attempt(x.option, x.path, x.write);
  if (failed.length > 0) {
    if (!toStdout(o.json)) io.stdout.write(render.json());
    throw new IovaBitmapError('EIO', `${command}: could not write ${failed.join(', ')}; the results are above on stdout, as JSON`);
  }
}
