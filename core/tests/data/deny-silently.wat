;; Denies without a message, which no user could act on: a bad verdict. The verdict is written at
;; offset 64: allowed=0, code=403, everything else empty.
(module
  (import "rt" "memory" (memory 1))
  (func (export "validate") (param i32) (result i32)
    (i32.store16 (i32.const 66) (i32.const 403))
    (i32.const 64)))
