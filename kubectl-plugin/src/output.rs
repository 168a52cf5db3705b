//! How results are printed: `-o table|json|yaml`, aligned kubectl-style tables, and colour only
//! where it helps (a terminal, `NO_COLOR` unset, never inside JSON or YAML).

use std::io::IsTerminal as _;

use clap::{Args, ValueEnum};
use serde::Serialize;

/// `-o` and `--color`.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Colour the table output: `auto` means only on a terminal and only if NO_COLOR is unset.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable table.
    #[default]
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl OutputArgs {
    /// Whether tables on stdout get ANSI colour.
    pub fn style(&self) -> Style {
        let on = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Style {
            color: on && self.output == Format::Table,
        }
    }

    /// Prints `value` as JSON or YAML; false for table output (the caller renders its table).
    pub fn print_structured<T: Serialize>(&self, value: &T) -> anyhow::Result<bool> {
        match self.output {
            Format::Table => Ok(false),
            Format::Json => {
                println!("{}", serde_json::to_string_pretty(value)?);
                Ok(true)
            }
            Format::Yaml => {
                print!("{}", serde_yaml::to_string(value)?);
                Ok(true)
            }
        }
    }
}

/// A check's or a finding's severity: the judge's own, so the plugin prints what it derives.
pub use secretkms_core::judgement::Level;

/// ANSI colouring, or none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// The level's label, padded to `width` before colouring so columns stay aligned.
    pub fn level(&self, level: Level, width: usize) -> String {
        let text = format!("{:<width$}", level.label());
        if !self.color {
            return text;
        }
        let code = match level {
            Level::Pass => "32",
            Level::Info => "36",
            Level::Warn => "33",
            Level::Fail => "31;1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    pub fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// A kubectl-style table: upper-case headers, columns separated by three spaces, the last column
/// unpadded.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_uppercase()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders the table; `decorate(column, row_index, padded)` may colour a cell after padding.
    pub fn render_with(&self, decorate: impl Fn(usize, usize, String) -> String) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], row: Option<usize>, out: &mut String| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate().take(cols) {
                let last = i + 1 == cols;
                let padded = if last {
                    cell.clone()
                } else {
                    format!("{cell:<w$}   ", w = widths[i])
                };
                text.push_str(&match row {
                    Some(r) => decorate(i, r, padded),
                    None => padded,
                });
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.headers, None, &mut out);
        for (r, row) in self.rows.iter().enumerate() {
            line(row, Some(r), &mut out);
        }
        out
    }

    pub fn render(&self) -> String {
        self.render_with(|_, _, cell| cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_like_kubectl() {
        let mut t = Table::new(&["name", "state"]);
        t.row(vec!["a-long-name".into(), "Enabled".into()]);
        t.row(vec!["b".into(), "Disabled".into()]);
        assert_eq!(
            t.render(),
            "NAME          STATE\na-long-name   Enabled\nb             Disabled\n"
        );
    }

    #[test]
    fn no_colour_unless_asked_or_on_a_terminal() {
        let args = OutputArgs {
            output: Format::Table,
            color: ColorChoice::Never,
        };
        assert_eq!(args.style().level(Level::Fail, 4), "FAIL");
        let always = OutputArgs {
            output: Format::Table,
            color: ColorChoice::Always,
        };
        assert_eq!(
            always.style().level(Level::Fail, 4),
            "\x1b[31;1mFAIL\x1b[0m"
        );
        let json = OutputArgs {
            output: Format::Json,
            color: ColorChoice::Always,
        };
        assert!(!json.style().color, "JSON is never coloured");
    }
}
