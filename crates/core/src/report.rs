//! Results of a reproduction: tables (ours beside the paper's), claims, and the
//! `results.json` / `results.md` files that `cargo xtask reproduce` writes.
//!
//! `results.json` has one schema for every paper:
//!
//! ```json
//! {"paper": "…", "scale": "smoke|quick|paper", "seed": 0, "commit": "…", "seconds": 1.5,
//!  "proxy": true, "data": "what data was used",
//!  "tables": [{"name": "…", "columns": ["…"], "rows": [{"label": "…", "values": [0.5, "text", null,
//!              {"mean": 1.0, "std": 0.1}, {"value": 0.8, "ci": [0.7, 0.9]}]}],
//!              "paper": [{"label": "…", "values": […]}], "note": "…"}],
//!  "claims": [{"id": "…", "statement": "…", "verdict": "holds|fails|inconclusive",
//!              "holds": true, "evidence": "…",
//!              "test": {"name": "…", "n": 200, "unit": "clouds", "estimate": 0.95,
//!                       "ci": [0.92, 0.97], "p": 0.001, "alpha": 0.05, "p_adjusted": 0.002}}],
//!  "plots": ["roc.png"]}
//! ```
//!
//! `holds` equals `verdict == "holds"`; `ci` is two-sided at 1 − 2α; `p` is the
//! one-sided p-value of the statement and `p_adjusted` (present for claims inside the
//! paper's Holm family) its Holm-adjusted value; numbers are `null` where a test was
//! not run or a bound is infinite. [`validate_results_json`] checks a parsed file
//! against this schema.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::stats::claim::format_p;
use crate::{Error, Result};

/// One cell of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// A number (NaN and infinities are written as `null`).
    Num(f64),
    /// Mean and standard deviation over runs.
    MeanStd { mean: f64, std: f64 },
    /// An estimate with an interval (the table's note says which interval):
    /// `{"value": 0.81, "ci": [0.75, 0.86]}`, rendered `0.810 [0.750, 0.860]`.
    Interval { value: f64, ci: [f64; 2] },
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
            Cell::Interval { value, ci } => {
                format!("{value:.digits$} [{:.digits$}, {:.digits$}]", ci[0], ci[1])
            }
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

/// The outcome of a claim's test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The (Holm-adjusted) one-sided test supports the statement at α.
    Holds,
    /// The data support the opposite: the opposite one-sided test is significant at α
    /// (the interval rules out the claimed threshold or margin).
    Fails,
    /// Neither: the data cannot decide (too few units, a tie, a precondition not met).
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Fails => "fails",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

fn nan_from_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn nan_pair_from_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<[f64; 2], D::Error> {
    let [a, b] = <[Option<f64>; 2]>::deserialize(d)?;
    Ok([a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN)])
}

/// The statistical test behind a claim, fixed before the run. Non-finite numbers (a
/// test not run, an unbounded interval) are written as `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// The test, e.g. "exact binomial (Clopper–Pearson interval), one-sided vs 0.9".
    pub name: String,
    /// Number of independent units the test rests on.
    pub n: usize,
    /// What `n` counts: clouds, videos, trained instances, seeds.
    pub unit: String,
    /// Point estimate of the tested quantity.
    #[serde(deserialize_with = "nan_from_null")]
    pub estimate: f64,
    /// Two-sided interval at 1 − 2α (each bound a one-sided 1 − α bound, matching the
    /// one-sided test at the unadjusted α).
    #[serde(deserialize_with = "nan_pair_from_null")]
    pub ci: [f64; 2],
    /// One-sided p-value of the statement (before Holm's correction).
    #[serde(deserialize_with = "nan_from_null")]
    pub p: f64,
    /// Significance level.
    pub alpha: f64,
    /// Holm-adjusted p when the claim belongs to the paper's family of claims (absent
    /// for sanity checks and preconditions, which stay outside the family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_adjusted: Option<f64>,
}

impl TestResult {
    /// The placeholder of a claim whose test has not been run.
    pub fn not_run(reason: &str) -> Self {
        Self {
            name: format!("not yet re-judged: {reason}"),
            n: 0,
            unit: String::new(),
            estimate: f64::NAN,
            ci: [f64::NAN, f64::NAN],
            p: f64::NAN,
            alpha: 0.05,
            p_adjusted: None,
        }
    }
}

/// A claim of the paper, decided by a statistical test on our run. Build claims with
/// [`crate::stats::claim::ClaimFamily`], which applies Holm's correction and sets the
/// verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub id: String,
    pub statement: String,
    pub verdict: Verdict,
    /// `verdict == Holds` (kept for readers of older files).
    pub holds: bool,
    pub evidence: String,
    pub test: TestResult,
}

impl Claim {
    /// A claim with its final verdict (`holds` follows it).
    pub fn new(
        id: impl Into<String>,
        statement: impl Into<String>,
        verdict: Verdict,
        evidence: impl Into<String>,
        test: TestResult,
    ) -> Self {
        Self {
            id: id.into(),
            statement: statement.into(),
            verdict,
            holds: verdict == Verdict::Holds,
            evidence: evidence.into(),
            test,
        }
    }

    /// A claim whose statistical test has not been run yet: inconclusive, with the
    /// reason as the test's name.
    pub fn not_judged(
        id: impl Into<String>,
        statement: impl Into<String>,
        evidence: impl Into<String>,
        reason: &str,
    ) -> Self {
        Self::new(
            id,
            statement,
            Verdict::Inconclusive,
            evidence,
            TestResult::not_run(reason),
        )
    }
}

/// A number for the claims table: 3 significant decimals, "—" when not finite.
fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "—".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else if a >= 0.01 || a == 0.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

/// Markdown table of claims: verdict, estimate with its interval, p and test.
pub fn claims_markdown(claims: &[Claim]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| id | claim | verdict | estimate [interval] | p (Holm) | test (n) | evidence |\n\
         |---|---|---|---|---|---|---|"
    );
    for c in claims {
        let t = &c.test;
        let verdict = match c.verdict {
            Verdict::Holds => "✅ holds",
            Verdict::Fails => "❌ fails",
            Verdict::Inconclusive => "❔ inconclusive",
        };
        let est = if t.estimate.is_nan() {
            "—".to_string()
        } else {
            format!(
                "{} [{}, {}]",
                fmt_num(t.estimate),
                fmt_num(t.ci[0]),
                fmt_num(t.ci[1])
            )
        };
        let p = match t.p_adjusted {
            Some(a) => format!("{} ({})", format_p(t.p), format_p(a)),
            None => format_p(t.p),
        };
        let n = if t.n > 0 {
            format!("{} ({} {})", t.name, t.n, t.unit)
        } else {
            t.name.clone()
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            c.id,
            c.statement.replace('|', "\\|"),
            verdict,
            est,
            p,
            n.replace('|', "\\|"),
            c.evidence.replace('|', "\\|")
        );
    }
    s
}

/// Counts of holding, failing and inconclusive claims.
pub fn verdict_counts(claims: &[Claim]) -> (usize, usize, usize) {
    claims
        .iter()
        .fold((0, 0, 0), |(h, f, i), c| match c.verdict {
            Verdict::Holds => (h + 1, f, i),
            Verdict::Fails => (h, f + 1, i),
            Verdict::Inconclusive => (h, f, i + 1),
        })
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
            let _ = writeln!(
                s,
                "Each claim is a one-sided test at α = {} fixed before the run; the \
                 interval is two-sided at 1 − 2α (its bounds are one-sided 1 − α bounds); \
                 p is the one-sided p-value, Holm-adjusted across the paper's claims in \
                 brackets (sanity checks and preconditions stay outside the family).\n",
                self.claims.first().map_or(0.05, |c| c.test.alpha)
            );
            s.push_str(&claims_markdown(&self.claims));
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
                    let num = |k: &str| m.get(k).is_some_and(num_or_null);
                    let pair = m
                        .get("ci")
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.len() == 2 && a.iter().all(num_or_null));
                    m.len() == 2 && ((num("mean") && num("std")) || (num("value") && pair))
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
        check_claim(co, &cctx)?;
    }
    Ok(())
}

fn num_or_null(v: &Value) -> bool {
    v.is_number() || v.is_null()
}

/// The verdict, `holds` and the `test` block of one claim.
fn check_claim(co: &serde_json::Map<String, Value>, cctx: &str) -> Result<()> {
    let verdict = field(co, "verdict", cctx)?.as_str();
    want(
        matches!(
            verdict,
            Some("holds") | Some("fails") | Some("inconclusive")
        ),
        || format!("{cctx}.verdict must be \"holds\", \"fails\" or \"inconclusive\""),
    )?;
    let holds = field(co, "holds", cctx)?.as_bool();
    want(holds == Some(verdict == Some("holds")), || {
        format!("{cctx}.holds must be a boolean equal to (verdict == \"holds\")")
    })?;
    let t = field(co, "test", cctx)?
        .as_object()
        .ok_or_else(|| Error::invalid(format!("{cctx}.test must be an object")))?;
    let tctx = format!("{cctx}.test");
    for k in ["name", "unit"] {
        want(field(t, k, &tctx)?.is_string(), || {
            format!("{tctx}.{k} must be a string")
        })?;
    }
    want(field(t, "n", &tctx)?.is_u64(), || {
        format!("{tctx}.n must be a non-negative integer")
    })?;
    let alpha = field(t, "alpha", &tctx)?.as_f64();
    want(alpha.is_some_and(|a| a > 0.0 && a < 1.0), || {
        format!("{tctx}.alpha must be a number in (0, 1)")
    })?;
    let est = field(t, "estimate", &tctx)?;
    want(num_or_null(est), || {
        format!("{tctx}.estimate must be a number or null")
    })?;
    let ci = field(t, "ci", &tctx)?.as_array();
    want(
        ci.is_some_and(|c| c.len() == 2 && c.iter().all(num_or_null)),
        || format!("{tctx}.ci must be [lo, hi] (numbers or null)"),
    )?;
    let in_unit = |v: &Value| v.is_null() || v.as_f64().is_some_and(|p| (0.0..=1.0).contains(&p));
    let p = field(t, "p", &tctx)?;
    want(in_unit(p), || {
        format!("{tctx}.p must be a number in [0, 1] or null")
    })?;
    if let Some(pa) = t.get("p_adjusted") {
        want(in_unit(pa), || {
            format!("{tctx}.p_adjusted must be a number in [0, 1] or null")
        })?;
    }
    if verdict != Some("inconclusive") {
        want(
            est.is_number() && p.is_number() && t["n"].as_u64() > Some(0),
            || format!("{tctx}: a decided claim needs n > 0, an estimate and a p-value"),
        )?;
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
        t.row(
            "with interval",
            vec![
                Cell::Interval {
                    value: 0.8,
                    ci: [0.7, 0.9],
                },
                Cell::Null,
            ],
        );
        t.paper_row("ours", vec![0.95.into(), Cell::Null]);
        t.paper_row("only paper", vec![0.8.into(), 0.7.into()]);
        r.tables.push(t.with_note("proxy"));
        r.claims.push(Claim::new(
            "x.y",
            "it works",
            Verdict::Holds,
            "190 of 200",
            TestResult {
                name: "exact binomial, one-sided vs 0.9".into(),
                n: 200,
                unit: "clouds".into(),
                estimate: 0.95,
                ci: [0.916, 0.972],
                p: 0.0012,
                alpha: 0.05,
                p_adjusted: Some(0.0024),
            },
        ));
        r.claims.push(Claim::not_judged(
            "x.z",
            "it also works",
            "",
            "needs the per-cloud results",
        ));
        r
    }

    #[test]
    fn json_roundtrip_and_schema() {
        let r = sample();
        let v = serde_json::to_value(&r).unwrap();
        validate_results_json(&v).unwrap();
        assert_eq!(v["claims"][0]["verdict"], "holds");
        assert_eq!(v["claims"][0]["test"]["ci"][1], 0.972);
        assert_eq!(v["claims"][1]["test"]["p"], Value::Null);
        let back: Report = serde_json::from_value(v).unwrap();
        // NaN (a test not run) never equals itself: compare the judged claim whole.
        assert_eq!(back.claims[0], r.claims[0]);
        assert_eq!(back.tables, r.tables);
        assert!(back.claims[1].test.p.is_nan());
        assert_eq!(back.claims[1].verdict, Verdict::Inconclusive);
    }

    #[test]
    fn schema_checks_claim_fields() {
        let good = serde_json::to_value(sample()).unwrap();
        let bad = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            validate_results_json(&v).is_err()
        };
        assert!(bad(&|v| v["claims"][0]["verdict"] = "maybe".into()));
        assert!(bad(&|v| v["claims"][0]["holds"] = false.into()));
        assert!(bad(&|v| v["claims"][1]["holds"] = true.into()));
        assert!(bad(&|v| {
            v["claims"][0].as_object_mut().unwrap().remove("test");
        }));
        assert!(bad(
            &|v| v["claims"][0]["test"]["ci"] = serde_json::json!([0.1])
        ));
        assert!(bad(&|v| v["claims"][0]["test"]["p"] = 1.5.into()));
        assert!(bad(&|v| v["claims"][0]["test"]["alpha"] = 0.0.into()));
        assert!(bad(&|v| v["claims"][0]["test"]["n"] = (-1).into()));
        assert!(bad(&|v| v["claims"][0]["test"]["unit"] = 3.into()));
        // A decided claim needs a p-value.
        assert!(bad(&|v| v["claims"][0]["test"]["p"] = Value::Null));
        // An inconclusive claim may have none.
        validate_results_json(&good).unwrap();
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
        assert!(
            md.contains("| with interval | 0.8000 [0.7000, 0.9000] | — | — | — |"),
            "{md}"
        );
        assert!(md.contains("✅ holds"));
        assert!(md.contains("❔ inconclusive"));
        assert!(md.contains("0.950 [0.916, 0.972]"), "{md}");
        assert!(md.contains("0.001 (0.002)"), "{md}");
        assert!(md.contains("Proxy data"));
    }

    #[test]
    fn schema_rejects_bad_files() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["tables"][0]["rows"][0]["values"] = serde_json::json!([1.0]);
        assert!(validate_results_json(&v).is_err());
        let mut v = serde_json::to_value(sample()).unwrap();
        v["tables"][0]["rows"][1]["values"][0] = serde_json::json!({"value": 0.8, "ci": [0.7]});
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
        let back = Report::read(dir.path().join("results.json")).unwrap();
        assert_eq!(back.claims[0], r.claims[0]);
        assert!(dir.path().join("results.md").exists());
        let mut bad = sample();
        bad.tables[0].rows[0].values.pop();
        assert!(bad.write(dir.path()).is_err());
    }
}
