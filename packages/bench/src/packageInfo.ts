/**
 * This package's own package.json, read once: the version (the workspace's one version, stamped
 * by scripts/release.mjs; the CLI prints it for `--version`) and the ranges of its optional peer
 * dependencies (the chart renderer). Runs on the main thread.
 *
 * The file is one level above this module both in src/ and in dist/, so the same URL works from
 * the sources and from a build or an installed package.
 */
import { readFileSync } from 'node:fs';

/** The fields of package.json this package reads. */
export interface PackageInfo {
  /** `@iovabitmap/bench`. */
  readonly name: string;
  /** The package's version, e.g. `0.1.0`. */
  readonly version: string;
  /** Peer dependency name → semver range. */
  readonly peerDependencies: Readonly<Record<string, string>>;
}

let info: PackageInfo | undefined;

/** This package's package.json (read on the first call). */
export function packageInfo(): PackageInfo {
  if (info === undefined) {
    const json = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as Partial<PackageInfo>;
    info = { name: json.name ?? '@iovabitmap/bench', version: json.version ?? 'unknown', peerDependencies: json.peerDependencies ?? {} };
  }
  return info;
}
