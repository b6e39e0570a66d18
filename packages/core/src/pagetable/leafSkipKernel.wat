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
  ;; valid (bit 0) with AP[2] (bit 7) clear, i.e. dirty; e when there is none. Bit 0 of
  ;; v & ~(v >> 7) is an entry's dirty state; the 32 entries of a block go 4 per turn of a loop.
  (func (export "skipSmmu") (param $p i32) (param $e i32) (result i32)
    (local $q i32) (local $any i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $e)))
        (local.set $q (local.get $p))
        (local.set $any (i32.const 0))
        (loop $entries
          (local.set $any
            (i32.or (local.get $any)
              (i32.or
                (i32.or (call $dirtySmmu (i32.load offset=0 (local.get $q))) (call $dirtySmmu (i32.load offset=8 (local.get $q))))
                (i32.or (call $dirtySmmu (i32.load offset=16 (local.get $q))) (call $dirtySmmu (i32.load offset=24 (local.get $q)))))))
          (local.set $q (i32.add (local.get $q) (i32.const 32)))
          (br_if $entries (i32.lt_u (local.get $q) (i32.add (local.get $p) (i32.const 256)))))
        (br_if $done (i32.and (local.get $any) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 256)))
        (br $next)))
    (local.get $p))

  ;; v & ~(v >> 7): bit 0 set when the smmu-v3 entry v is valid and writable-dirty (AP[2] clear).
  (func $dirtySmmu (param $v i32) (result i32)
    (i32.and (local.get $v) (i32.xor (i32.shr_u (local.get $v) (i32.const 7)) (i32.const -1)))))
