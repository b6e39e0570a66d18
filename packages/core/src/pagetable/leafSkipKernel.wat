;; leafSkipKernel.wat: the clean-block skips and the table pass of the 4 KiB-leaf walk, in WebAssembly.
;;
;; Theory of operation: see ./leafSkipKernel.ts (the loader) and ./leafScanKernels.ts (its caller).
;; One table segment is one shared WebAssembly memory (./TableMemory.ts), imported as `mem`. A
;; leaf table is 512 entries of 8 bytes; a *block* is 32 entries = 256 bytes, and the low word of
;; entry j of the block at byte p is the i32 at p + 8j (little-endian, as the JavaScript views).
;;
;; Four exports. scanTable and clearPairs (at the end) make the whole mask pass over a leaf table of
;; vtd-ss, with the record between them in JavaScript (./leafScanKernels.ts scanBitTable). The two
;; skips serve the other formats' kernels, one per dirty test of ./leafScanKernels.ts:
;; skip(p, e, bits) -> the byte offset of the first block in [p, e) (p and e block-aligned) one
;; of whose 32 low words has a bit of `bits` set (the dirty bit, plus the replica bits for
;; formats that have replicas), or e when there is none. It only reads: the caller records and
;; clears the block it returns. The 32 loads are written out and OR-ed as a tree (independent
;; loads, no loop-carried chain but the one OR at the end); every offset is a constant, so the
;; engine checks no bounds per load (out-of-memory offsets trap, they never read another memory).
;; Why WebAssembly: in JavaScript every typed-array load carries a bounds check, and that check is
;; what keeps a JavaScript read of the low words about 1.4x slower than C (docs/bench/pteWalk.md §8).
(module
  (import "env" "mem" (memory 1 65536 shared))
  (func (export "skip") (param $p i32) (param $e i32) (param $bits i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $e)))
        (br_if $done
          (i32.and
            (local.get $bits)
            (i32.or
              (i32.or
                (i32.or
                  (i32.or (i32.or (i32.load offset=0 (local.get $p)) (i32.load offset=8 (local.get $p)))
                          (i32.or (i32.load offset=16 (local.get $p)) (i32.load offset=24 (local.get $p))))
                  (i32.or (i32.or (i32.load offset=32 (local.get $p)) (i32.load offset=40 (local.get $p)))
                          (i32.or (i32.load offset=48 (local.get $p)) (i32.load offset=56 (local.get $p)))))
                (i32.or
                  (i32.or (i32.or (i32.load offset=64 (local.get $p)) (i32.load offset=72 (local.get $p)))
                          (i32.or (i32.load offset=80 (local.get $p)) (i32.load offset=88 (local.get $p))))
                  (i32.or (i32.or (i32.load offset=96 (local.get $p)) (i32.load offset=104 (local.get $p)))
                          (i32.or (i32.load offset=112 (local.get $p)) (i32.load offset=120 (local.get $p))))))
              (i32.or
                (i32.or
                  (i32.or (i32.or (i32.load offset=128 (local.get $p)) (i32.load offset=136 (local.get $p)))
                          (i32.or (i32.load offset=144 (local.get $p)) (i32.load offset=152 (local.get $p))))
                  (i32.or (i32.or (i32.load offset=160 (local.get $p)) (i32.load offset=168 (local.get $p)))
                          (i32.or (i32.load offset=176 (local.get $p)) (i32.load offset=184 (local.get $p)))))
                (i32.or
                  (i32.or (i32.or (i32.load offset=192 (local.get $p)) (i32.load offset=200 (local.get $p)))
                          (i32.or (i32.load offset=208 (local.get $p)) (i32.load offset=216 (local.get $p))))
                  (i32.or (i32.or (i32.load offset=224 (local.get $p)) (i32.load offset=232 (local.get $p)))
                          (i32.or (i32.load offset=240 (local.get $p)) (i32.load offset=248 (local.get $p)))))))))
        (local.set $p (i32.add (local.get $p) (i32.const 256)))
        (br $next)))
    (local.get $p))

;; skipSmmu(p, e) -> as skip, for smmu-v3 leaves: the first block in [p, e) with an entry that is
  ;; valid (bit 0) with AP[2] (bit 7) clear, i.e. dirty; e when there is none. Per entry, with
  ;; t = v & 0x81 (bits 0 and 7), (t ^ 0x80) + 0x7f is 0xff, 0x100, 0x7f or 0x80 for t = 0, 1
  ;; (dirty), 0x80 and 0x81: bit 8 is set exactly when the entry is dirty, in three operations;
  ;; OR-ed over the block, bit 8 says whether the block holds a dirty entry. The 32 entries are
  ;; written out, as in `skip`, into four accumulators (entry j into the (j mod 4)-th: four short
  ;; OR chains instead of one long one). A first version called a helper function per entry
  ;; (v & ~(v >> 7), five operations), which V8 11.3 does not inline: 2.0 ns per PTE over a
  ;; clean 16 MiB segment, against 0.45 now and 0.26 for `skip` (docs/bench/pteWalk.md §9).
  (func (export "skipSmmu") (param $p i32) (param $e i32) (result i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $e)))
        (local.set $a (i32.add (i32.xor (i32.and (i32.load offset=0 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f)))
        (local.set $b (i32.add (i32.xor (i32.and (i32.load offset=8 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f)))
        (local.set $c (i32.add (i32.xor (i32.and (i32.load offset=16 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f)))
        (local.set $d (i32.add (i32.xor (i32.and (i32.load offset=24 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f)))
        (local.set $a (i32.or (local.get $a) (i32.add (i32.xor (i32.and (i32.load offset=32 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $b (i32.or (local.get $b) (i32.add (i32.xor (i32.and (i32.load offset=40 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $c (i32.or (local.get $c) (i32.add (i32.xor (i32.and (i32.load offset=48 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $d (i32.or (local.get $d) (i32.add (i32.xor (i32.and (i32.load offset=56 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $a (i32.or (local.get $a) (i32.add (i32.xor (i32.and (i32.load offset=64 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $b (i32.or (local.get $b) (i32.add (i32.xor (i32.and (i32.load offset=72 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $c (i32.or (local.get $c) (i32.add (i32.xor (i32.and (i32.load offset=80 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $d (i32.or (local.get $d) (i32.add (i32.xor (i32.and (i32.load offset=88 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $a (i32.or (local.get $a) (i32.add (i32.xor (i32.and (i32.load offset=96 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $b (i32.or (local.get $b) (i32.add (i32.xor (i32.and (i32.load offset=104 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $c (i32.or (local.get $c) (i32.add (i32.xor (i32.and (i32.load offset=112 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $d (i32.or (local.get $d) (i32.add (i32.xor (i32.and (i32.load offset=120 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $a (i32.or (local.get $a) (i32.add (i32.xor (i32.and (i32.load offset=128 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $b (i32.or (local.get $b) (i32.add (i32.xor (i32.and (i32.load offset=136 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $c (i32.or (local.get $c) (i32.add (i32.xor (i32.and (i32.load offset=144 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $d (i32.or (local.get $d) (i32.add (i32.xor (i32.and (i32.load offset=152 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $a (i32.or (local.get $a) (i32.add (i32.xor (i32.and (i32.load offset=160 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $b (i32.or (local.get $b) (i32.add (i32.xor (i32.and (i32.load offset=168 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $c (i32.or (local.get $c) (i32.add (i32.xor (i32.and (i32.load offset=176 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $d (i32.or (local.get $d) (i32.add (i32.xor (i32.and (i32.load offset=184 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $a (i32.or (local.get $a) (i32.add (i32.xor (i32.and (i32.load offset=192 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $b (i32.or (local.get $b) (i32.add (i32.xor (i32.and (i32.load offset=200 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $c (i32.or (local.get $c) (i32.add (i32.xor (i32.and (i32.load offset=208 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $d (i32.or (local.get $d) (i32.add (i32.xor (i32.and (i32.load offset=216 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $a (i32.or (local.get $a) (i32.add (i32.xor (i32.and (i32.load offset=224 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $b (i32.or (local.get $b) (i32.add (i32.xor (i32.and (i32.load offset=232 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $c (i32.or (local.get $c) (i32.add (i32.xor (i32.and (i32.load offset=240 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (local.set $d (i32.or (local.get $d) (i32.add (i32.xor (i32.and (i32.load offset=248 (local.get $p)) (i32.const 0x81)) (i32.const 0x80)) (i32.const 0x7f))))
        (br_if $done
          (i32.and (i32.or (i32.or (local.get $a) (local.get $b)) (i32.or (local.get $c) (local.get $d))) (i32.const 0x100)))
        (local.set $p (i32.add (local.get $p) (i32.const 256)))
        (br $next)))
    (local.get $p))

  ;; scanTable(p, e, dbit, out, st, fm, lm) -> (pairs << 2) | state: the mask pass of the walk over
  ;; one leaf table's blocks [p, e) (byte offsets, block-aligned), for formats whose dirty state is
  ;; bit `dbit` of the low word and that have no replicas (./leafScanKernels.ts scanBitTable). For
  ;; each block it builds the 32-bit mask of the dirty entries (bit j = entry j), ANDs `fm` into the
  ;; first block's and `lm` into the last block's (the range's edges), and writes each non-zero
  ;; mask as a pair (the block's byte offset, the mask) at `out` and up: the caller's scratch slot
  ;; (./TableMemory.ts). It only reads the table: the caller records the pairs, then clears them
  ;; with clearPairs, so every entry of the table is recorded before any is cleared.
  ;; `st` is the block state of ./leafScanKernels.ts, carried across tables: 0 (SCAN: OR the block's
  ;; low words first, and go on at once when the dirty bit is in none), 1 (DENSE: the mask at once),
  ;; 2 (FULL: AND the low words first; all dirty makes the mask all ones without building it). The
  ;; next block's state follows from this one's mask as there; the last one is returned.
  ;; 128-bit SIMD: a v128 load holds two entries (lanes 0 and 2 their low words, 1 and 3 their high
  ;; words). The OR test (SCAN) and the AND test (FULL) are trees of the block's 16 loads; the
  ;; OR is ANDed with $dv (the dirty bit in the low-word lanes only), the AND's two low-word lanes
  ;; are tested. The mask, per 4 entries: a shuffle takes the four low words out of two loads,
  ;; a shift by 31 - dbit moves each dirty bit to its lane's sign, and i32x4.bitmask gathers the
  ;; four signs; eight such nibbles make the mask. About 50 operations per block against 130 for
  ;; the scalar mask (an AND, a constant shift and an OR per entry, the form before): at 1 % dirty
  ;; the walk + clear went from 0.80 to 0.69 ns per PTE, at 50 % from 1.56 to 1.33
  ;; (docs/bench/pteWalk.md §11). A shift by a variable per entry (a first scalar version) had
  ;; made the pass 10-15 % slower at 50 % dirty.
  ;; Every load and store is at a constant offset from $p: no bounds check per entry.
  (func (export "scanTable") (param $p i32) (param $e i32) (param $dbit i32) (param $out i32) (param $st i32) (param $fm i32) (param $lm i32) (result i32)
    (local $d i32) (local $m i32) (local $n i32) (local $first i32) (local $sh i32) (local $dv v128) (local $t v128)
    (local.set $d (i32.shl (i32.const 1) (local.get $dbit)))
    (local.set $sh (i32.sub (i32.const 31) (local.get $dbit)))
    ;; the dirty bit in the low-word lanes (0 and 2) of two entries, nothing in the high words
    (local.set $dv (i32x4.replace_lane 2 (i32x4.replace_lane 0 (v128.const i32x4 0 0 0 0) (local.get $d)) (local.get $d)))
    (local.set $n (local.get $out))
    (local.set $first (local.get $p))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $e)))
        (block $blk
          (if (i32.eqz (local.get $st))
            (then
              (br_if $blk (i32.eqz (v128.any_true (v128.and (local.get $dv)
            (v128.or (v128.or (v128.or (v128.or (v128.load offset=0 (local.get $p)) (v128.load offset=16 (local.get $p))) (v128.or (v128.load offset=32 (local.get $p)) (v128.load offset=48 (local.get $p)))) (v128.or (v128.or (v128.load offset=64 (local.get $p)) (v128.load offset=80 (local.get $p))) (v128.or (v128.load offset=96 (local.get $p)) (v128.load offset=112 (local.get $p))))) (v128.or (v128.or (v128.or (v128.load offset=128 (local.get $p)) (v128.load offset=144 (local.get $p))) (v128.or (v128.load offset=160 (local.get $p)) (v128.load offset=176 (local.get $p)))) (v128.or (v128.or (v128.load offset=192 (local.get $p)) (v128.load offset=208 (local.get $p))) (v128.or (v128.load offset=224 (local.get $p)) (v128.load offset=240 (local.get $p))))))))))))
          (local.set $m (i32.const 0))
          (if (i32.eq (local.get $st) (i32.const 2))
            (then
              (local.set $t (v128.and (v128.and (v128.and (v128.and (v128.load offset=0 (local.get $p)) (v128.load offset=16 (local.get $p))) (v128.and (v128.load offset=32 (local.get $p)) (v128.load offset=48 (local.get $p)))) (v128.and (v128.and (v128.load offset=64 (local.get $p)) (v128.load offset=80 (local.get $p))) (v128.and (v128.load offset=96 (local.get $p)) (v128.load offset=112 (local.get $p))))) (v128.and (v128.and (v128.and (v128.load offset=128 (local.get $p)) (v128.load offset=144 (local.get $p))) (v128.and (v128.load offset=160 (local.get $p)) (v128.load offset=176 (local.get $p)))) (v128.and (v128.and (v128.load offset=192 (local.get $p)) (v128.load offset=208 (local.get $p))) (v128.and (v128.load offset=224 (local.get $p)) (v128.load offset=240 (local.get $p)))))))
              (if (i32.and (local.get $d) (i32.and (i32x4.extract_lane 0 (local.get $t)) (i32x4.extract_lane 2 (local.get $t))))
                (then (local.set $m (i32.const -1))))))
          (if (i32.ne (local.get $m) (i32.const -1))
            (then
              (local.set $m
            (i32.or (i32.or (i32.or (i32x4.bitmask (i32x4.shl (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load offset=0 (local.get $p)) (v128.load offset=16 (local.get $p))) (local.get $sh))) (i32.shl (i32x4.bitmask (i32x4.shl (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load offset=32 (local.get $p)) (v128.load offset=48 (local.get $p))) (local.get $sh))) (i32.const 4))) (i32.or (i32.shl (i32x4.bitmask (i32x4.shl (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load offset=64 (local.get $p)) (v128.load offset=80 (local.get $p))) (local.get $sh))) (i32.const 8)) (i32.shl (i32x4.bitmask (i32x4.shl (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load offset=96 (local.get $p)) (v128.load offset=112 (local.get $p))) (local.get $sh))) (i32.const 12)))) (i32.or (i32.or (i32.shl (i32x4.bitmask (i32x4.shl (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load offset=128 (local.get $p)) (v128.load offset=144 (local.get $p))) (local.get $sh))) (i32.const 16)) (i32.shl (i32x4.bitmask (i32x4.shl (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load offset=160 (local.get $p)) (v128.load offset=176 (local.get $p))) (local.get $sh))) (i32.const 20))) (i32.or (i32.shl (i32x4.bitmask (i32x4.shl (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load offset=192 (local.get $p)) (v128.load offset=208 (local.get $p))) (local.get $sh))) (i32.const 24)) (i32.shl (i32x4.bitmask (i32x4.shl (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (v128.load offset=224 (local.get $p)) (v128.load offset=240 (local.get $p))) (local.get $sh))) (i32.const 28))))))))
          (if (i32.eq (local.get $p) (local.get $first)) (then (local.set $m (i32.and (local.get $m) (local.get $fm)))))
          (if (i32.eq (i32.add (local.get $p) (i32.const 256)) (local.get $e)) (then (local.set $m (i32.and (local.get $m) (local.get $lm)))))
          ;; at most one dirty entry: SCAN; all 32: FULL; otherwise DENSE
          (local.set $st
            (select (i32.const 0)
              (select (i32.const 2) (i32.const 1) (i32.eq (local.get $m) (i32.const -1)))
              (i32.lt_u (i32.popcnt (local.get $m)) (i32.const 2))))
          (br_if $blk (i32.eqz (local.get $m)))
          (i32.store (local.get $n) (local.get $p))
          (i32.store offset=4 (local.get $n) (local.get $m))
          (local.set $n (i32.add (local.get $n) (i32.const 8))))
        (local.set $p (i32.add (local.get $p) (i32.const 256)))
        (br $next)))
    (i32.or (i32.shl (i32.shr_u (i32.sub (local.get $n) (local.get $out)) (i32.const 3)) (i32.const 2)) (local.get $st)))

  ;; clearPairs(out, n, dbit): clears bit `dbit` of the low word of every entry the n pairs at `out`
  ;; name (scanTable's), with a plain load and store per dirty entry (why that is safe:
  ;; ./leafScanKernels.ts): a whole block (mask all ones) written out; a mask of one bit (most
  ;; blocks at low density) without a loop, whose exit the CPU mispredicts (a probe at 1 % dirty:
  ;; the clear from 0.054 to 0.042 ns per PTE, 50-100 % the same); otherwise one entry per set bit
  ;; of the mask, lowest first (count trailing zeros, then clear the bit).
  (func (export "clearPairs") (param $q i32) (param $n i32) (param $dbit i32)
    (local $p i32) (local $m i32) (local $m64 i64) (local $a i32) (local $nd i32) (local $end i32)
    (local.set $nd (i32.xor (i32.shl (i32.const 1) (local.get $dbit)) (i32.const -1)))
    (local.set $end (i32.add (local.get $q) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $q) (local.get $end)))
        (local.set $p (i32.load (local.get $q)))
        (local.set $m (i32.load offset=4 (local.get $q)))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (if (i32.eq (local.get $m) (i32.const -1))
          (then
              (i32.store offset=0 (local.get $p) (i32.and (i32.load offset=0 (local.get $p)) (local.get $nd)))
              (i32.store offset=8 (local.get $p) (i32.and (i32.load offset=8 (local.get $p)) (local.get $nd)))
              (i32.store offset=16 (local.get $p) (i32.and (i32.load offset=16 (local.get $p)) (local.get $nd)))
              (i32.store offset=24 (local.get $p) (i32.and (i32.load offset=24 (local.get $p)) (local.get $nd)))
              (i32.store offset=32 (local.get $p) (i32.and (i32.load offset=32 (local.get $p)) (local.get $nd)))
              (i32.store offset=40 (local.get $p) (i32.and (i32.load offset=40 (local.get $p)) (local.get $nd)))
              (i32.store offset=48 (local.get $p) (i32.and (i32.load offset=48 (local.get $p)) (local.get $nd)))
              (i32.store offset=56 (local.get $p) (i32.and (i32.load offset=56 (local.get $p)) (local.get $nd)))
              (i32.store offset=64 (local.get $p) (i32.and (i32.load offset=64 (local.get $p)) (local.get $nd)))
              (i32.store offset=72 (local.get $p) (i32.and (i32.load offset=72 (local.get $p)) (local.get $nd)))
              (i32.store offset=80 (local.get $p) (i32.and (i32.load offset=80 (local.get $p)) (local.get $nd)))
              (i32.store offset=88 (local.get $p) (i32.and (i32.load offset=88 (local.get $p)) (local.get $nd)))
              (i32.store offset=96 (local.get $p) (i32.and (i32.load offset=96 (local.get $p)) (local.get $nd)))
              (i32.store offset=104 (local.get $p) (i32.and (i32.load offset=104 (local.get $p)) (local.get $nd)))
              (i32.store offset=112 (local.get $p) (i32.and (i32.load offset=112 (local.get $p)) (local.get $nd)))
              (i32.store offset=120 (local.get $p) (i32.and (i32.load offset=120 (local.get $p)) (local.get $nd)))
              (i32.store offset=128 (local.get $p) (i32.and (i32.load offset=128 (local.get $p)) (local.get $nd)))
              (i32.store offset=136 (local.get $p) (i32.and (i32.load offset=136 (local.get $p)) (local.get $nd)))
              (i32.store offset=144 (local.get $p) (i32.and (i32.load offset=144 (local.get $p)) (local.get $nd)))
              (i32.store offset=152 (local.get $p) (i32.and (i32.load offset=152 (local.get $p)) (local.get $nd)))
              (i32.store offset=160 (local.get $p) (i32.and (i32.load offset=160 (local.get $p)) (local.get $nd)))
              (i32.store offset=168 (local.get $p) (i32.and (i32.load offset=168 (local.get $p)) (local.get $nd)))
              (i32.store offset=176 (local.get $p) (i32.and (i32.load offset=176 (local.get $p)) (local.get $nd)))
              (i32.store offset=184 (local.get $p) (i32.and (i32.load offset=184 (local.get $p)) (local.get $nd)))
              (i32.store offset=192 (local.get $p) (i32.and (i32.load offset=192 (local.get $p)) (local.get $nd)))
              (i32.store offset=200 (local.get $p) (i32.and (i32.load offset=200 (local.get $p)) (local.get $nd)))
              (i32.store offset=208 (local.get $p) (i32.and (i32.load offset=208 (local.get $p)) (local.get $nd)))
              (i32.store offset=216 (local.get $p) (i32.and (i32.load offset=216 (local.get $p)) (local.get $nd)))
              (i32.store offset=224 (local.get $p) (i32.and (i32.load offset=224 (local.get $p)) (local.get $nd)))
              (i32.store offset=232 (local.get $p) (i32.and (i32.load offset=232 (local.get $p)) (local.get $nd)))
              (i32.store offset=240 (local.get $p) (i32.and (i32.load offset=240 (local.get $p)) (local.get $nd)))
              (i32.store offset=248 (local.get $p) (i32.and (i32.load offset=248 (local.get $p)) (local.get $nd)))
            (br $next)))
        ;; A partial block takes the next pair along when that is the next block, also partial: one
        ;; loop over a 64-bit mask of 64 entries, so one mispredicted loop exit per 64 entries
        ;; instead of per 32 (as the C reference's 64-entry blocks).
        ;; one dirty entry (most blocks at low density): clear it, no loop
        (if (i32.eqz (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
          (then
            (local.set $a (i32.add (local.get $p) (i32.shl (i32.ctz (local.get $m)) (i32.const 3))))
            (i32.store (local.get $a) (i32.and (i32.load (local.get $a)) (local.get $nd)))
            (br $next)))
        (local.set $m64 (i64.extend_i32_u (local.get $m)))
        (if (i32.lt_u (local.get $q) (local.get $end))
          (then
            (if (i32.and
                  (i32.eq (i32.load (local.get $q)) (i32.add (local.get $p) (i32.const 256)))
                  (i32.ne (i32.load offset=4 (local.get $q)) (i32.const -1)))
              (then
                (local.set $m64 (i64.or (local.get $m64) (i64.shl (i64.extend_i32_u (i32.load offset=4 (local.get $q))) (i64.const 32))))
                (local.set $q (i32.add (local.get $q) (i32.const 8)))))))
        (block $cd
          (loop $cl
            (br_if $cd (i64.eqz (local.get $m64)))
            (local.set $a (i32.add (local.get $p) (i32.shl (i32.wrap_i64 (i64.ctz (local.get $m64))) (i32.const 3))))
            (i32.store (local.get $a) (i32.and (i32.load (local.get $a)) (local.get $nd)))
            (local.set $m64 (i64.and (local.get $m64) (i64.sub (local.get $m64) (i64.const 1))))
            (br $cl)))
        (br $next)))))
