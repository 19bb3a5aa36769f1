//! What the `excel.analyze` worker computes, apart from the protocol:
//! reading a workbook (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods` through
//! `calamine`) or a `.csv`, summarising each sheet's columns, and writing the
//! result workbook (`rust_xlsxwriter`): a `Summary` sheet first, then the
//! input's sheets with their values.

use std::io::Cursor;

use calamine::{Data, Reader};
use rust_xlsxwriter::Workbook;
use serde::Serialize;

/// The MIME type of an `.xlsx` file.
pub const XLSX_MIME: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The name of the summary sheet in the result.
pub const SUMMARY_SHEET: &str = "Summary";

/// The columns of the summary sheet.
pub const SUMMARY_HEADER: [&str; 9] = [
    "file", "sheet", "column", "filled", "numeric", "sum", "mean", "min", "max",
];

/// One cell as the worker keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Number(f64),
    Text(String),
}

/// One sheet of an input: its name and its cells, row by row.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub name: String,
    pub rows: Vec<Vec<Cell>>,
}

/// One column of a sheet, summarised. The first row names the columns.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnSummary {
    pub name: String,
    /// Non-empty cells below the header.
    pub filled: u64,
    /// Numeric cells below the header.
    pub numeric: u64,
    pub sum: f64,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// One sheet, summarised.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SheetSummary {
    pub file: String,
    pub sheet: String,
    /// Rows below the header.
    pub rows: u64,
    pub columns: Vec<ColumnSummary>,
}

/// Why an input cannot be analysed (not worth another attempt).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{file}: not a spreadsheet the worker reads (.xlsx, .xlsm, .xlsb, .xls, .ods, .csv)")]
    Unsupported { file: String },
    #[error("{file}: cannot be read: {reason}")]
    Unreadable { file: String, reason: String },
}

/// Reads the sheets of `bytes`, named `filename` (the extension decides
/// CSV; anything else is tried as a workbook).
pub fn read_sheets(filename: &str, bytes: Vec<u8>) -> Result<Vec<Sheet>, InputError> {
    let lower = filename.to_lowercase();
    if lower.ends_with(".csv") {
        return read_csv(filename, &bytes).map(|sheet| vec![sheet]);
    }
    let unreadable = |reason: String| InputError::Unreadable {
        file: filename.to_owned(),
        reason,
    };
    let mut workbook =
        calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| match e {
            calamine::Error::Msg(_) => InputError::Unsupported {
                file: filename.to_owned(),
            },
            other => unreadable(other.to_string()),
        })?;
    let mut sheets = Vec::new();
    for name in workbook.sheet_names() {
        let range = workbook
            .worksheet_range(&name)
            .map_err(|e| unreadable(e.to_string()))?;
        let rows = range
            .rows()
            .map(|row| row.iter().map(cell_of).collect())
            .collect();
        sheets.push(Sheet { name, rows });
    }
    Ok(sheets)
}

fn cell_of(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Text(b.to_string()),
        Data::String(s) => Cell::Text(s.clone()),
        other => Cell::Text(other.to_string()),
    }
}

fn read_csv(filename: &str, bytes: &[u8]) -> Result<Sheet, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| InputError::Unreadable {
            file: filename.to_owned(),
            reason: e.to_string(),
        })?;
        rows.push(
            record
                .iter()
                .map(|field| match field.trim() {
                    "" => Cell::Empty,
                    text => text
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .map_or_else(|| Cell::Text(field.to_owned()), Cell::Number),
                })
                .collect(),
        );
    }
    let stem = filename.rsplit_once('.').map_or(filename, |(stem, _)| stem);
    Ok(Sheet {
        name: stem.to_owned(),
        rows,
    })
}

/// Summarises `sheet` of `file`: the first row names the columns (a
/// missing name is `column N`).
pub fn summarise(file: &str, sheet: &Sheet) -> SheetSummary {
    let width = sheet.rows.iter().map(Vec::len).max().unwrap_or(0);
    let header = sheet.rows.first();
    let body = sheet.rows.get(1..).unwrap_or_default();
    let columns = (0..width)
        .map(|i| {
            let name = match header.and_then(|h| h.get(i)) {
                Some(Cell::Text(text)) if !text.trim().is_empty() => text.trim().to_owned(),
                Some(Cell::Number(n)) => n.to_string(),
                _ => format!("column {}", i + 1),
            };
            let cells = body.iter().filter_map(|row| row.get(i));
            let (mut filled, mut numeric, mut sum) = (0u64, 0u64, 0.0f64);
            let (mut min, mut max) = (None::<f64>, None::<f64>);
            for cell in cells {
                match cell {
                    Cell::Empty => {}
                    Cell::Text(_) => filled += 1,
                    Cell::Number(n) => {
                        filled += 1;
                        numeric += 1;
                        sum += n;
                        min = Some(min.map_or(*n, |m| m.min(*n)));
                        max = Some(max.map_or(*n, |m| m.max(*n)));
                    }
                }
            }
            ColumnSummary {
                name,
                filled,
                numeric,
                sum,
                mean: (numeric > 0).then(|| sum / numeric as f64),
                min,
                max,
            }
        })
        .collect();
    SheetSummary {
        file: file.to_owned(),
        sheet: sheet.name.clone(),
        rows: body.len() as u64,
        columns,
    }
}

/// The analysis text of `summaries`: a line a sheet.
pub fn analysis(summaries: &[SheetSummary]) -> String {
    summaries
        .iter()
        .map(|s| {
            let numeric: Vec<String> = s
                .columns
                .iter()
                .filter(|c| c.numeric > 0)
                .map(|c| format!("{} (sum {}, mean {})", c.name, c.sum, c.mean.unwrap_or(0.0)))
                .collect();
            let numeric = if numeric.is_empty() {
                "no numeric columns".to_owned()
            } else {
                format!("numeric: {}", numeric.join(", "))
            };
            format!(
                "{} / {}: {} rows × {} columns; {numeric}",
                s.file,
                s.sheet,
                s.rows,
                s.columns.len()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The result workbook: the summary sheet, then every input sheet's values
/// (sheet names made unique and valid for Excel).
pub fn write_result(
    summaries: &[SheetSummary],
    sheets: &[Sheet],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut workbook = Workbook::new();
    let summary = workbook.add_worksheet();
    summary.set_name(SUMMARY_SHEET)?;
    for (col, title) in SUMMARY_HEADER.iter().enumerate() {
        summary.write_string(0, col as u16, *title)?;
    }
    let mut row = 1u32;
    for sheet in summaries {
        for column in &sheet.columns {
            summary.write_string(row, 0, &sheet.file)?;
            summary.write_string(row, 1, &sheet.sheet)?;
            summary.write_string(row, 2, &column.name)?;
            summary.write_number(row, 3, column.filled as f64)?;
            summary.write_number(row, 4, column.numeric as f64)?;
            summary.write_number(row, 5, column.sum)?;
            for (col, value) in [(6, column.mean), (7, column.min), (8, column.max)] {
                if let Some(value) = value {
                    summary.write_number(row, col, value)?;
                }
            }
            row += 1;
        }
    }
    let mut used = vec![SUMMARY_SHEET.to_lowercase()];
    for sheet in sheets {
        let name = unique_sheet_name(&sheet.name, &mut used);
        let out = workbook.add_worksheet();
        out.set_name(&name)?;
        for (r, cells) in sheet.rows.iter().enumerate() {
            let Ok(r) = u32::try_from(r) else { break };
            for (c, cell) in cells.iter().enumerate() {
                let Ok(c) = u16::try_from(c) else { break };
                match cell {
                    Cell::Empty => {}
                    Cell::Number(n) => {
                        out.write_number(r, c, *n)?;
                    }
                    Cell::Text(t) => {
                        out.write_string(r, c, t)?;
                    }
                }
            }
        }
    }
    workbook.save_to_buffer()
}

/// A sheet name Excel accepts (1 to 31 characters, none of `[]:*?/\`),
/// not already in `used` (compared without case).
fn unique_sheet_name(wanted: &str, used: &mut Vec<String>) -> String {
    let clean: String = wanted
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .collect();
    let clean = clean.trim_matches('\'');
    let base: String = if clean.is_empty() { "Sheet" } else { clean }
        .chars()
        .take(28)
        .collect();
    let mut name = base.clone();
    let mut n = 2;
    while used.contains(&name.to_lowercase()) {
        name = format!("{base} {n}");
        n += 1;
    }
    used.push(name.to_lowercase());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(sheet: &Sheet) -> Vec<f64> {
        sheet
            .rows
            .iter()
            .flatten()
            .filter_map(|c| match c {
                Cell::Number(n) => Some(*n),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_csv_is_one_sheet_with_numbers_recognised() {
        let sheets = read_sheets(
            "sales.csv",
            b"region,amount\nnorth,3\nsouth,4.5\n,\n".to_vec(),
        )
        .unwrap();
        assert_eq!(sheets.len(), 1);
        assert_eq!(sheets[0].name, "sales");
        assert_eq!(numbers(&sheets[0]), [3.0, 4.5]);
        let summary = summarise("sales.csv", &sheets[0]);
        assert_eq!(summary.rows, 3);
        assert_eq!(summary.columns[0].name, "region");
        assert_eq!(summary.columns[0].filled, 2);
        assert_eq!(summary.columns[1].numeric, 2);
        assert_eq!(summary.columns[1].sum, 7.5);
        assert_eq!(summary.columns[1].mean, Some(3.75));
        assert_eq!(summary.columns[1].min, Some(3.0));
        assert_eq!(summary.columns[1].max, Some(4.5));
    }

    #[test]
    fn the_result_workbook_reads_back_with_its_summary_and_sheets() {
        let sheets = vec![
            Sheet {
                name: "Q1".into(),
                rows: vec![
                    vec![Cell::Text("item".into()), Cell::Text("amount".into())],
                    vec![Cell::Text("a".into()), Cell::Number(2.0)],
                    vec![Cell::Text("b".into()), Cell::Number(5.0)],
                ],
            },
            // A name Excel refuses, and one that clashes with the summary.
            Sheet {
                name: "a/b".into(),
                rows: vec![vec![Cell::Number(1.0)]],
            },
            Sheet {
                name: "summary".into(),
                rows: vec![],
            },
        ];
        let summaries: Vec<_> = sheets.iter().map(|s| summarise("in.xlsx", s)).collect();
        let bytes = write_result(&summaries, &sheets).unwrap();
        let back = read_sheets("out.xlsx", bytes).unwrap();
        let names: Vec<&str> = back.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Summary", "Q1", "a_b", "summary 2"]);
        let summary = &back[0];
        assert_eq!(summary.rows[0][0], Cell::Text("file".into()));
        // Q1's amount column: filled 2, numeric 2, sum 7, mean 3.5.
        let amount = summary
            .rows
            .iter()
            .find(|r| r.get(2) == Some(&Cell::Text("amount".into())))
            .unwrap();
        assert_eq!(amount[5], Cell::Number(7.0));
        assert_eq!(amount[6], Cell::Number(3.5));
        assert_eq!(numbers(&back[1]), [2.0, 5.0]);
    }

    #[test]
    fn something_that_is_not_a_spreadsheet_is_refused_with_its_name() {
        let error = read_sheets("photo.png", b"\x89PNG\r\n\x1a\n....".to_vec()).unwrap_err();
        assert!(error.to_string().starts_with("photo.png:"), "{error}");
        let error = read_sheets("broken.xlsx", b"PK\x03\x04 not really".to_vec()).unwrap_err();
        assert!(error.to_string().starts_with("broken.xlsx:"), "{error}");
    }

    #[test]
    fn the_analysis_names_each_sheet_and_its_numeric_columns() {
        let sheet = Sheet {
            name: "S".into(),
            rows: vec![
                vec![Cell::Text("n".into()), Cell::Text("t".into())],
                vec![Cell::Number(1.0), Cell::Text("x".into())],
            ],
        };
        let text = analysis(&[summarise("f.csv", &sheet)]);
        assert_eq!(
            text,
            "f.csv / S: 1 rows × 2 columns; numeric: n (sum 1, mean 1)"
        );
    }
}
