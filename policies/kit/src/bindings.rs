//! The generated bindings of the `policy` world in `policies/wit/policy.wit`. Generated here, once,
//! so that every policy crate shares the same types and only invokes the export macro.

// The generated glue lifts and lowers values through raw pointers; that is the one place the kit
// needs unsafe code, and it is machine-written.
#![allow(missing_debug_implementations, clippy::all)]

wit_bindgen::generate!({
    world: "policy",
    path: "../wit",
    additional_derives: [PartialEq],
    pub_export_macro: true,
    export_macro_name: "__export_policy_world",
    default_bindings_module: "secretkms_policy_kit::bindings",
    runtime_path: "secretkms_policy_kit::__wit_bindgen::rt",
});
