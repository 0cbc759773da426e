//! Turns the `ansi` lines of a coop screen (text with SGR escape sequences) into styled
//! segments, so tile previews show colours without an xterm instance per tile.

/// The 16 basic terminal colours (xterm's defaults).
const BASIC: [&str; 16] = [
    "#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
    "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff",
];

/// Visual attributes of a run of text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Style {
    /// Foreground colour as CSS, when not the default.
    pub fg: Option<String>,
    /// Background colour as CSS, when not the default.
    pub bg: Option<String>,
    /// Bold.
    pub bold: bool,
    /// Dim (faint).
    pub dim: bool,
    /// Italic.
    pub italic: bool,
    /// Underlined.
    pub underline: bool,
    /// Foreground and background swapped.
    pub inverse: bool,
}

impl Style {
    /// The inline CSS for this style; empty for the default style.
    pub fn css(&self) -> String {
        let (fg, bg) = if self.inverse {
            (
                Some(self.bg.clone().unwrap_or_else(|| "var(--term-bg)".into())),
                Some(self.fg.clone().unwrap_or_else(|| "var(--term-fg)".into())),
            )
        } else {
            (self.fg.clone(), self.bg.clone())
        };
        let mut css = String::new();
        if let Some(c) = fg {
            css.push_str(&format!("color:{c};"));
        }
        if let Some(c) = bg {
            css.push_str(&format!("background:{c};"));
        }
        if self.bold {
            css.push_str("font-weight:bold;");
        }
        if self.dim {
            css.push_str("opacity:.7;");
        }
        if self.italic {
            css.push_str("font-style:italic;");
        }
        if self.underline {
            css.push_str("text-decoration:underline;");
        }
        css
    }
}

/// A run of text with one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The visible characters.
    pub text: String,
    /// How they look.
    pub style: Style,
}

/// Colour of the 256-colour palette entry `n`, as CSS.
fn palette(n: u16) -> String {
    match n {
        0..=15 => BASIC[n as usize].to_owned(),
        16..=231 => {
            let i = n - 16;
            let level = |v: u16| if v == 0 { 0 } else { 55 + v * 40 };
            format!(
                "rgb({},{},{})",
                level(i / 36),
                level(i / 6 % 6),
                level(i % 6)
            )
        }
        _ => {
            let g = 8 + (n.min(255) - 232) * 10;
            format!("rgb({g},{g},{g})")
        }
    }
}

/// Applies one SGR parameter list to `style`.
fn apply_sgr(style: &mut Style, params: &[u16]) {
    let mut i = 0;
    if params.is_empty() {
        *style = Style::default();
    }
    while i < params.len() {
        let p = params[i];
        match p {
            0 => *style = Style::default(),
            1 => style.bold = true,
            2 => style.dim = true,
            3 => style.italic = true,
            4 => style.underline = true,
            7 => style.inverse = true,
            22 => {
                style.bold = false;
                style.dim = false;
            }
            23 => style.italic = false,
            24 => style.underline = false,
            27 => style.inverse = false,
            30..=37 => style.fg = Some(BASIC[(p - 30) as usize].to_owned()),
            39 => style.fg = None,
            40..=47 => style.bg = Some(BASIC[(p - 40) as usize].to_owned()),
            49 => style.bg = None,
            90..=97 => style.fg = Some(BASIC[(p - 90 + 8) as usize].to_owned()),
            100..=107 => style.bg = Some(BASIC[(p - 100 + 8) as usize].to_owned()),
            38 | 48 => {
                let colour = match params.get(i + 1) {
                    Some(5) => {
                        let c = params.get(i + 2).map(|&n| palette(n));
                        i += 2;
                        c
                    }
                    Some(2) => {
                        let c = match params.get(i + 2..i + 5) {
                            Some([r, g, b]) => Some(format!("rgb({r},{g},{b})")),
                            _ => None,
                        };
                        i += 4;
                        c
                    }
                    _ => None,
                };
                if p == 38 {
                    style.fg = colour;
                } else {
                    style.bg = colour;
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// Splits one line of text with escape sequences into styled segments. SGR sequences change
/// the style; every other escape sequence is dropped.
pub fn parse_line(line: &str) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut style = Style::default();
    let mut text = String::new();
    let mut chars = line.chars().peekable();
    let flush = |out: &mut Vec<Segment>, text: &mut String, style: &Style| {
        if !text.is_empty() {
            out.push(Segment {
                text: std::mem::take(text),
                style: style.clone(),
            });
        }
    };
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                let mut body = String::new();
                let mut final_byte = None;
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        final_byte = Some(c);
                        break;
                    }
                    body.push(c);
                }
                if final_byte == Some('m') {
                    flush(&mut out, &mut text, &style);
                    let params: Vec<u16> = body
                        .split([';', ':'])
                        .filter_map(|p| {
                            if p.is_empty() {
                                Some(0)
                            } else {
                                p.parse().ok()
                            }
                        })
                        .collect();
                    apply_sgr(&mut style, &params);
                }
            }
            // OSC: skip to BEL or ST.
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    flush(&mut out, &mut text, &style);
    out
}

/// Rows of text with SGR sequences as HTML: one line per row, styled runs as `<span>`s,
/// text escaped (safe for `inner_html`).
pub fn rows_html<S: AsRef<str>>(rows: &[S]) -> String {
    let mut html = String::new();
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            html.push('\n');
        }
        for seg in parse_line(row.as_ref()) {
            let css = seg.style.css();
            if css.is_empty() {
                escape_into(&seg.text, &mut html);
            } else {
                html.push_str("<span style=\"");
                escape_into(&css, &mut html);
                html.push_str("\">");
                escape_into(&seg.text, &mut html);
                html.push_str("</span>");
            }
        }
    }
    html
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_escaped_styled_html() {
        let rows = ["\x1b[31m<b>&\x1b[0m ok", "$"];
        assert_eq!(
            rows_html(&rows),
            "<span style=\"color:#cd3131;\">&lt;b&gt;&amp;</span> ok\n$"
        );
    }

    #[test]
    fn plain_text_is_one_default_segment() {
        let segs = parse_line("hello world");
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].text, "hello world");
        assert_eq!(segs[0].style, Style::default());
        assert_eq!(segs[0].style.css(), "");
    }

    #[test]
    fn basic_colours_bold_and_reset() {
        let segs = parse_line("a\u{1b}[1;31mred\u{1b}[0m b");
        let texts: Vec<_> = segs.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["a", "red", " b"]);
        assert_eq!(segs[1].style.fg.as_deref(), Some("#cd3131"));
        assert!(segs[1].style.bold);
        assert_eq!(segs[2].style, Style::default());
        assert_eq!(segs[1].style.css(), "color:#cd3131;font-weight:bold;");
    }

    #[test]
    fn extended_colours() {
        let segs = parse_line("\u{1b}[38;5;196mx\u{1b}[48;2;1;2;3my\u{1b}[38;5;244mz");
        assert_eq!(segs[0].style.fg.as_deref(), Some("rgb(255,0,0)"));
        assert_eq!(segs[1].style.bg.as_deref(), Some("rgb(1,2,3)"));
        assert_eq!(segs[2].style.fg.as_deref(), Some("rgb(128,128,128)"));
    }

    #[test]
    fn bright_colours_and_inverse() {
        let segs = parse_line("\u{1b}[92;7mok");
        assert_eq!(segs[0].style.fg.as_deref(), Some("#23d18b"));
        assert!(segs[0]
            .style
            .css()
            .starts_with("color:var(--term-bg);background:#23d18b;"));
    }

    #[test]
    fn other_escapes_are_dropped() {
        let segs = parse_line("\u{1b}[2Ka\u{1b}]0;title\u{7}b\u{1b}[?25lc");
        let text: String = segs.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "abc");
    }

    #[test]
    fn truncated_sequences_do_not_panic() {
        for line in [
            "\u{1b}",
            "\u{1b}[",
            "\u{1b}[38;5",
            "\u{1b}[38;2;1m",
            "x\u{1b}]unterminated",
        ] {
            let _ = parse_line(line);
        }
        assert_eq!(parse_line("\u{1b}[38;2;1mq")[0].text, "q");
    }
}
