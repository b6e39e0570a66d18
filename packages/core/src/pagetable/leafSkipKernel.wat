;; leafSkipKernel.wat: the clean-block skip of the 4 KiB-leaf walk, in WebAssembly.
;;
;; Theory of operation: see ./leafSkipKernel.ts (the loader) and ./leafScanKernels.ts (its caller).
;; One table segment is one shared WebAssembly memory (./TableMemory.ts), imported as `mem`. A
;; leaf table is 512 entries of 8 bytes; a *block* is 32 entries = 256 bytes, and the low word of
;; entry j of the block at byte p is the i32 at p + 8j (little-endian, as the JavaScript views).
;;
;; Two exports, one per dirty test of ./leafScanKernels.ts:
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
    (local.get $p)))
