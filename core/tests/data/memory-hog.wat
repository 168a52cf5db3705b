;; Grows its memory by 1 MiB at a time, forever: only the memory limit can stop it.
(module
  (import "rt" "memory" (memory 1))
  (func (export "validate") (param i32) (result i32)
    (loop $grow (drop (memory.grow (i32.const 16))) (br $grow))
    (unreachable)))
