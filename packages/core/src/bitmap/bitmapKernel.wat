;; bitmapKernel.wat: the kernels over a bitmap in WebAssembly memory: the atomic OR of the
;; page-table walk's masks, and the population count of a range of its words.
;;
;; Theory of operation: see ./bitmapKernel.ts (the loader) and its callers, ../pagetable/DirtyLeafSink.ts
;; (or4) and ./bitKernels.ts countRun (count). A bitmap of at least 64 KiB over fresh memory lives in
;; a shared WebAssembly memory, imported as `mem` (./IovaBitmap.ts, "Memory"); its words are the
;; i32s at their byte addresses.
;;
;; or4(a0, m0, a1, m1, a2, m2, a3, m3) -> the population count of m0..m3: ORs mask mk into the word
;; at byte address ak with i32.atomic.rmw.or (one locked instruction); a zero mask is skipped (the
;; caller passes fewer than four pairs as zero masks), and all ones is a plain store (the rule of
;; the words wholly inside a run, ./bitKernels.ts: every writer of that word writes all ones; a
;; locked OR of every word of a dense walk made it 20 % slower than plain stores). Every address is a
;; word of the bitmap, 4-byte aligned (an unaligned atomic traps; an address outside the memory
;; traps too: a RangeError in the caller, never another memory's word). The pairs come as
;; arguments, not through memory: the bitmap's memory has no room that threads could share
;; without claiming it, and four pairs per call cost one call where V8 11.3 runs each JavaScript
;; Atomics.or as a call of its own (docs/bench/pteWalk.md §11).
;;
;; count(a, e) -> the set bits of bytes [a, e) as an f64 (exact: at most 2^35 bits): a and e are
;; multiples of 4 with a <= e < 2^32 (the caller keeps e below the memory's 4 GiB end, so that
;; a + 32 cannot wrap). One i32 to reach 8-byte alignment, then four i64.popcnt per 32 bytes
;; (POPCNT on x86-64, CNT on arm64), then the words left. Plain loads: a count of memory that
;; other threads write sees each word before or after a write, as the JavaScript count does.
(module
  (import "env" "mem" (memory 1 65536 shared))
  (func $or (param $a i32) (param $m i32)
    (if (i32.eq (local.get $m) (i32.const -1))
      (then (i32.store (local.get $a) (i32.const -1)))
      (else (if (local.get $m) (then (drop (i32.atomic.rmw.or (local.get $a) (local.get $m))))))))
  (func (export "or4") (param $a0 i32) (param $m0 i32) (param $a1 i32) (param $m1 i32) (param $a2 i32) (param $m2 i32) (param $a3 i32) (param $m3 i32) (result i32)
    (call $or (local.get $a0) (local.get $m0))
    (call $or (local.get $a1) (local.get $m1))
    (call $or (local.get $a2) (local.get $m2))
    (call $or (local.get $a3) (local.get $m3))
    (i32.add
      (i32.add (i32.popcnt (local.get $m0)) (i32.popcnt (local.get $m1)))
      (i32.add (i32.popcnt (local.get $m2)) (i32.popcnt (local.get $m3)))))
  (func (export "count") (param $a i32) (param $e i32) (result f64)
    (local $n i64)
    (if (i32.and (i32.and (local.get $a) (i32.const 4)) (i32.lt_u (local.get $a) (local.get $e)))
      (then
        (local.set $n (i64.extend_i32_u (i32.popcnt (i32.load (local.get $a)))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))))
    (block $done
      (loop $l
        (br_if $done (i32.gt_u (i32.add (local.get $a) (i32.const 32)) (local.get $e)))
        (local.set $n (i64.add (local.get $n)
          (i64.add
            (i64.add (i64.popcnt (i64.load (local.get $a))) (i64.popcnt (i64.load offset=8 (local.get $a))))
            (i64.add (i64.popcnt (i64.load offset=16 (local.get $a))) (i64.popcnt (i64.load offset=24 (local.get $a)))))))
        (local.set $a (i32.add (local.get $a) (i32.const 32)))
        (br $l)))
    (block $tail
      (loop $t
        (br_if $tail (i32.ge_u (local.get $a) (local.get $e)))
        (local.set $n (i64.add (local.get $n) (i64.extend_i32_u (i32.popcnt (i32.load (local.get $a))))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (br $t)))
    (f64.convert_i64_u (local.get $n))))
