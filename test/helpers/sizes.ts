/**
 * Byte sizes for the tests, in both forms, told apart by case as in core's sizes.ts: `KiB`, `MiB`,
 * `GiB`, `TiB` are bigints (`64n * GiB`), `KIB`, `MIB`, `GIB`, `TIB` numbers (`2 * MIB`). Defined
 * here, not imported from the library, so that a wrong constant there cannot hide behind the same
 * constant in a test.
 */
export const KiB = 1n << 10n;
export const MiB = 1n << 20n;
export const GiB = 1n << 30n;
export const TiB = 1n << 40n;
export const KIB = 2 ** 10;
export const MIB = 2 ** 20;
export const GIB = 2 ** 30;
export const TIB = 2 ** 40;
