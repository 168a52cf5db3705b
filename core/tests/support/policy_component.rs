//! Test policies from tiny core modules: wraps the text of a `.wat` module (core/tests/data/*.wat,
//! which import their memory from `rt` and export `validate`, and may export their own
//! `validate-settings`) in the world component of
//! core/tests/data/policy-component.wat. Shared by the core runtime tests and the webhook's edge
//! tests (`#[path]`), so both build misbehaving policies the same way.

/// The component bytes; `extra_imports` are component imports put before the world's types.
pub fn policy_component(core_wat: &str, extra_imports: &str) -> Vec<u8> {
    let fields = core_wat
        .trim()
        .lines()
        .filter(|l| !l.trim_start().starts_with(";;"))
        .collect::<Vec<_>>()
        .join("\n");
    let fields = fields
        .trim()
        .strip_prefix("(module")
        .and_then(|f| f.strip_suffix(')'))
        .expect("a (module ...)");
    let settings_from = if fields.contains(r#"(export "validate-settings")"#) {
        "$policy"
    } else {
        "$rt"
    };
    let text = include_str!("../data/policy-component.wat")
        .replace("(;IMPORTS;)", extra_imports)
        .replace("(;SETTINGS-FROM;)", settings_from)
        .replace("(;CORE;)", fields);
    wat::parse_str(&text).unwrap_or_else(|e| panic!("{e}\n{core_wat}"))
}
