//! Reading an uploaded file into a header and rows: Excel workbooks (the first sheet, read with
//! calamine) or CSV text (UTF-8 with or without BOM, or GB18030 as Excel in China saves it).

use std::io::Cursor;

use calamine::{Data, Reader};
use model::sheet::{PersonColumn, SHEET_ROWS_MAX};
use model::{Problem, Refusal};

/// A file's rows under its header, blank lines dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sheet {
    pub person: PersonColumn,
    /// The variable columns (every header but the person's), in file order.
    pub columns: Vec<String>,
    pub rows: Vec<SheetRow>,
}

/// One person's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SheetRow {
    /// The line in the file (1 = the first line).
    pub line: usize,
    /// The id in the person column, trimmed.
    pub person: String,
    /// The values in [`Sheet::columns`] order, trimmed.
    pub values: Vec<String>,
}

fn refused(problem: Problem) -> Refusal {
    Refusal::new("file", problem)
}

/// Reads `bytes` as a workbook when it is one (a zip or an old binary .xls), otherwise as CSV.
pub fn parse_sheet(bytes: &[u8]) -> Result<Sheet, Refusal> {
    let lines = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
    {
        workbook_lines(bytes)?
    } else {
        csv_lines(&decode_text(bytes)?)?
    };
    from_lines(lines)
}

/// The text of a CSV file: UTF-8 (a BOM dropped), else GB18030; anything binary is refused.
fn decode_text(bytes: &[u8]) -> Result<String, Refusal> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.contains(&0) {
        return Err(refused(Problem::NotASpreadsheet));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|t| t.into_owned())
            .ok_or_else(|| refused(Problem::NotASpreadsheet)),
    }
}

/// Non-blank lines as (line number, cells).
type Lines = Vec<(usize, Vec<String>)>;

fn csv_lines(text: &str) -> Result<Lines, Refusal> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    // The separator the header uses most: Excel writes `,` or, in some locales, `;`; tab from
    // a copy of cells.
    let delimiter = [b',', b'\t', b';']
        .into_iter()
        .max_by_key(|d| first.bytes().filter(|b| b == d).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut lines = Vec::new();
    let mut record = csv::StringRecord::new();
    // The line a record starts on, from its byte offset (newlines counted as the reader goes).
    let (mut counted_to, mut line) = (0_usize, 1_usize);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                // The reader's position is where it began reading: before the line breaks
                // (and blank lines) that precede the record itself.
                let mut start = record
                    .position()
                    .map_or(counted_to, |p| p.byte() as usize)
                    .clamp(counted_to, text.len());
                while matches!(text.as_bytes().get(start), Some(b'\r' | b'\n')) {
                    start += 1;
                }
                line += text.as_bytes()[counted_to..start]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count();
                counted_to = start;
                let line = line;
                let cells: Vec<String> = record.iter().map(|c| c.trim().to_owned()).collect();
                if cells.iter().any(|c| !c.is_empty()) {
                    lines.push((line, cells));
                    if lines.len() > SHEET_ROWS_MAX + 1 {
                        return Err(refused(Problem::TooManyRows(SHEET_ROWS_MAX)));
                    }
                }
            }
            Err(_) => return Err(refused(Problem::NotASpreadsheet)),
        }
    }
    Ok(lines)
}

fn workbook_lines(bytes: &[u8]) -> Result<Lines, Refusal> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|_| refused(Problem::NotASpreadsheet))?;
    let range = match book.worksheet_range_at(0) {
        Some(Ok(range)) => range,
        _ => return Err(refused(Problem::NotASpreadsheet)),
    };
    let first_row = range.start().map_or(0, |(row, _)| row as usize);
    let first_col = range.start().map_or(0, |(_, col)| col as usize);
    if range.height() > SHEET_ROWS_MAX + 1_000 {
        return Err(refused(Problem::TooManyRows(SHEET_ROWS_MAX)));
    }
    let mut lines = Vec::new();
    for (i, row) in range.rows().enumerate() {
        // Cells left of the used range are empty: keep the columns where the file has them.
        let cells: Vec<String> = std::iter::repeat_n(String::new(), first_col)
            .chain(row.iter().map(cell_text))
            .collect();
        if cells.iter().any(|c| !c.is_empty()) {
            lines.push((first_row + i + 1, cells));
            if lines.len() > SHEET_ROWS_MAX + 1 {
                return Err(refused(Problem::TooManyRows(SHEET_ROWS_MAX)));
            }
        }
    }
    Ok(lines)
}

/// A cell as a person typed it: whole numbers without `.0`, dates as `2026-12-31` (with
/// `19:30` when they carry a time), times as `19:30`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty | Data::Error(_) => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(dt) => excel_date(dt.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
    }
}

/// An Excel serial date (days since 1899-12-30, the fraction the time of day).
fn excel_date(serial: f64) -> String {
    let days = serial.floor() as i64;
    let seconds = ((serial - serial.floor()) * 86_400.0).round() as i64;
    let (h, m) = (seconds / 3600 % 24, seconds / 60 % 60);
    if days == 0 {
        return format!("{h:02}:{m:02}");
    }
    // Days from 1970-01-01, then the civil date (Howard Hinnant's algorithm).
    let z = days - 25_569 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    if seconds == 0 {
        format!("{y:04}-{mo:02}-{d:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}")
    }
}

/// The spreadsheet column name of a 0-based index: A…Z, AA….
pub fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The first line is the header: one person column, named variable columns; the rest are rows.
fn from_lines(lines: Lines) -> Result<Sheet, Refusal> {
    let mut lines = lines.into_iter();
    let Some((header_line, header)) = lines.next() else {
        return Err(refused(Problem::NoPersonColumn { line: 1 }));
    };
    let rows: Lines = lines.collect();
    if rows.len() > SHEET_ROWS_MAX {
        return Err(refused(Problem::TooManyRows(SHEET_ROWS_MAX)));
    }
    let width = rows
        .iter()
        .map(|(_, cells)| cells.len())
        .chain([header.len()])
        .max()
        .unwrap_or(0);
    let mut person: Option<(usize, PersonColumn)> = None;
    // (cell index, name) of each variable column.
    let mut columns: Vec<(usize, String)> = Vec::new();
    for index in 0..width {
        let name = header.get(index).map_or("", |h| h.trim());
        let column = || column_letter(index);
        if name.is_empty() {
            let holds_values = rows
                .iter()
                .any(|(_, cells)| cells.get(index).is_some_and(|c| !c.is_empty()));
            if holds_values {
                return Err(refused(Problem::EmptyHeader {
                    line: header_line,
                    column: column(),
                }));
            }
            continue;
        }
        if let Some(kind) = PersonColumn::parse(name) {
            if person.is_some() {
                return Err(refused(Problem::SeveralPersonColumns { line: header_line }));
            }
            person = Some((index, kind));
            continue;
        }
        if columns.iter().any(|(_, n)| n == name) {
            return Err(refused(Problem::DuplicateHeader {
                line: header_line,
                column: column(),
                name: name.to_owned(),
            }));
        }
        columns.push((index, name.to_owned()));
    }
    let Some((person_index, person)) = person else {
        return Err(refused(Problem::NoPersonColumn { line: header_line }));
    };
    let cell = |cells: &[String], i: usize| cells.get(i).map_or(String::new(), |c| c.to_owned());
    let rows = rows
        .into_iter()
        .map(|(line, cells)| SheetRow {
            line,
            person: cell(&cells, person_index),
            values: columns.iter().map(|(i, _)| cell(&cells, *i)).collect(),
        })
        .collect();
    Ok(Sheet {
        person,
        columns: columns.into_iter().map(|(_, n)| n).collect(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(bytes: &[u8]) -> Problem {
        match parse_sheet(bytes) {
            Err(r) => r.problem,
            Ok(s) => panic!("parsed: {s:?}"),
        }
    }

    #[test]
    fn csv_with_bom_blank_lines_and_quoted_commas() {
        let sheet = parse_sheet(
            "\u{feff}openid,积分,备注\r\n\r\noA1, 1280 ,\"满 100, 减 10\"\noA2,5\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(sheet.person, PersonColumn::Openid);
        assert_eq!(sheet.columns, vec!["积分", "备注"]);
        assert_eq!(sheet.rows.len(), 2);
        assert_eq!(sheet.rows[0].line, 3);
        assert_eq!(sheet.rows[0].values, vec!["1280", "满 100, 减 10"]);
        assert_eq!(sheet.rows[1].values, vec!["5", ""]);
        assert_eq!(sheet.rows[1].line, 4);
        // A quoted value over two lines: the next row's line still counts both.
        let sheet = parse_sheet(b"openid,x\no1,\"a\nb\"\n\no2,c\n").unwrap();
        let lines: Vec<usize> = sheet.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 5]);
    }

    #[test]
    fn gb18030_as_excel_in_china_saves_it() {
        let (bytes, _, _) = encoding_rs::GB18030.encode("unionid,姓名\nu1,张三\n");
        let sheet = parse_sheet(&bytes).unwrap();
        assert_eq!(sheet.person, PersonColumn::Unionid);
        assert_eq!(sheet.columns, vec!["姓名"]);
        assert_eq!(sheet.rows[0].values, vec!["张三"]);
    }

    #[test]
    fn semicolons_and_tabs_separate_too() {
        let sheet = parse_sheet(b"mp_openid;x\no1;2\n").unwrap();
        assert_eq!(sheet.person, PersonColumn::MpOpenid);
        assert_eq!(sheet.rows[0].values, vec!["2"]);
        let sheet = parse_sheet(b"openid\tx\no1\t2\n").unwrap();
        assert_eq!(sheet.rows[0].values, vec!["2"]);
    }

    #[test]
    fn header_problems_name_line_and_column() {
        assert_eq!(
            problem("\nopenid,积分,,x\no1,1,2,3\n".as_bytes()),
            Problem::EmptyHeader {
                line: 2,
                column: "C".into()
            }
        );
        assert_eq!(
            problem(b"name,points\na,1\n"),
            Problem::NoPersonColumn { line: 1 }
        );
        assert_eq!(
            problem(b"openid,unionid\na,b\n"),
            Problem::SeveralPersonColumns { line: 1 }
        );
        assert_eq!(
            problem(b"openid,x,x\na,1,2\n"),
            Problem::DuplicateHeader {
                line: 1,
                column: "C".into(),
                name: "x".into()
            }
        );
        // An empty header over an empty column is just the end of the table.
        assert!(parse_sheet(b"openid,x,\na,1,\n").is_ok());
    }

    #[test]
    fn binary_and_broken_files_are_not_spreadsheets() {
        assert_eq!(problem(b"\x89PNG\r\n\x1a\n\0\0"), Problem::NotASpreadsheet);
        assert_eq!(problem(b"PK\x03\x04garbage"), Problem::NotASpreadsheet);
        assert_eq!(
            problem(&[0xD0, 0xCF, 0x11, 0xE0, 1, 2]),
            Problem::NotASpreadsheet
        );
    }

    #[test]
    fn more_than_the_row_limit_is_refused() {
        let mut text = String::from("openid,x\n");
        for i in 0..=SHEET_ROWS_MAX {
            text.push_str(&format!("o{i},1\n"));
        }
        assert_eq!(
            problem(text.as_bytes()),
            Problem::TooManyRows(SHEET_ROWS_MAX)
        );
    }

    #[test]
    fn excel_dates_and_columns() {
        assert_eq!(excel_date(46_022.0), "2025-12-31");
        assert_eq!(excel_date(46_022.812_5), "2025-12-31 19:30");
        assert_eq!(excel_date(0.812_5), "19:30");
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
    }
}
