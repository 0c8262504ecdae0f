//! Results of a reproduction: tables (ours beside the paper's), claims, and the
//! `results.json` / `results.md` files that `cargo xtask reproduce` writes.
//!
//! `results.json` has one schema for every paper:
//!
//! ```json
//! {"paper": "…", "scale": "smoke|quick|paper", "seed": 0, "commit": "…", "seconds": 1.5,
//!  "proxy": true, "data": "what data was used",
//!  "tables": [{"name": "…", "columns": ["…"], "rows": [{"label": "…", "values": [0.5, "text", null,
//!              {"mean": 1.0, "std": 0.1}]}], "paper": [{"label": "…", "values": […]}], "note": "…"}],
//!  "claims": [{"id": "…", "statement": "…", "holds": true, "evidence": "…"}],
//!  "plots": ["roc.png"]}
//! ```
//!
//! [`validate_results_json`] checks a parsed file against it.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// One cell of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// A number (NaN and infinities are written as `null`).
    Num(f64),
    /// Mean and standard deviation over runs.
    MeanStd { mean: f64, std: f64 },
    /// Free text.
    Text(String),
    /// No value (not run, not reported).
    Null,
}

impl Cell {
    /// Render for Markdown with `digits` decimals.
    pub fn render(&self, digits: usize) -> String {
        match self {
            Cell::Num(v) if v.is_finite() => format!("{v:.digits$}"),
            Cell::Num(v) => format!("{v}"),
            Cell::MeanStd { mean, std } => format!("{mean:.digits$} ± {std:.digits$}"),
            Cell::Text(s) => s.replace('|', "\\|"),
            Cell::Null => "—".to_string(),
        }
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Num(v)
    }
}
impl From<f32> for Cell {
    fn from(v: f32) -> Self {
        Cell::Num(v as f64)
    }
}
impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Num(v as f64)
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_string())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}
impl From<crate::metrics::Summary> for Cell {
    fn from(s: crate::metrics::Summary) -> Self {
        Cell::MeanStd {
            mean: s.mean,
            std: s.std,
        }
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Cell::Null)
    }
}

/// A labelled row of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub label: String,
    pub values: Vec<Cell>,
}

impl Row {
    pub fn new(label: impl Into<String>, values: Vec<Cell>) -> Self {
        Self {
            label: label.into(),
            values,
        }
    }
}

/// A results table. `paper` holds the paper's values for the rows it reports, matched
/// by row label; the Markdown puts each of the paper's columns beside ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<Vec<Row>>,
    pub note: String,
}

impl Table {
    pub fn new(name: impl Into<String>, columns: &[&str]) -> Self {
        Self {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
            paper: None,
            note: String::new(),
        }
    }

    /// Append a row of our values.
    pub fn row(&mut self, label: impl Into<String>, values: Vec<Cell>) -> &mut Self {
        self.rows.push(Row::new(label, values));
        self
    }

    /// Append a row of the paper's values (same columns as ours, `Cell::Null` where the
    /// paper has none).
    pub fn paper_row(&mut self, label: impl Into<String>, values: Vec<Cell>) -> &mut Self {
        self.paper
            .get_or_insert_with(Vec::new)
            .push(Row::new(label, values));
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    fn check(&self) -> Result<()> {
        for r in self.rows.iter().chain(self.paper.iter().flatten()) {
            if r.values.len() != self.columns.len() {
                return Err(Error::invalid(format!(
                    "table '{}': row '{}' has {} values for {} columns",
                    self.name,
                    r.label,
                    r.values.len(),
                    self.columns.len()
                )));
            }
        }
        Ok(())
    }

    /// Markdown: a column per column of ours, followed by "(paper)" when the paper
    /// reports that column for any row.
    pub fn to_markdown(&self, digits: usize) -> String {
        let paper_cols: Vec<bool> = (0..self.columns.len())
            .map(|j| {
                self.paper
                    .iter()
                    .flatten()
                    .any(|r| !matches!(r.values.get(j), None | Some(Cell::Null)))
            })
            .collect();
        let mut header = vec![String::new()];
        for (j, c) in self.columns.iter().enumerate() {
            let c = c.replace('|', "\\|");
            if paper_cols[j] {
                header.push(c.clone());
                header.push(format!("{c} (paper)"));
            } else {
                header.push(c);
            }
        }
        let mut s = String::new();
        let _ = writeln!(s, "### {}\n", self.name);
        let _ = writeln!(s, "| {} |", header.join(" | "));
        let _ = writeln!(s, "|{}|", vec!["---"; header.len()].join("|"));
        let mut labels: Vec<&str> = self.rows.iter().map(|r| r.label.as_str()).collect();
        for r in self.paper.iter().flatten() {
            if !labels.contains(&r.label.as_str()) {
                labels.push(&r.label);
            }
        }
        for label in labels {
            let ours = self.rows.iter().find(|r| r.label == label);
            let theirs = self.paper.iter().flatten().find(|r| r.label == label);
            let mut cells = vec![label.replace('|', "\\|")];
            for (j, pc) in paper_cols.iter().enumerate() {
                cells.push(
                    ours.and_then(|r| r.values.get(j))
                        .map(|c| c.render(digits))
                        .unwrap_or_else(|| "—".into()),
                );
                if *pc {
                    cells.push(
                        theirs
                            .and_then(|r| r.values.get(j))
                            .map(|c| c.render(digits))
                            .unwrap_or_else(|| "—".into()),
                    );
                }
            }
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
        if !self.note.is_empty() {
            let _ = writeln!(s, "\n{}", self.note);
        }
        s
    }
}

/// A claim of the paper, tested by our run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub id: String,
    pub statement: String,
    pub holds: bool,
    pub evidence: String,
}

impl Claim {
    pub fn new(
        id: impl Into<String>,
        statement: impl Into<String>,
        holds: bool,
        evidence: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            statement: statement.into(),
            holds,
            evidence: evidence.into(),
        }
    }
}

/// Everything one paper's reproduction produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub paper: String,
    pub scale: String,
    pub seed: u64,
    pub commit: String,
    pub seconds: f64,
    pub proxy: bool,
    pub data: String,
    pub tables: Vec<Table>,
    pub claims: Vec<Claim>,
    /// PNG files (relative to the paper's output folder).
    #[serde(default)]
    pub plots: Vec<String>,
}

impl Report {
    /// An empty report; `commit` and `seconds` are filled in by the runner.
    pub fn new(paper: &str, scale: &str, seed: u64, proxy: bool, data: impl Into<String>) -> Self {
        Self {
            paper: paper.to_string(),
            scale: scale.to_string(),
            seed,
            commit: String::new(),
            seconds: 0.0,
            proxy,
            data: data.into(),
            tables: Vec::new(),
            claims: Vec::new(),
            plots: Vec::new(),
        }
    }

    /// Markdown rendering of the whole report (the content of `results.md`).
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## {}\n", self.paper);
        let _ = writeln!(
            s,
            "scale `{}` · seed {} · commit `{}` · {:.1} s\n",
            self.scale, self.seed, self.commit, self.seconds
        );
        let _ = writeln!(s, "**Data:** {}\n", self.data);
        if self.proxy {
            let _ = writeln!(
                s,
                "> **Proxy data.** These numbers come from a stand-in for the paper's data \
                 set; the paper's numbers are shown beside ours for reference only and are \
                 not comparable.\n"
            );
        }
        for t in &self.tables {
            s.push_str(&t.to_markdown(4));
            s.push('\n');
        }
        if !self.claims.is_empty() {
            let _ = writeln!(s, "### Claims\n");
            let _ = writeln!(s, "| id | claim | holds | evidence |\n|---|---|---|---|");
            for c in &self.claims {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} |",
                    c.id,
                    c.statement.replace('|', "\\|"),
                    if c.holds {
                        "✅ holds"
                    } else {
                        "❌ does not hold"
                    },
                    c.evidence.replace('|', "\\|")
                );
            }
            s.push('\n');
        }
        for p in &self.plots {
            let _ = writeln!(s, "![{p}]({p})\n");
        }
        s
    }

    /// Write `results.json` and `results.md` into `dir` (atomically), after checking
    /// that every row has as many values as its table has columns.
    pub fn write(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        for t in &self.tables {
            t.check()?;
        }
        let json = serde_json::to_vec_pretty(self)?;
        validate_results_json(&serde_json::from_slice(&json)?)?;
        crate::fsio::write_atomic(dir.join("results.json"), &json)?;
        crate::fsio::write_atomic(dir.join("results.md"), self.to_markdown().as_bytes())
    }

    /// Read a `results.json`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(path, format!("invalid JSON: {e}")))?;
        validate_results_json(&v).map_err(|e| Error::format(path, e.to_string()))?;
        Ok(serde_json::from_value(v)?)
    }
}

fn field<'a>(o: &'a serde_json::Map<String, Value>, k: &str, ctx: &str) -> Result<&'a Value> {
    o.get(k)
        .ok_or_else(|| Error::invalid(format!("{ctx}: missing field \"{k}\"")))
}

fn want(cond: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(Error::invalid(msg()))
    }
}

fn check_rows(v: &Value, ncols: usize, ctx: &str) -> Result<()> {
    let rows = v
        .as_array()
        .ok_or_else(|| Error::invalid(format!("{ctx} must be an array")))?;
    for (i, r) in rows.iter().enumerate() {
        let ctx = format!("{ctx}[{i}]");
        let o = r
            .as_object()
            .ok_or_else(|| Error::invalid(format!("{ctx} must be an object")))?;
        want(field(o, "label", &ctx)?.is_string(), || {
            format!("{ctx}.label must be a string")
        })?;
        let vals = field(o, "values", &ctx)?
            .as_array()
            .ok_or_else(|| Error::invalid(format!("{ctx}.values must be an array")))?;
        want(vals.len() == ncols, || {
            format!("{ctx} has {} values for {ncols} columns", vals.len())
        })?;
        for v in vals {
            let ok = match v {
                Value::Number(_) | Value::String(_) | Value::Null => true,
                Value::Object(m) => {
                    m.len() == 2
                        && m.get("mean").is_some_and(|x| x.is_number() || x.is_null())
                        && m.get("std").is_some_and(|x| x.is_number() || x.is_null())
                }
                _ => false,
            };
            want(ok, || format!("{ctx}: bad cell {v}"))?;
        }
    }
    Ok(())
}

/// Check a parsed `results.json` against the schema in the module docs.
pub fn validate_results_json(v: &Value) -> Result<()> {
    let o = v
        .as_object()
        .ok_or_else(|| Error::invalid("results.json must be an object"))?;
    let ctx = "results.json";
    for k in ["paper", "scale", "commit", "data"] {
        want(field(o, k, ctx)?.is_string(), || {
            format!("{ctx}: \"{k}\" must be a string")
        })?;
    }
    want(
        matches!(
            o["scale"].as_str(),
            Some("smoke") | Some("quick") | Some("paper")
        ),
        || format!("{ctx}: scale must be smoke, quick or paper"),
    )?;
    want(field(o, "seed", ctx)?.is_u64(), || {
        format!("{ctx}: seed must be a non-negative integer")
    })?;
    want(field(o, "seconds", ctx)?.is_number(), || {
        format!("{ctx}: seconds must be a number")
    })?;
    want(field(o, "proxy", ctx)?.is_boolean(), || {
        format!("{ctx}: proxy must be a boolean")
    })?;
    let tables = field(o, "tables", ctx)?
        .as_array()
        .ok_or_else(|| Error::invalid(format!("{ctx}: tables must be an array")))?;
    for (i, t) in tables.iter().enumerate() {
        let tctx = format!("tables[{i}]");
        let to = t
            .as_object()
            .ok_or_else(|| Error::invalid(format!("{tctx} must be an object")))?;
        want(field(to, "name", &tctx)?.is_string(), || {
            format!("{tctx}.name must be a string")
        })?;
        want(field(to, "note", &tctx)?.is_string(), || {
            format!("{tctx}.note must be a string")
        })?;
        let cols = field(to, "columns", &tctx)?
            .as_array()
            .ok_or_else(|| Error::invalid(format!("{tctx}.columns must be an array")))?;
        want(cols.iter().all(|c| c.is_string()), || {
            format!("{tctx}.columns must be strings")
        })?;
        check_rows(
            field(to, "rows", &tctx)?,
            cols.len(),
            &format!("{tctx}.rows"),
        )?;
        if let Some(p) = to.get("paper") {
            if !p.is_null() {
                check_rows(p, cols.len(), &format!("{tctx}.paper"))?;
            }
        }
    }
    let claims = field(o, "claims", ctx)?
        .as_array()
        .ok_or_else(|| Error::invalid(format!("{ctx}: claims must be an array")))?;
    for (i, c) in claims.iter().enumerate() {
        let cctx = format!("claims[{i}]");
        let co = c
            .as_object()
            .ok_or_else(|| Error::invalid(format!("{cctx} must be an object")))?;
        for k in ["id", "statement", "evidence"] {
            want(field(co, k, &cctx)?.is_string(), || {
                format!("{cctx}.{k} must be a string")
            })?;
        }
        want(field(co, "holds", &cctx)?.is_boolean(), || {
            format!("{cctx}.holds must be a boolean")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::new("demo", "smoke", 3, true, "synthetic");
        let mut t = Table::new("Accuracy", &["clean", "attacked"]);
        t.row(
            "ours",
            vec![
                0.9.into(),
                Cell::MeanStd {
                    mean: 0.5,
                    std: 0.1,
                },
            ],
        );
        t.paper_row("ours", vec![0.95.into(), Cell::Null]);
        t.paper_row("only paper", vec![0.8.into(), 0.7.into()]);
        r.tables.push(t.with_note("proxy"));
        r.claims
            .push(Claim::new("x.y", "it works", true, "0.9 ≥ 0.85"));
        r
    }

    #[test]
    fn json_roundtrip_and_schema() {
        let r = sample();
        let v = serde_json::to_value(&r).unwrap();
        validate_results_json(&v).unwrap();
        let back: Report = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn markdown_puts_paper_beside_ours() {
        let md = sample().to_markdown();
        assert!(
            md.contains("| clean | clean (paper) | attacked | attacked (paper) |"),
            "{md}"
        );
        assert!(
            md.contains("| ours | 0.9000 | 0.9500 | 0.5000 ± 0.1000 | — |"),
            "{md}"
        );
        assert!(
            md.contains("| only paper | — | 0.8000 | — | 0.7000 |"),
            "{md}"
        );
        assert!(md.contains("✅ holds"));
        assert!(md.contains("Proxy data"));
    }

    #[test]
    fn schema_rejects_bad_files() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["tables"][0]["rows"][0]["values"] = serde_json::json!([1.0]);
        assert!(validate_results_json(&v).is_err());
        let mut v = serde_json::to_value(sample()).unwrap();
        v.as_object_mut().unwrap().remove("claims");
        assert!(validate_results_json(&v).is_err());
        let mut v = serde_json::to_value(sample()).unwrap();
        v["scale"] = "huge".into();
        assert!(validate_results_json(&v).is_err());
    }

    #[test]
    fn write_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let r = sample();
        r.write(dir.path()).unwrap();
        assert_eq!(Report::read(dir.path().join("results.json")).unwrap(), r);
        assert!(dir.path().join("results.md").exists());
        let mut bad = sample();
        bad.tables[0].rows[0].values.pop();
        assert!(bad.write(dir.path()).is_err());
    }
}
