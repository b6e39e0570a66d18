/*
 * ptewalk.c: the scalar C reference of the page-table walk benchmark (../src/benches/pteWalk.bench.ts).
 *
 * Theory of operation
 * -------------------
 * It builds the table the JavaScript benchmark walks, in the same shape and with the same dirty
 * set, and times the classic scalar walks over it, so that the benchmark can print "JS vs C" from
 * one process run on one machine state.
 *
 * The table: `pages` 4 KiB leaves (a multiple of 512) as leaf tables of 512 64-bit VT-d
 * second-stage PTEs, one 4 KiB table after the other, reached through a directory of table
 * pointers (the level-2 table's role). Leaf p holds the IoPageTable encoding of a writable 4 KiB
 * leaf: low word ((p mod 2^20) << 12) | R | W, high word (p mod 2^40) >> 20, so half the low words
 * have bit 31 set, as in the JavaScript table. The dirty set follows the benchmark's seed rule:
 * density >= 1 marks every leaf; otherwise leaf p is dirty when the p-th draw of the project's
 * PRNG (sfc32 seeded through splitmix32, packages/workers/src/device/prng.ts, `float()`) is below
 * the density. The same seed therefore gives the same dirty leaves in both languages, and the
 * benchmark checks that both count the same number.
 *
 * The walk: for every table, find the PTEs with dirty bit 9, set their bits in a bitmap of one bit
 * per page (bit p = page p, 64-bit words), clear bit 9 in the PTE, and count them. Kernels:
 *   - `bit`:  a branch per PTE; per dirty PTE one read-modify-write of its bitmap word and a clear.
 *   - `word`: a branch per PTE that clears it and gathers its bit in a register; one write per
 *             non-zero word (cleared before recorded: harmless on one thread, and the fastest).
 *   - `mask`: the 64-PTE mask built without branches; one write per non-zero word, then a
 *             count-trailing-zeros loop clears only the dirty PTEs.
 * Bitmap writes are plain `|=`: a single-threaded best case (an atomic OR per 64 bits costs
 * nothing measurable at word granularity, docs/bench/limits.md §2).
 *
 * Method: before every timed walk the table is restored from a pristine copy and the bitmap
 * zeroed (neither is timed), as the benchmark's `beforeEach` does; one untimed walk per kernel,
 * then `reps` timed walks with the kernels interleaved; median / min / max in ns per PTE. Every
 * walk is checked: its count, the popcount of the bitmap and the number of dirty PTEs must agree,
 * and no PTE may be left dirty; a failed check exits with status 1.
 *
 * Build (what pteWalk.bench.ts does): cc -O2 -fno-tree-vectorize (gcc) or
 * -O2 -fno-vectorize -fno-slp-vectorize (clang), no -march: "scalar" means scalar code for the
 * baseline ISA, like V8's output (it neither vectorises nor unrolls). Portable C99 plus GCC
 * builtins (ctz, popcount), which gcc and clang both have.
 *
 * Usage: ptewalk <pages> <density> <seed> <reps>
 * Output: one JSON line: {"pages", "density", "dirty", "reps", "kernels": {name: {"median",
 * "min", "max"} in ns per PTE}, "best", "bestNs"}.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PTES_PER_TABLE 512
#define DIRTY ((uint64_t)1 << 9)
#define MAX_REPS 101

/* ---- the project's PRNG (packages/workers/src/device/prng.ts), bit for bit ---------------- */

typedef struct {
  uint32_t a, b, c, d;
} rng_t;

static uint32_t splitmix32(uint32_t x) {
  uint32_t z = x + 0x9e3779b9u;
  z = (z ^ (z >> 16)) * 0x85ebca6bu;
  z = (z ^ (z >> 13)) * 0xc2b2ae35u;
  return z ^ (z >> 16);
}

static uint32_t rng_u32(rng_t *r) {
  uint32_t t = r->a + r->b + r->d;
  r->d += 1;
  r->a = r->b ^ (r->b >> 9);
  r->b = r->c + (r->c << 3);
  r->c = (r->c << 21) | (r->c >> 11);
  r->c += t;
  return t;
}

static rng_t rng_create(uint32_t seed) {
  rng_t r;
  uint32_t s = seed;
  s += 0x9e3779b9u;
  r.a = splitmix32(s);
  s += 0x9e3779b9u;
  r.b = splitmix32(s);
  s += 0x9e3779b9u;
  r.c = splitmix32(s);
  s += 0x9e3779b9u;
  r.d = splitmix32(s) | 1u;
  for (int i = 0; i < 12; i++) rng_u32(&r);
  return r;
}

/* A double in [0, 1) with 53 random bits: the first draw gives the high 32 bits. */
static double rng_float(rng_t *r) {
  uint32_t hi = rng_u32(r);
  uint32_t lo = rng_u32(r) >> 11;
  return ((double)hi * 2097152.0 + (double)lo) / 9007199254740992.0;
}

/* ---- the table and the bitmap ---------------------------------------------------------------- */

static size_t npages, ntables;
static uint64_t *table_mem;  /* the leaf tables, one after the other */
static uint64_t *pristine;   /* the dirty table before any walk */
static uint64_t **directory; /* table t at directory[t] */
static uint64_t *bitmap;     /* bit p = page p */

static void *alloc_or_die(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 4096, bytes) != 0) {
    fprintf(stderr, "ptewalk: cannot allocate %zu bytes\n", bytes);
    exit(2);
  }
  memset(p, 0, bytes);
  return p;
}

/* Builds the pristine table; returns the number of dirty leaves. */
static size_t build(double density, uint32_t seed) {
  rng_t r = rng_create(seed);
  size_t dirty = 0;
  for (size_t p = 0; p < npages; p++) {
    uint64_t pfn = p & (((uint64_t)1 << 40) - 1);
    uint64_t lo = ((pfn & 0xfffff) << 12) | 3; /* R | W */
    uint64_t pte = (pfn >> 20) << 32 | lo;
    int d = density >= 1 ? 1 : rng_float(&r) < density;
    if (d) {
      pte |= DIRTY;
      dirty++;
    }
    pristine[p] = pte;
  }
  return dirty;
}

/* ---- kernels: walk one table of 512 PTEs whose first page is `page0`; return the dirty count -- */

typedef size_t (*kernel_fn)(uint64_t *pte, size_t page0);

static size_t walk_bit(uint64_t *pte, size_t page0) {
  size_t n = 0;
  for (size_t i = 0; i < PTES_PER_TABLE; i++) {
    uint64_t v = pte[i];
    if (v & DIRTY) {
      size_t p = page0 + i;
      bitmap[p >> 6] |= (uint64_t)1 << (p & 63);
      pte[i] = v & ~DIRTY;
      n++;
    }
  }
  return n;
}

static size_t walk_word(uint64_t *pte, size_t page0) {
  size_t n = 0;
  uint64_t *bm = bitmap + (page0 >> 6);
  for (size_t w = 0; w < PTES_PER_TABLE / 64; w++) {
    uint64_t *q = pte + w * 64;
    uint64_t acc = 0;
    for (unsigned j = 0; j < 64; j++) {
      uint64_t v = q[j];
      if (v & DIRTY) {
        q[j] = v & ~DIRTY;
        acc |= (uint64_t)1 << j;
        n++;
      }
    }
    if (acc != 0) bm[w] |= acc;
  }
  return n;
}

static size_t walk_mask(uint64_t *pte, size_t page0) {
  size_t n = 0;
  uint64_t *bm = bitmap + (page0 >> 6);
  for (size_t w = 0; w < PTES_PER_TABLE / 64; w++) {
    uint64_t *q = pte + w * 64;
    uint64_t m = 0;
    for (unsigned j = 0; j < 64; j++) m |= ((q[j] >> 9) & 1) << j;
    if (m != 0) {
      bm[w] |= m;
      do {
        q[__builtin_ctzll(m)] &= ~DIRTY;
        m &= m - 1;
        n++;
      } while (m != 0);
    }
  }
  return n;
}

static const struct {
  const char *name;
  kernel_fn fn;
} KERNELS[] = {{"bit", walk_bit}, {"word", walk_word}, {"mask", walk_mask}};
#define NKERNELS (sizeof KERNELS / sizeof KERNELS[0])

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Restores the table, zeroes the bitmap, walks it with `k` (timed), checks it. Returns ns. */
static double run(size_t k, size_t dirty) {
  memcpy(table_mem, pristine, npages * sizeof(uint64_t));
  memset(bitmap, 0, npages / 8);
  kernel_fn fn = KERNELS[k].fn;
  double t0 = now_ns();
  size_t n = 0;
  for (size_t t = 0; t < ntables; t++) n += fn(directory[t], t * PTES_PER_TABLE);
  double dt = now_ns() - t0;
  size_t set = 0, left = 0;
  for (size_t w = 0; w < npages / 64; w++) set += (size_t)__builtin_popcountll(bitmap[w]);
  for (size_t p = 0; p < npages; p++) left += (table_mem[p] & DIRTY) != 0;
  if (n != dirty || set != dirty || left != 0) {
    fprintf(stderr, "ptewalk: check failed (%s): %zu dirty, walk counted %zu, bitmap holds %zu, %zu left dirty\n", KERNELS[k].name,
            dirty, n, set, left);
    exit(1);
  }
  return dt;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: ptewalk <pages, a multiple of 512> <density 0..1> <seed> <reps 1..%d>\n", MAX_REPS);
    return 2;
  }
  char *end;
  unsigned long long pages = strtoull(argv[1], &end, 10);
  double density = strtod(argv[2], NULL);
  unsigned long long seed = strtoull(argv[3], NULL, 0);
  int reps = atoi(argv[4]);
  if (*end != '\0' || pages == 0 || pages % PTES_PER_TABLE != 0 || !(density >= 0) || seed > 0xffffffffull || reps < 1 || reps > MAX_REPS) {
    fprintf(stderr, "ptewalk: bad arguments\n");
    return 2;
  }
  npages = (size_t)pages;
  ntables = npages / PTES_PER_TABLE;
  table_mem = alloc_or_die(npages * sizeof(uint64_t));
  pristine = alloc_or_die(npages * sizeof(uint64_t));
  bitmap = alloc_or_die(npages / 8);
  directory = alloc_or_die(ntables * sizeof(uint64_t *));
  for (size_t t = 0; t < ntables; t++) directory[t] = table_mem + t * PTES_PER_TABLE;
  size_t dirty = build(density, (uint32_t)seed);

  static double ns[NKERNELS][MAX_REPS];
  for (size_t k = 0; k < NKERNELS; k++) run(k, dirty); /* untimed first walk */
  for (int r = 0; r < reps; r++) {
    for (size_t k = 0; k < NKERNELS; k++) ns[k][r] = run(k, dirty) / (double)npages;
  }
  printf("{\"pages\":%zu,\"density\":%.17g,\"dirty\":%zu,\"reps\":%d,\"kernels\":{", npages, density, dirty, reps);
  size_t best = 0;
  double bestNs = 0;
  for (size_t k = 0; k < NKERNELS; k++) {
    qsort(ns[k], (size_t)reps, sizeof(double), cmp_double);
    double med = ns[k][reps / 2];
    if (k == 0 || med < bestNs) {
      best = k;
      bestNs = med;
    }
    printf("%s\"%s\":{\"median\":%.4f,\"min\":%.4f,\"max\":%.4f}", k ? "," : "", KERNELS[k].name, med, ns[k][0], ns[k][reps - 1]);
  }
  printf("},\"best\":\"%s\",\"bestNs\":%.4f}\n", KERNELS[best].name, bestNs);
  return 0;
}
