;; Traps at once, like a guest that panicked.
(module
  (import "rt" "memory" (memory 1))
  (func (export "validate") (param i32) (result i32) (unreachable)))
