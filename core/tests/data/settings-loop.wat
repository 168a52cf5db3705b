;; Allows every review, but its validate-settings never returns: only the load's deadline can
;; stop it.
(module
  (import "rt" "memory" (memory 1))
  (func (export "validate") (param i32) (result i32)
    (i32.const 16))
  (func (export "validate-settings") (param i32 i32) (result i32)
    (loop $spin (br $spin))
    (unreachable)))
