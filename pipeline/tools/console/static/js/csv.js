// CSV for spreadsheets: every cell quoted (RFC 4180), and no cell a spreadsheet would run as a formula.
//
// OWASP's CSV-injection rule: a cell that starts with = + - @ TAB or CR gets a leading single quote, so
// spreadsheets show it as text. A cell that is a plain decimal number (-5, +1.5, -2e3) is the exception: a
// spreadsheet reads it as that number, never as a formula, and quoting it would turn numbers into text.

const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function csvCell(value) {
  if (value === null || value === undefined) return "";
  let text = typeof value === "object" ? JSON.stringify(value) : String(value);
  if (FORMULA_START.test(text) && !PLAIN_NUMBER.test(text)) text = `'${text}`;
  return `"${text.replaceAll('"', '""')}"`;
}

export function toCsv(columns, rows) {
  return [columns, ...rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}
