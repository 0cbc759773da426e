//! The server-side terminal emulator: a vt100 parser fed with every PTY byte.
//!
//! Parsing is cheap and happens on every chunk; rendering (`lines`, `ansi`) happens only on
//! demand, because building strings for every chunk would cost more than the parsing itself.

use protocol::coop;
use std::fmt::Write as _;
use vt100::Color;

/// Scrollback rows kept by the parser: none, the output log keeps history.
const SCROLLBACK_ROWS: usize = 0; // rows

/// A terminal emulator with a change counter.
pub struct Screen {
    parser: vt100::Parser,
    /// Incremented on every change (output processed or resize).
    seq: u64,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screen").field("seq", &self.seq).finish()
    }
}

impl Screen {
    /// An empty screen of the given size.
    pub fn new(cols: u16, rows: u16) -> Self {
        Self {
            parser: vt100::Parser::new(rows, cols, SCROLLBACK_ROWS),
            seq: 0,
        }
    }

    /// Feeds output bytes to the emulator.
    pub fn process(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
        self.seq += 1;
    }

    /// Changes the size.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.parser.screen_mut().set_size(rows, cols);
        self.seq += 1;
    }

    /// The change counter.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// `(cols, rows)`.
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (cols, rows)
    }

    /// Renders the full snapshot (plain and coloured rows).
    pub fn snapshot(&self) -> coop::Screen {
        let screen = self.parser.screen();
        let (rows, cols) = screen.size();
        let lines = plain_rows(screen, cols);
        let ansi = (0..rows).map(|row| ansi_row(screen, row, cols)).collect();
        let cursor = (!screen.hide_cursor()).then(|| {
            let (row, col) = screen.cursor_position();
            coop::Cursor { row, col }
        });
        coop::Screen {
            lines,
            ansi,
            cols,
            rows,
            alt_screen: screen.alternate_screen(),
            cursor,
            seq: self.seq,
        }
    }

    /// Plain text of the screen: every row, each ended by a newline.
    pub fn text(&self) -> String {
        let screen = self.parser.screen();
        let (_, cols) = screen.size();
        let mut text = String::new();
        for line in plain_rows(screen, cols) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }
}

/// Each row as plain text without its trailing spaces, as coop reports rows.
fn plain_rows(screen: &vt100::Screen, cols: u16) -> Vec<String> {
    screen
        .rows(0, cols)
        .map(|mut row| {
            row.truncate(row.trim_end_matches(' ').len());
            row
        })
        .collect()
}

/// The attributes that SGR escapes express.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Style {
    fg: Color,
    bg: Color,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    inverse: bool,
}

impl Style {
    fn of(cell: &vt100::Cell) -> Self {
        Self {
            fg: cell.fgcolor(),
            bg: cell.bgcolor(),
            bold: cell.bold(),
            dim: cell.dim(),
            italic: cell.italic(),
            underline: cell.underline(),
            inverse: cell.inverse(),
        }
    }

    /// Writes `ESC [ 0 ; … m`: a full reset then this style, so no state leaks between rows.
    fn write_sgr(&self, out: &mut String) {
        out.push_str("\x1b[0");
        for (on, code) in [
            (self.bold, 1),
            (self.dim, 2),
            (self.italic, 3),
            (self.underline, 4),
            (self.inverse, 7),
        ] {
            if on {
                let _ = write!(out, ";{code}");
            }
        }
        write_color(out, self.fg, 30, 90, 38);
        write_color(out, self.bg, 40, 100, 48);
        out.push('m');
    }

    /// Whether a blank cell with this style is visible (so it must not be trimmed).
    fn shows_blank(&self) -> bool {
        self.bg != Color::Default || self.inverse || self.underline
    }
}

fn write_color(out: &mut String, color: Color, base: u8, bright: u8, extended: u8) {
    match color {
        Color::Default => {}
        Color::Idx(n) if n < 8 => {
            let _ = write!(out, ";{}", base + n);
        }
        Color::Idx(n) if n < 16 => {
            let _ = write!(out, ";{}", bright + n - 8);
        }
        Color::Idx(n) => {
            let _ = write!(out, ";{extended};5;{n}");
        }
        Color::Rgb(r, g, b) => {
            let _ = write!(out, ";{extended};2;{r};{g};{b}");
        }
    }
}

/// One row as text with SGR escapes; trailing unstyled blanks are trimmed.
fn ansi_row(screen: &vt100::Screen, row: u16, cols: u16) -> String {
    let cells: Vec<&vt100::Cell> = (0..cols).filter_map(|c| screen.cell(row, c)).collect();
    let end = cells
        .iter()
        .rposition(|c| (c.has_contents() && c.contents() != " ") || Style::of(c).shows_blank())
        .map_or(0, |i| i + 1);
    let mut out = String::new();
    let mut current = Style::default();
    for cell in &cells[..end] {
        if cell.is_wide_continuation() {
            continue;
        }
        let style = Style::of(cell);
        if style != current {
            style.write_sgr(&mut out);
            current = style;
        }
        if cell.has_contents() {
            out.push_str(cell.contents());
        } else {
            out.push(' ');
        }
    }
    if current != Style::default() {
        out.push_str("\x1b[0m");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_plain_and_coloured_rows() {
        let mut s = Screen::new(20, 3);
        s.process(b"plain\r\n\x1b[1;31mred\x1b[0m ok\r\n\x1b[38;5;200mx\x1b[48;2;1;2;3my");
        let snap = s.snapshot();
        assert_eq!(snap.lines[0], "plain");
        assert_eq!(snap.lines[1], "red ok");
        assert_eq!(snap.ansi[0], "plain");
        assert_eq!(snap.ansi[1], "\x1b[0;1;31mred\x1b[0m ok");
        assert_eq!(
            snap.ansi[2],
            "\x1b[0;38;5;200mx\x1b[0;38;5;200;48;2;1;2;3my\x1b[0m"
        );
        assert_eq!(snap.seq, 1);
        assert_eq!(snap.cursor, Some(coop::Cursor { row: 2, col: 2 }));
    }

    #[test]
    fn trailing_spaces_are_trimmed_but_coloured_blanks_kept() {
        let mut s = Screen::new(20, 3);
        s.process(b"ab   \r\n\x1b[41m  \x1b[0m   \r\n  x  ");
        let snap = s.snapshot();
        assert_eq!(snap.lines, ["ab", "", "  x"]);
        assert_eq!(snap.ansi[0], "ab");
        assert_eq!(snap.ansi[1], "\x1b[0;41m  \x1b[0m");
        assert_eq!(s.text(), "ab\n\n  x\n");
    }

    #[test]
    fn tracks_alt_screen_wide_chars_and_resize() {
        let mut s = Screen::new(10, 2);
        s.process("日本\x1b[?1049h".as_bytes());
        let snap = s.snapshot();
        assert!(snap.alt_screen);
        assert_eq!(snap.lines[0], "");
        s.process(b"\x1b[?1049l");
        let snap = s.snapshot();
        assert!(!snap.alt_screen);
        assert_eq!(snap.lines[0], "日本");
        assert_eq!(snap.ansi[0], "日本");
        s.resize(30, 5);
        assert_eq!(s.size(), (30, 5));
        assert_eq!(s.seq(), 3);
        assert_eq!(s.text(), format!("日本\n{}", "\n".repeat(4)));
    }
}
