//! A very small SVG writer shared by the renderers: escaping, word wrapping, text width
//! estimates, and a buffer of shapes that becomes one self-contained `<svg>` document.
//!
//! Every coordinate is an integer, so the same input always gives byte-identical output and a
//! committed diagram can be compared with a freshly drawn one.
//!
//! Text is measured, not guessed at draw time: a monospace character is 0.6 em wide (7.2 px
//! at 12 px), and so is the average bold character of a system font. Regular system-font text
//! averages under 0.55 em even in the widest common font (DejaVu Sans), so boxes sized with
//! [`text_width`] and [`sans_width`] always hold their text.

use std::fmt::Write;

/// Font stacks: the system's own UI font, and its monospace font for code and bytes.
pub(crate) const SANS: &str =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
pub(crate) const MONO: &str =
    "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', 'Liberation Mono', monospace";

/// Text colour (GitHub's light theme); the renderers' style sheets hold the other colours.
const INK: &str = "#1f2328";

/// Width in pixels of `s` drawn at `size` px: 0.6 em per character, rounded up.
pub(crate) fn text_width(s: &str, size: i32) -> i32 {
    let chars = s.chars().filter(|&c| c != '`').count() as i32;
    (chars * size * 6 + 9) / 10
}

/// Width in pixels of `s` in the regular (not bold) system font at `size` px: 0.55 em per
/// character, rounded up.
pub(crate) fn sans_width(s: &str, size: i32) -> i32 {
    let chars = s.chars().filter(|&c| c != '`').count() as i32;
    (chars * size * 55 + 99) / 100
}

/// How many characters of regular system-font text fit in `width` pixels at `size` px.
pub(crate) fn sans_chars(width: i32, size: i32) -> usize {
    (width * 100 / (size * 55)).max(1) as usize
}

/// Bytes as spaced lowercase hex (`81 85 37 fa`), cut after `max` bytes with `...`: how the
/// sequence diagrams show a frame's real bytes on an arrow.
pub(super) fn hex(bytes: &[u8], max: usize) -> String {
    let mut s: Vec<String> = bytes.iter().take(max).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > max {
        s.push("...".into());
    }
    s.join(" ")
}

/// Escape text for XML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Greedy word wrap to lines of at most `max` characters; a word longer than a line is cut.
/// Explicit `\n` in the text always starts a new line.
pub(crate) fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let mut word: Vec<char> = word.chars().collect();
            while word.len() > max {
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                lines.push(word.drain(..max).collect());
            }
            let word: String = word.into_iter().collect();
            let needed = if line.is_empty() { 0 } else { 1 } + word.chars().count();
            if !line.is_empty() && line.chars().count() + needed > max {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
        lines.push(line);
    }
    lines
}

/// Where a text's `x` is: its start, middle or end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// Shapes in paint order (later ones are drawn on top).
#[derive(Debug, Default)]
pub(crate) struct Svg {
    body: String,
}

impl Svg {
    pub(crate) fn new() -> Self {
        Svg::default()
    }

    /// A rectangle; `class` names a rule of the renderer's style sheet.
    pub(crate) fn rect(&mut self, x: i32, y: i32, w: i32, h: i32, rx: i32, class: &str) {
        let _ = write!(
            self.body,
            r#"<rect class="{class}" x="{x}" y="{y}" width="{w}" height="{h}""#
        );
        if rx > 0 {
            let _ = write!(self.body, r#" rx="{rx}""#);
        }
        self.body.push_str("/>\n");
    }

    pub(crate) fn line(&mut self, x1: i32, y1: i32, x2: i32, y2: i32, class: &str) {
        let _ = writeln!(
            self.body,
            r#"<line class="{class}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>"#
        );
    }

    /// A closed or open outline through `points`.
    pub(crate) fn poly(&mut self, points: &[(i32, i32)], closed: bool, class: &str) {
        let tag = if closed { "polygon" } else { "polyline" };
        let pts: Vec<String> = points.iter().map(|(x, y)| format!("{x},{y}")).collect();
        let _ = writeln!(
            self.body,
            r#"<{tag} class="{class}" points="{}"/>"#,
            pts.join(" ")
        );
    }

    /// One line of text with its baseline at `y`. Text between backticks is set in the
    /// monospace font (class `code`), as in Markdown.
    pub(crate) fn text(&mut self, x: i32, y: i32, anchor: Anchor, class: &str, s: &str) {
        let anchor = match anchor {
            Anchor::Start => "",
            Anchor::Middle => r#" text-anchor="middle""#,
            Anchor::End => r#" text-anchor="end""#,
        };
        let _ = write!(
            self.body,
            r#"<text class="{class}" x="{x}" y="{y}"{anchor}>"#
        );
        if s.contains('`') {
            for (i, part) in s.split('`').enumerate() {
                if i % 2 == 1 {
                    let _ = write!(self.body, r#"<tspan class="code">{}</tspan>"#, escape(part));
                } else {
                    self.body.push_str(&escape(part));
                }
            }
        } else {
            self.body.push_str(&escape(s));
        }
        self.body.push_str("</text>\n");
    }

    /// Append everything drawn in `other`, on top of what is here.
    pub(crate) fn append(&mut self, other: Svg) {
        self.body.push_str(&other.body);
    }

    /// The finished document: size, title (read by screen readers and shown as a tooltip),
    /// style sheet, white background, then the shapes.
    pub(crate) fn finish(self, width: i32, height: i32, title: &str, css: &str) -> String {
        let mut out = String::with_capacity(self.body.len() + css.len() + 512);
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-labelledby="title">"#
        );
        let _ = writeln!(out, r#"<title id="title">{}</title>"#, escape(title));
        out.push_str("<style>\n");
        let _ = writeln!(
            out,
            "text {{ font-family: {SANS}; font-size: 12px; fill: {INK}; }}"
        );
        let _ = writeln!(out, ".code, .mono {{ font-family: {MONO}; }}");
        let _ = writeln!(out, ".title {{ font-size: 16px; font-weight: 700; }}");
        out.push_str(css);
        out.push_str("</style>\n");
        let _ = writeln!(
            out,
            r##"<rect width="{width}" height="{height}" fill="#ffffff"/>"##
        );
        out.push_str(&self.body);
        out.push_str("</svg>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_the_xml_specials() {
        assert_eq!(
            escape(r#"a<b & "c" 'd'>"#),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
    }

    #[test]
    fn wrap_keeps_lines_within_the_limit() {
        let lines = wrap("the peer will send no more, it can still receive", 16);
        assert_eq!(
            lines,
            ["the peer will", "send no more, it", "can still", "receive"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("one\ntwo", 40), ["one", "two"]);
    }

    #[test]
    fn monospace_is_seven_point_two_pixels_at_twelve() {
        assert_eq!(text_width("0123456789", 12), 72);
        assert_eq!(text_width("`code`", 12), 29); // backticks only switch fonts
    }

    #[test]
    fn text_between_backticks_is_code() {
        let mut svg = Svg::new();
        svg.text(0, 0, Anchor::Start, "t", "exactly `length` bytes & more");
        assert!(svg
            .body
            .contains(r#"exactly <tspan class="code">length</tspan> bytes &amp; more"#));
    }
}
