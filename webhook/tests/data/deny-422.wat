;; Denies with code 422 and a message, like a policy refusing an invalid object. The verdict is
;; written at offset 64: allowed=0, code=422 (offset 66), message pointer and length (68, 72)
;; to the text at offset 512; no warnings, no annotations.
(module
  (import "rt" "memory" (memory 1))
  (data (i32.const 512) "spec.key is not a key id")
  (func (export "validate") (param i32) (result i32)
    (i32.store16 (i32.const 66) (i32.const 422))
    (i32.store (i32.const 68) (i32.const 512))
    (i32.store (i32.const 72) (i32.const 24))
    (i32.const 64)))
