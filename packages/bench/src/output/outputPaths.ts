/**
 * Output paths of the CLI (`bench --json`, `--markdown`, `--charts`): checked before the run,
 * created without a recursive mkdir, written after it.
 *
 * Theory of operation
 * -------------------
 * A benchmark run takes minutes; a bad output path found when it ends loses the results. So every
 * output path is checked before anything runs ({@link checkOutputFile}, {@link checkOutputDir}):
 * the target is not a directory (or is one, for `--charts`), the nearest existing ancestor is a
 * directory, and that directory really accepts a new file (a probe file is created with `wx` and
 * removed: permissions, read-only mounts and pseudo file systems all answer the same way). A bad
 * path is a usage error (EINVAL) naming the option and the path.
 *
 * Why not `mkdir(dir, { recursive: true })`: under /proc it never returns (Node 20). procfs answers
 * ENOENT to a mkdir of a name it cannot hold; Node's recursive mkdir reads ENOENT as "the parent is
 * missing", makes the parent (/proc: EEXIST, taken as success) and retries the child, forever: the
 * synchronous call spins, the asynchronous one never settles. That was the hang of
 * `bench --json /proc/nope/x.json` after the table. {@link makeDirs} walks up with stat() to the
 * nearest existing directory and then makes each missing level once, top down, with a plain
 * mkdir: one system call per level, so every error comes back and nothing can loop.
 *
 * The checks cannot promise the write (the disk may fill meanwhile); ../cli/benchCommand.ts keeps
 * the results when a write still fails.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { usageError } from '../cli/cliOptions.js';

/** The nearest existing ancestor of `path` (itself included) and the levels missing below it. */
async function nearestExisting(path: string): Promise<{ dir: string; isDirectory: boolean; missing: string[] }> {
  const missing: string[] = [];
  let p = resolve(path);
  for (;;) {
    try {
      const st = await stat(p);
      return { dir: p, isDirectory: st.isDirectory(), missing: missing.reverse() };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      const up = dirname(p);
      if (up === p) throw e; // the root itself is missing: nothing to walk up to
      missing.push(p);
      p = up;
    }
  }
}

/**
 * `mkdir -p` without Node's recursive mkdir (see the module comment): each missing level is made
 * once, top down.
 * @throws the first system error (ENOENT under /proc, ENOTDIR under a file, EACCES...).
 */
export async function makeDirs(dir: string): Promise<void> {
  const at = await nearestExisting(dir);
  if (!at.isDirectory) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${at.dir}'`), { code: 'ENOTDIR' });
  for (const level of at.missing) {
    try {
      await mkdir(level);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** Writes `text` to `path`, making its directory first ({@link makeDirs}). */
export async function writeOutputFile(path: string, text: string): Promise<void> {
  await makeDirs(dirname(path));
  await writeFile(path, text);
}

/** Creates and removes a probe file in directory `dir`; returns the error code when that fails. */
async function probeDirectory(dir: string): Promise<string | undefined> {
  const probe = join(dir, `.iovabitmap-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(probe, 'wx');
    await fh.close();
    await unlink(probe);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

/** {@link nearestExisting} for a check: a system error on the way is a usage error naming the option. */
async function existingForCheck(option: string, path: string, of: string): Promise<{ dir: string; isDirectory: boolean; missing: string[] }> {
  try {
    return await nearestExisting(of);
  } catch (e) {
    throw usageError(option, path, `must be a usable path (${(e as NodeJS.ErrnoException).code ?? 'EIO'})`);
  }
}

/**
 * Checks that new files can be made in directory `dir` (absent: in its nearest existing ancestor);
 * errors name `option` and the `path` the user gave.
 */
async function checkCreatable(option: string, path: string, dir: string): Promise<void> {
  const at = await existingForCheck(option, path, dir);
  if (!at.isDirectory) throw usageError(option, path, `must lie under a directory, but ${at.dir} is not one`);
  const code = await probeDirectory(at.dir);
  if (code !== undefined) throw usageError(option, path, `must be writable, but no file can be created in ${at.dir} (${code})`);
}

/**
 * Checks an output file option before the run: not empty, not a directory, and writable (an
 * existing file: write access; a new one: its nearest existing ancestor accepts a new file).
 * @throws IovaBitmapError `EINVAL` naming the option and the path.
 */
export async function checkOutputFile(option: string, path: string): Promise<void> {
  if (typeof path !== 'string' || path.trim() === '') throw usageError(option, path, 'must be a file path');
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw usageError(option, path, `must be a usable path (${code})`);
    return checkCreatable(option, path, dirname(resolve(path)));
  }
  if (st.isDirectory()) throw usageError(option, path, 'must name a file, but it is a directory');
  try {
    await access(path, constants.W_OK);
  } catch (e) {
    throw usageError(option, path, `must be writable (${(e as NodeJS.ErrnoException).code})`);
  }
}

/**
 * Checks an output directory option before the run: not empty, a directory or absent, and new
 * files can be created in it (or in its nearest existing ancestor).
 * @throws IovaBitmapError `EINVAL` naming the option and the path.
 */
export async function checkOutputDir(option: string, path: string): Promise<void> {
  if (typeof path !== 'string' || path.trim() === '') throw usageError(option, path, 'must be a directory path');
  const at = await existingForCheck(option, path, path);
  if (at.missing.length === 0 && !at.isDirectory) throw usageError(option, path, 'must be a directory, but it is a file');
  await checkCreatable(option, path, path);
}
