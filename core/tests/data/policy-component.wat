;; A component of the world secretkms:policy/policy@0.1.0 around a tiny core module, for runtime
;; tests. The test harness replaces the IMPORTS marker with extra component imports and the CORE
;; marker with the fields of a fixture module (allow.wat, loop.wat, ...), which imports its
;; memory from `rt` and exports `validate`.
;;
;; `rt` gives the canonical ABI what it needs: a memory, a bump `cabi_realloc`, an Ok answer for
;; `validate-settings` at offset 8, and an allowing verdict at offset 16 (allowed=1, code=0, empty
;; message, warnings and annotations).
(component
  (;IMPORTS;)
  (type $key-state' (enum "enabled" "disabled" "pending-deletion" "pending-import" "unknown"))
  (export $key-state "key-state" (type $key-state'))
  (type $declared' (record (field "provider" string) (field "key" string) (field "region" (option string))
    (field "required-key-spec" string) (field "enforce" bool) (field "exempt-namespaces" (list string))
    (field "max-state-age-seconds" u64)))
  (export $declared "declared" (type $declared'))
  (type $key-facts' (record (field "key-id" string) (field "arn" (option string)) (field "region" (option string))
    (field "state" $key-state) (field "state-name" string) (field "spec" string) (field "usage" string)
    (field "primary-key-version" (option string)) (field "delete-date" (option string))
    (field "deletion-protection" (option bool)) (field "automatic-rotation" (option bool))
    (field "rotation-interval" (option string)) (field "last-rotation-date" (option string))
    (field "next-rotation-date" (option string))))
  (export $key-facts "key-facts" (type $key-facts'))
  (type $apiserver-facts' (record (field "kms-configured" bool) (field "kms-healthy" bool) (field "detail" string)))
  (export $apiserver-facts "apiserver-facts" (type $apiserver-facts'))
  (type $plugin-facts' (record (field "healthz" string) (field "key-id" string) (field "version" string)))
  (export $plugin-facts "plugin-facts" (type $plugin-facts'))
  (type $rewrite-facts' (record (field "target" string) (field "total" u64) (field "done" u64)))
  (export $rewrite-facts "rewrite-facts" (type $rewrite-facts'))
  (type $source-status' (record (field "name" string) (field "age-seconds" (option u64)) (field "last-error" (option string))))
  (export $source-status "source-status" (type $source-status'))
  (type $encryption-state' (record (field "declared" (option $declared)) (field "key" (option $key-facts))
    (field "apiserver" (option $apiserver-facts)) (field "plugin" (option $plugin-facts))
    (field "rewrite" (option $rewrite-facts)) (field "sources" (list $source-status)) (field "now" s64)))
  (export $encryption-state "encryption-state" (type $encryption-state'))
  (type $verdict' (record (field "allowed" bool) (field "code" u16) (field "message" string)
    (field "warnings" (list string)) (field "audit-annotations" (list (tuple string string)))))
  (export $verdict "verdict" (type $verdict'))

  (core module $rt
    (memory (export "memory") 2)
    (global $heap (mut i32) (i32.const 1024))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $p) (local.get 3)))
      (if (i32.gt_u (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
        (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (global.get $heap) (i32.const 16)) (i32.const 1)))
                          (i32.const -1))
                (then unreachable))))
      (local.get $p))
    (func (export "validate-settings") (param i32 i32) (result i32) (i32.const 8))
    (data (i32.const 16) "\01"))
  (core instance $rt (instantiate $rt))
  (core module $policy (;CORE;))
  (core instance $policy (instantiate $policy (with "rt" (instance $rt))))

  (func (export "validate")
    (param "request" string) (param "state" $encryption-state) (param "settings" string) (result $verdict)
    (canon lift (core func $policy "validate") (memory (core memory $rt "memory")) (realloc (core func $rt "cabi_realloc"))))
  (func (export "validate-settings") (param "settings" string) (result (result (error string)))
    (canon lift (core func $rt "validate-settings") (memory (core memory $rt "memory")) (realloc (core func $rt "cabi_realloc"))))
)
