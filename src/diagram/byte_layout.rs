//! Byte layouts, drawn the way RFCs draw them: rows of 32 bits under a bit ruler, one box per
//! field spanning its bits, and a variable-length field as a box with a ragged bottom edge.
//!
//! ```text
//!   0                   1                   2                   3
//!   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  |                            length                             |
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  |                        payload ... variable                   |
//!  +/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\/\+
//! ```
//!
//! The input is the same [`Field`] table the encoder and `--trace` use, so the picture cannot
//! drift from the code. Under the picture a legend repeats each field with its meaning, and an
//! optional [`Example`] shows the bytes of one real message, each part bracketed and named.

use std::ops::Range;

use super::svg::{sans_chars, text_width, wrap, Anchor, Svg};
use super::Field;

/// The bytes of one real message, drawn under the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// One line above the bytes, e.g. what was encoded.
    pub caption: String,
    pub bytes: Vec<u8>,
    /// Byte ranges and what they hold, in wire order (a `--trace` annotation fits). Part `k`
    /// is coloured like field `k` of the layout.
    pub parts: Vec<(Range<usize>, String)>,
}

/// Draw the layout of `fields` as a standalone SVG document.
pub fn render_layout(title: &str, fields: &[Field]) -> String {
    render(title, fields, None)
}

/// Draw the layout of `fields`, and under it the bytes of `example`.
pub fn render_layout_with_example(title: &str, fields: &[Field], example: &Example) -> String {
    render(title, fields, Some(example))
}

const BITS_PER_ROW: i32 = 32;
const BIT_W: i32 = 26;
const ROW_H: i32 = 46;
const MARGIN: i32 = 24;
/// Room left of the grid for each row's byte offset.
const GUTTER: i32 = 56;
const GRID_X: i32 = MARGIN + GUTTER;
const GRID_W: i32 = BITS_PER_ROW * BIT_W;
const GRID_RIGHT: i32 = GRID_X + GRID_W;
const WIDTH: i32 = GRID_RIGHT + MARGIN;
const TITLE_Y: i32 = 32;
const GRID_TOP: i32 = 84;
/// Fills and stroke colours, one pair per field, in turn.
const PALETTE: usize = 5;

const CSS: &str = "\
.box { stroke: #57606a; stroke-width: 1; }
.f0 { fill: #ddf4ff; } .f1 { fill: #fff8c5; } .f2 { fill: #dafbe1; } .f3 { fill: #fbefff; } .f4 { fill: #ffebe9; }
.k0 { stroke: #0969da; } .k1 { stroke: #9a6700; } .k2 { stroke: #1a7f37; } .k3 { stroke: #8250df; } .k4 { stroke: #cf222e; }
.blank { fill: #ffffff; }
.bracket { fill: none; stroke-width: 1.5; }
.tick { stroke: #8c959f; stroke-width: 1; }
.rule { stroke: #d0d7de; stroke-width: 1; }
.tick, .rule { shape-rendering: crispEdges; }
.name { font-weight: 700; }
.muted { fill: #57606a; }
.s13 { font-size: 13px; } .s12 { font-size: 12px; } .s11 { font-size: 11px; }
.s10 { font-size: 10px; } .s9 { font-size: 9px; }
.hex { font-size: 14px; }
.caption { font-size: 13px; font-weight: 700; }
";

/// Where one field, or the part of it that fits in a row, is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// `bits` bits from column `col` of row `row`; `first` is false for the rest of a field
    /// that did not fit in one row.
    Fixed {
        field: usize,
        row: i32,
        col: i32,
        bits: i32,
        first: bool,
    },
    /// A variable-length field starting at column `col` of row `row`: the rest of that row
    /// (if it started mid-row) and one more full row with a ragged bottom edge.
    Variable { field: usize, row: i32, col: i32 },
}

/// Where every field goes.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    pieces: Vec<Piece>,
    rows: i32,
    /// Rows that start right after a variable-length field. From the first one on, a row's
    /// byte offset is no longer known; each is drawn a little apart from the rows above it.
    breaks: Vec<i32>,
}

impl Plan {
    /// Top of `row`, counting the space left after each variable-length field above it.
    fn row_top(&self, row: i32) -> i32 {
        let breaks = self.breaks.iter().filter(|&&b| b <= row).count() as i32;
        GRID_TOP + row * ROW_H + breaks * BREAK_GAP
    }

    fn offset_known(&self, row: i32) -> bool {
        self.breaks.first().is_none_or(|&b| row < b)
    }
}

/// Space between a ragged edge and the row under it.
const BREAK_GAP: i32 = 12;

fn plan(fields: &[Field]) -> Plan {
    let mut pieces = vec![];
    let (mut row, mut col) = (0, 0);
    let mut breaks = vec![];
    for (field, f) in fields.iter().enumerate() {
        match f.bits {
            Some(bits) => {
                let mut left = bits as i32;
                let mut first = true;
                while left > 0 {
                    let bits = left.min(BITS_PER_ROW - col);
                    pieces.push(Piece::Fixed {
                        field,
                        row,
                        col,
                        bits,
                        first,
                    });
                    first = false;
                    left -= bits;
                    col += bits;
                    if col == BITS_PER_ROW {
                        row += 1;
                        col = 0;
                    }
                }
            }
            None => {
                pieces.push(Piece::Variable { field, row, col });
                row += if col == 0 { 1 } else { 2 };
                col = 0;
                breaks.push(row);
            }
        }
    }
    let rows = row + i32::from(col > 0);
    Plan {
        pieces,
        rows,
        breaks,
    }
}

fn render(title: &str, fields: &[Field], example: Option<&Example>) -> String {
    let width = WIDTH.max(text_width(title, 16) + 2 * MARGIN);
    let mut svg = Svg::new();
    svg.text(MARGIN, TITLE_Y, Anchor::Start, "title", title);
    draw_ruler(&mut svg);

    let plan = plan(fields);
    for row in (0..plan.rows).filter(|&r| plan.offset_known(r)) {
        let y = plan.row_top(row) + ROW_H / 2 + 4;
        let offset = format!("byte {}", row * BITS_PER_ROW / 8);
        svg.text(GRID_X - 10, y, Anchor::End, "mono s10 muted", &offset);
    }
    for piece in &plan.pieces {
        draw_piece(&mut svg, piece, fields, &plan);
    }

    let mut y = plan.row_top(plan.rows) + 34;
    y = draw_legend(&mut svg, fields, y, width);
    if let Some(example) = example {
        y = draw_example(&mut svg, example, y + 18);
    }
    svg.finish(width, y + 16, title, CSS)
}

/// Bit numbers 0..31 over the grid, with a tick between bits and a longer one between bytes.
fn draw_ruler(svg: &mut Svg) {
    let y = GRID_TOP - 14;
    svg.text(GRID_X - 10, y, Anchor::End, "mono s10 muted", "bit");
    for bit in 0..BITS_PER_ROW {
        let x = GRID_X + bit * BIT_W + BIT_W / 2;
        svg.text(x, y, Anchor::Middle, "mono s10 muted", &bit.to_string());
    }
    for edge in 0..=BITS_PER_ROW {
        let x = GRID_X + edge * BIT_W;
        let len = if edge % 8 == 0 { 9 } else { 4 };
        svg.line(x, GRID_TOP - len, x, GRID_TOP, "tick");
    }
}

fn draw_piece(svg: &mut Svg, piece: &Piece, fields: &[Field], plan: &Plan) {
    match *piece {
        Piece::Fixed {
            field,
            row,
            col,
            bits,
            first,
        } => {
            let (x, y, w) = (GRID_X + col * BIT_W, plan.row_top(row), bits * BIT_W);
            svg.rect(x, y, w, ROW_H, 0, &format!("box f{}", field % PALETTE));
            let f = &fields[field];
            let size = if first {
                size_text(f.bits.unwrap_or(0))
            } else {
                "(cont.)".to_string()
            };
            draw_box_text(svg, x + w / 2, y, w - 4, f.name, &size);
        }
        Piece::Variable { field, row, col } => {
            let y = plan.row_top(row);
            let start = GRID_X + col * BIT_W;
            // A field starting mid-row takes the rest of its row, then one more full row.
            let band_top = if col == 0 { y } else { y + ROW_H };
            let bottom = band_top + ROW_H;
            let mut outline = vec![(start, y), (GRID_RIGHT, y)];
            outline.extend(ragged_edge(bottom));
            if col > 0 {
                outline.push((GRID_X, band_top));
                outline.push((start, band_top));
            }
            svg.poly(&outline, true, &format!("box f{}", field % PALETTE));
            let f = &fields[field];
            draw_box_text(
                svg,
                GRID_X + GRID_W / 2,
                band_top - 3,
                GRID_W - 8,
                f.name,
                "... variable",
            );
        }
    }
}

/// The bottom edge of a variable-length field, right to left: a zigzag that says "and so on".
fn ragged_edge(bottom: i32) -> Vec<(i32, i32)> {
    const TOOTH: i32 = 13;
    let mut points = vec![];
    let mut x = GRID_RIGHT;
    let mut k = 0;
    while x > GRID_X {
        points.push((x, if k % 2 == 0 { bottom } else { bottom - 7 }));
        x -= TOOTH;
        k += 1;
    }
    points.push((GRID_X, bottom));
    points
}

fn size_text(bits: u32) -> String {
    match bits {
        8 => "8 bits, 1 byte".to_string(),
        b if b % 8 == 0 => format!("{b} bits, {} bytes", b / 8),
        1 => "1 bit".to_string(),
        b => format!("{b} bits"),
    }
}

/// A field's name, and its size under it, centred at `x` in a box `avail` pixels wide. A name
/// too long for a narrow box is set smaller, then cut (the legend has it in full).
fn draw_box_text(svg: &mut Svg, x: i32, top: i32, avail: i32, name: &str, size: &str) {
    let name_size = [13, 12, 11, 10, 9]
        .into_iter()
        .find(|&s| text_width(name, s) <= avail);
    let name = match name_size {
        Some(_) => name.to_string(),
        None => {
            let keep = (avail * 10 / (9 * 6)).max(2) as usize - 1;
            name.chars().take(keep).chain(['…']).collect()
        }
    };
    let class = format!("mono name s{}", name_size.unwrap_or(9));
    // The size line, as long as fits: "32 bits, 4 bytes", "32", or nothing.
    let short = size.split(' ').next().unwrap_or("");
    let size = [size, short]
        .into_iter()
        .find(|s| text_width(s, 10) <= avail);
    match size {
        Some(size) => {
            svg.text(x, top + 20, Anchor::Middle, &class, &name);
            svg.text(x, top + 35, Anchor::Middle, "mono s10 muted", size);
        }
        None => svg.text(x, top + ROW_H / 2 + 5, Anchor::Middle, &class, &name),
    }
}

/// Each field again, with its size and what it means; returns the y the legend ends at.
fn draw_legend(svg: &mut Svg, fields: &[Field], top: i32, width: i32) -> i32 {
    if fields.is_empty() {
        return top;
    }
    svg.line(MARGIN, top - 14, width - MARGIN, top - 14, "rule");
    let sizes: Vec<String> = fields
        .iter()
        .map(|f| f.bits.map_or("variable".to_string(), size_text))
        .collect();
    let name_x = MARGIN + 22;
    let name_w = fields
        .iter()
        .map(|f| text_width(f.name, 12))
        .max()
        .unwrap_or(0);
    let size_x = name_x + name_w + 16;
    let size_w = sizes.iter().map(|s| text_width(s, 11)).max().unwrap_or(0);
    let about_x = size_x + size_w + 16;
    let about_chars = sans_chars(width - MARGIN - about_x, 12).max(20);

    let mut y = top + 12;
    for (k, (f, size)) in fields.iter().zip(&sizes).enumerate() {
        svg.rect(MARGIN, y - 11, 14, 14, 2, &format!("box f{}", k % PALETTE));
        svg.text(name_x, y, Anchor::Start, "mono name s12", f.name);
        svg.text(size_x, y, Anchor::Start, "mono s11 muted", size);
        for line in wrap(f.about, about_chars) {
            svg.text(about_x, y, Anchor::Start, "about", &line);
            y += 17;
        }
        y += 6;
    }
    y
}

/// Room for one byte of the example: two hex digits over the character.
const CELL_W: i32 = 2 * BIT_W;
const CELL_H: i32 = 40;
const CELLS_PER_ROW: usize = (GRID_W / CELL_W) as usize;

/// The example's bytes in rows of cells, each part bracketed underneath and named; returns
/// the y the example ends at.
fn draw_example(svg: &mut Svg, example: &Example, top: i32) -> i32 {
    svg.text(MARGIN, top, Anchor::Start, "caption", &example.caption);
    let part_of = |i: usize| example.parts.iter().position(|(r, _)| r.contains(&i));
    let mut y = top + 22;
    for (row, chunk) in example.bytes.chunks(CELLS_PER_ROW).enumerate() {
        let first = row * CELLS_PER_ROW;
        let cells_top = y + 6;
        svg.text(
            GRID_X - 10,
            cells_top + 25,
            Anchor::End,
            "mono s10 muted",
            &format!("byte {first}"),
        );
        for (k, &byte) in chunk.iter().enumerate() {
            let x = GRID_X + k as i32 * CELL_W;
            let class = match part_of(first + k) {
                Some(p) => format!("box f{}", p % PALETTE),
                None => "box blank".to_string(),
            };
            svg.rect(x, cells_top, CELL_W, CELL_H, 0, &class);
            let mid = x + CELL_W / 2;
            svg.text(
                mid,
                cells_top + 19,
                Anchor::Middle,
                "mono hex",
                &format!("{byte:02x}"),
            );
            svg.text(
                mid,
                cells_top + 34,
                Anchor::Middle,
                "mono s11 muted",
                &shown_char(byte),
            );
        }

        // Brackets under this row's share of each part; a part's name under its first share,
        // on a lower line whenever it would run into the name before it.
        let row_bytes = first..first + chunk.len();
        let bracket_y = cells_top + CELL_H + 5;
        let mut line_ends: Vec<i32> = vec![];
        for (p, (range, label)) in example.parts.iter().enumerate() {
            let (start, end) = (
                range.start.max(row_bytes.start),
                range.end.min(row_bytes.end),
            );
            if start >= end {
                continue;
            }
            let x0 = GRID_X + (start - first) as i32 * CELL_W + 3;
            let x1 = GRID_X + (end - first) as i32 * CELL_W - 3;
            let bracket = [
                (x0, bracket_y),
                (x0, bracket_y + 6),
                (x1, bracket_y + 6),
                (x1, bracket_y),
            ];
            svg.poly(&bracket, false, &format!("bracket k{}", p % PALETTE));
            if range.start < row_bytes.start {
                continue;
            }
            // Centred under its bracket when it fits, else starting where the bracket starts.
            let w = text_width(label, 12);
            let x = if w <= x1 - x0 { (x0 + x1 - w) / 2 } else { x0 };
            let x = x.min(WIDTH - MARGIN - w);
            let level = line_ends
                .iter()
                .position(|&e| e + 12 <= x)
                .unwrap_or(line_ends.len());
            if level == line_ends.len() {
                line_ends.push(0);
            }
            line_ends[level] = x + w;
            svg.text(
                x,
                bracket_y + 24 + 17 * level as i32,
                Anchor::Start,
                "mono s12",
                label,
            );
        }
        y = bracket_y + 12 + 17 * line_ends.len() as i32;
    }
    y
}

/// A byte as a character under its hex: printable ASCII as itself, a space as `␣`, anything
/// else as a middle dot.
fn shown_char(byte: u8) -> String {
    match byte {
        b' ' => "␣".to_string(),
        0x21..=0x7e => (byte as char).to_string(),
        _ => "·".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Field] = &[
        Field {
            name: "FIN",
            bits: Some(1),
            about: "last fragment",
        },
        Field {
            name: "opcode",
            bits: Some(7),
            about: "what the frame is",
        },
        Field {
            name: "wide",
            bits: Some(40),
            about: "crosses a row",
        },
        Field {
            name: "rest",
            bits: None,
            about: "the rest",
        },
        Field {
            name: "trailer",
            bits: Some(16),
            about: "after the rest",
        },
    ];

    #[test]
    fn fields_are_cut_at_row_ends_and_offsets_stop_after_a_variable_field() {
        let Plan {
            pieces,
            rows,
            breaks,
        } = plan(FLAGS);
        let fixed = |field, row, col, bits, first| Piece::Fixed {
            field,
            row,
            col,
            bits,
            first,
        };
        assert_eq!(
            pieces,
            [
                fixed(0, 0, 0, 1, true),
                fixed(1, 0, 1, 7, true),
                fixed(2, 0, 8, 24, true),
                fixed(2, 1, 0, 16, false),
                Piece::Variable {
                    field: 3,
                    row: 1,
                    col: 16
                },
                fixed(4, 3, 0, 16, true),
            ]
        );
        assert_eq!((rows, breaks), (4, vec![3]));
    }

    #[test]
    fn a_name_too_long_for_its_box_is_shrunk_or_cut() {
        let mut svg = Svg::new();
        draw_box_text(&mut svg, 0, 0, 22, "RSV1", "1 bit");
        draw_box_text(&mut svg, 0, 0, 22, "a_very_long_name", "1 bit");
        let out = svg.finish(10, 10, "t", "");
        assert!(out.contains(">RSV1<"));
        assert!(out.contains(">a_v…<"));
    }

    #[test]
    fn example_bytes_are_shown_in_hex_with_their_parts_named() {
        let example = Example {
            caption: "x".into(),
            bytes: b"\x00\x02hi".to_vec(),
            parts: vec![(0..2, "length = 2".into()), (2..4, "payload".into())],
        };
        let svg = render_layout_with_example("t", FLAGS, &example);
        for text in [">00<", ">02<", ">68<", ">h<", ">length = 2<", ">payload<"] {
            assert!(svg.contains(text), "{text} missing");
        }
    }
}
