//! Sequence diagrams: who sends what to whom, in time order, top to bottom.
//!
//! A [`Sequence`] is data: actors (one vertical lifeline each) and steps (messages, notes,
//! state changes, dividers). [`render_sequence`] lays it out in two passes:
//!
//! 1. **Columns.** Every piece of text says how much room it needs: an actor's name, a state
//!    box or a note box needs room on both sides of its lifeline, and a message label needs
//!    room between the two lifelines it joins. The gaps between lifelines grow until every
//!    need is met, shortest spans first, so nothing ever overlaps.
//! 2. **Rows.** Each step gets its own band of height, top to bottom; consecutive state changes
//!    of different actors share one band, as they happen "at the same time".

use super::svg::{sans_chars, sans_width, text_width, wrap, Anchor, Svg};

/// A sequence diagram: the actors, left to right, and what happens between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub title: String,
    /// Actor names. A parenthesised part (`"server (01-tcp-echo server)"`) goes on a second,
    /// smaller line of the actor's box.
    pub actors: Vec<String>,
    pub steps: Vec<Step>,
}

/// One thing that happens. Actors are indexes into [`Sequence::actors`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An arrow from one lifeline to another (or to itself). `label` goes above the arrow and
    /// may hold `\n` for several lines; `note` is a comment in smaller type under it.
    Message {
        from: usize,
        to: usize,
        label: String,
        note: Option<String>,
        style: Arrow,
    },
    /// A note box over an actor's lifeline.
    Note { actor: usize, text: String },
    /// A small box on the lifeline: the state the actor is in from here on (a TCP state).
    State { actor: usize, state: String },
    /// A line across the whole diagram with a caption: a new phase starts.
    Divider(String),
}

/// How a message is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrow {
    /// Something a program did: a call, its return, or data it sent.
    Solid,
    /// A packet the kernel makes on its own, such as a handshake SYN-ACK or an ACK.
    Dashed,
    /// Sent, never delivered: the arrow stops half way at an X.
    Lost,
}

const MARGIN: i32 = 24;
/// Baseline of the title.
const TITLE_Y: i32 = 32;
/// Top of the actor boxes.
const HEAD_TOP: i32 = 52;
/// Free space kept between the things drawn around two neighbouring lifelines.
const GAP: i32 = 20;
/// Space between a message label and the lifelines at each end of its arrow.
const LABEL_PAD: i32 = 14;
/// Wrap widths, in characters.
const NOTE_WRAP: usize = 40;
const MESSAGE_NOTE_WRAP: usize = 34;

/// Font sizes, each with a rule in [`CSS`].
const ACTOR_SIZE: i32 = 13;
const ACTOR_SUB_SIZE: i32 = 11;
const LABEL_SIZE: i32 = 12;
const STATE_SIZE: i32 = 11;
const DIVIDER_SIZE: i32 = 12;

const CSS: &str = "\
.actor { font-size: 13px; font-weight: 600; }
.actor-sub { font-size: 11px; fill: #57606a; }
.label { font-size: 12px; }
.comment { font-style: italic; fill: #57606a; }
.state { font-size: 11px; font-weight: 700; fill: #0a3069; }
.divider { font-weight: 600; fill: #57606a; }
.head { fill: #f6f8fa; stroke: #57606a; stroke-width: 1; }
.lifeline { stroke: #afb8c1; stroke-width: 1; }
.mask { fill: #ffffff; }
.arrow { stroke: #1f2328; stroke-width: 1.5; fill: none; }
.arrow.dashed { stroke: #0969da; stroke-dasharray: 6 4; }
.arrow.lost { stroke: #cf222e; }
.tip { fill: #1f2328; }
.tip.dashed { fill: #0969da; }
.cross { stroke: #cf222e; stroke-width: 2.5; stroke-linecap: round; }
.state-box { fill: #ddf4ff; stroke: #54aeff; stroke-width: 1; }
.note-box { fill: #fff8c5; stroke: #d4a72c; stroke-width: 1; }
.note-fold { fill: #f5e08a; stroke: #d4a72c; stroke-width: 1; }
.rule { stroke: #8c959f; stroke-width: 1; stroke-dasharray: 2 4; }
.pill { fill: #ffffff; stroke: #8c959f; stroke-width: 1; }
.legend-rule { stroke: #d0d7de; stroke-width: 1; }
.lifeline, .rule, .legend-rule { shape-rendering: crispEdges; }
.label, .comment { paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; }
";

/// Draw `seq` as a standalone SVG document.
///
/// # Panics
/// If a step names an actor that does not exist.
pub fn render_sequence(seq: &Sequence) -> String {
    let n = seq.actors.len();
    for step in &seq.steps {
        for actor in step.actors() {
            assert!(
                actor < n,
                "step {step:?} names actor {actor}, but there are {n} actors"
            );
        }
    }
    let heads: Vec<Head> = seq.actors.iter().map(|a| Head::new(a)).collect();
    let head_h = heads.iter().map(Head::height).max().unwrap_or(28);
    let legend = Legend::for_steps(&seq.steps);

    // Pass 1: where the lifelines go, and how wide the picture is.
    let mut xs = column_positions(&heads, &seq.steps);
    let (_, right) = extents(&heads, &seq.steps);
    let content_w = match xs.last() {
        Some(&last) => last + right[n - 1] + MARGIN,
        None => 2 * MARGIN,
    };
    let width = content_w
        .max(text_width(&seq.title, 16) + 2 * MARGIN)
        .max(legend.min_width() + 2 * MARGIN);
    // A title or legend wider than the lifelines: centre the lifelines under it.
    let shift = (width - content_w) / 2;
    for x in &mut xs {
        *x += shift;
    }

    // Pass 2: the steps, top to bottom, each in its own band.
    let mut rows = Svg::new();
    let mut y = HEAD_TOP + head_h + 14;
    let mut i = 0;
    while i < seq.steps.len() {
        let band = band_at(&seq.steps, i);
        y += draw_band(&mut rows, &seq.steps[i..i + band], &xs, width, y);
        i += band;
    }
    let lifeline_end = y + 6;

    let mut svg = Svg::new();
    svg.text(MARGIN, TITLE_Y, Anchor::Start, "title", &seq.title);
    for &x in &xs {
        svg.line(x, HEAD_TOP + head_h, x, lifeline_end, "lifeline");
    }
    for (head, &x) in heads.iter().zip(&xs) {
        head.draw(&mut svg, x, HEAD_TOP, head_h);
        head.draw(&mut svg, x, lifeline_end, head_h);
    }
    svg.append(rows);
    let legend_top = lifeline_end + head_h + 20;
    let height = legend.draw(&mut svg, legend_top, width) + 16;
    svg.finish(width, height, &seq.title, CSS)
}

impl Step {
    /// The actors this step draws on.
    fn actors(&self) -> Vec<usize> {
        match self {
            Step::Message { from, to, .. } => vec![*from, *to],
            Step::Note { actor, .. } | Step::State { actor, .. } => vec![*actor],
            Step::Divider(_) => vec![],
        }
    }
}

/// An actor's box: its name, and the parenthesised part on a second line.
struct Head {
    name: String,
    sub: Option<String>,
}

impl Head {
    fn new(actor: &str) -> Head {
        match actor.find(" (") {
            Some(i) => Head {
                name: actor[..i].to_string(),
                sub: Some(actor[i + 1..].to_string()),
            },
            None => Head {
                name: actor.to_string(),
                sub: None,
            },
        }
    }

    fn width(&self) -> i32 {
        let sub = self
            .sub
            .as_deref()
            .map_or(0, |s| text_width(s, ACTOR_SUB_SIZE));
        text_width(&self.name, ACTOR_SIZE).max(sub).max(64) + 24
    }

    fn height(&self) -> i32 {
        if self.sub.is_some() {
            42
        } else {
            28
        }
    }

    fn draw(&self, svg: &mut Svg, x: i32, top: i32, h: i32) {
        let w = self.width();
        svg.rect(x - w / 2, top, w, h, 4, "head");
        match &self.sub {
            None => svg.text(x, top + h / 2 + 5, Anchor::Middle, "actor", &self.name),
            Some(sub) => {
                let first = top + h / 2 - 3;
                svg.text(x, first, Anchor::Middle, "actor", &self.name);
                svg.text(x, first + 15, Anchor::Middle, "mono actor-sub", sub);
            }
        }
    }
}

/// How far things drawn on each lifeline reach to its left and to its right.
fn extents(heads: &[Head], steps: &[Step]) -> (Vec<i32>, Vec<i32>) {
    let mut left: Vec<i32> = heads.iter().map(|h| (h.width() + 1) / 2).collect();
    let mut right = left.clone();
    let mut reach = |actor: usize, l: i32, r: i32| {
        left[actor] = left[actor].max(l);
        right[actor] = right[actor].max(r);
    };
    for step in steps {
        match step {
            Step::Note { actor, text } => {
                let half = (note_box_width(text) + 1) / 2;
                reach(*actor, half, half);
            }
            Step::State { actor, state } => {
                let half = (state_box_width(state) + 1) / 2;
                reach(*actor, half, half);
            }
            Step::Message {
                from,
                to,
                label,
                note,
                ..
            } if from == to => {
                reach(
                    *from,
                    0,
                    SELF_LOOP_W + 8 + message_text_width(label, note.as_deref()),
                );
            }
            _ => {}
        }
    }
    (left, right)
}

/// x of each lifeline: neighbours far enough apart for what surrounds them, and every
/// message's label fitting between the two lifelines it joins.
fn column_positions(heads: &[Head], steps: &[Step]) -> Vec<i32> {
    let n = heads.len();
    if n == 0 {
        return vec![];
    }
    let (left, right) = extents(heads, steps);
    let mut gaps: Vec<i32> = (0..n - 1).map(|i| right[i] + GAP + left[i + 1]).collect();

    let mut spans: Vec<(usize, usize, i32)> = steps
        .iter()
        .filter_map(|step| match step {
            Step::Message {
                from,
                to,
                label,
                note,
                ..
            } if from != to => {
                let need = message_text_width(label, note.as_deref()) + 2 * LABEL_PAD;
                Some(((*from).min(*to), (*from).max(*to), need))
            }
            _ => None,
        })
        .collect();
    // Widening a gap never breaks a span already satisfied, so one pass from the shortest
    // spans to the longest meets every need.
    spans.sort_by_key(|&(lo, hi, need)| (hi - lo, lo, need));
    for (lo, hi, need) in spans {
        let have: i32 = gaps[lo..hi].iter().sum();
        if have < need {
            let count = (hi - lo) as i32;
            let deficit = need - have;
            for (k, gap) in gaps[lo..hi].iter_mut().enumerate() {
                *gap += deficit / count + i32::from((k as i32) < deficit % count);
            }
        }
    }

    let mut xs = vec![MARGIN + left[0]];
    for gap in gaps {
        xs.push(xs.last().unwrap() + gap);
    }
    xs
}

/// Width of the widest line of a message's label and note.
fn message_text_width(label: &str, note: Option<&str>) -> i32 {
    let label_w = label
        .split('\n')
        .map(|l| text_width(l, LABEL_SIZE))
        .max()
        .unwrap_or(0);
    let note_w = note.map_or(0, |n| {
        wrap(n, MESSAGE_NOTE_WRAP)
            .iter()
            .map(|l| sans_width(l, 12))
            .max()
            .unwrap_or(0)
    });
    label_w.max(note_w)
}

fn note_box_width(text: &str) -> i32 {
    wrap(text, NOTE_WRAP)
        .iter()
        .map(|l| sans_width(l, 12))
        .max()
        .unwrap_or(0)
        + 20
}

fn state_box_width(state: &str) -> i32 {
    text_width(state, STATE_SIZE) + 16
}

/// How many steps from `i` on share one band: consecutive state changes of distinct actors.
fn band_at(steps: &[Step], i: usize) -> usize {
    let mut seen = vec![];
    let mut len = 0;
    for step in &steps[i..] {
        match step {
            Step::State { actor, .. } if !seen.contains(actor) => {
                seen.push(*actor);
                len += 1;
            }
            _ => break,
        }
    }
    len.max(1)
}

/// Draw one band of steps with its top at `top`; returns the band's height.
fn draw_band(svg: &mut Svg, band: &[Step], xs: &[i32], width: i32, top: i32) -> i32 {
    match &band[0] {
        Step::Message {
            from,
            to,
            label,
            note,
            style,
        } => {
            if from == to {
                draw_self_message(svg, xs[*from], top, label, note.as_deref())
            } else {
                draw_message(svg, xs[*from], xs[*to], top, label, note.as_deref(), *style)
            }
        }
        Step::Note { actor, text } => draw_note(svg, xs[*actor], top, text),
        Step::State { .. } => {
            for step in band {
                if let Step::State { actor, state } = step {
                    let w = state_box_width(state);
                    svg.rect(xs[*actor] - w / 2, top + 2, w, 20, 10, "state-box");
                    svg.text(xs[*actor], top + 16, Anchor::Middle, "mono state", state);
                }
            }
            28
        }
        Step::Divider(caption) => {
            let mid = top + 20;
            svg.line(MARGIN / 2, mid, width - MARGIN / 2, mid, "rule");
            let w = text_width(caption, DIVIDER_SIZE) + 24;
            svg.rect(width / 2 - w / 2, mid - 12, w, 24, 12, "pill");
            svg.text(width / 2, mid + 4, Anchor::Middle, "divider", caption);
            44
        }
    }
}

const LINE_H: i32 = 16;
const COMMENT_LINE_H: i32 = 15;
const TIP_LEN: i32 = 10;

fn draw_message(
    svg: &mut Svg,
    xa: i32,
    xb: i32,
    top: i32,
    label: &str,
    note: Option<&str>,
    style: Arrow,
) -> i32 {
    let mid = (xa + xb) / 2;
    let lines: Vec<&str> = label.split('\n').collect();
    let arrow_y = top + LINE_H * lines.len() as i32 + 8;

    // Labels sit on a white mask, so lifelines they cross do not run through the letters.
    let label_w = lines
        .iter()
        .map(|l| text_width(l, LABEL_SIZE))
        .max()
        .unwrap_or(0);
    svg.rect(
        mid - label_w / 2 - 4,
        top + 2,
        label_w + 8,
        LINE_H * lines.len() as i32,
        0,
        "mask",
    );
    for (k, line) in lines.iter().enumerate() {
        svg.text(
            mid,
            top + 14 + LINE_H * k as i32,
            Anchor::Middle,
            "mono label",
            line,
        );
    }

    let dir = if xb > xa { 1 } else { -1 };
    match style {
        Arrow::Solid | Arrow::Dashed => {
            let (line_class, tip_class) = match style {
                Arrow::Dashed => ("arrow dashed", "tip dashed"),
                _ => ("arrow", "tip"),
            };
            svg.line(xa, arrow_y, xb - dir * TIP_LEN, arrow_y, line_class);
            let tip = [
                (xb, arrow_y),
                (xb - dir * TIP_LEN, arrow_y - 5),
                (xb - dir * TIP_LEN, arrow_y + 5),
            ];
            svg.poly(&tip, true, tip_class);
        }
        Arrow::Lost => {
            svg.line(xa, arrow_y, mid, arrow_y, "arrow lost");
            svg.line(mid - 5, arrow_y - 5, mid + 5, arrow_y + 5, "cross");
            svg.line(mid - 5, arrow_y + 5, mid + 5, arrow_y - 5, "cross");
        }
    }

    let mut bottom = arrow_y + 6;
    if let Some(note) = note {
        // The lifelines were placed for notes wrapped at MESSAGE_NOTE_WRAP; where they ended
        // up further apart, use the room.
        let room = sans_chars((xb - xa).abs() - 2 * LABEL_PAD, 12);
        let lines = wrap(note, room.max(MESSAGE_NOTE_WRAP));
        let w = lines.iter().map(|l| sans_width(l, 12)).max().unwrap_or(0);
        let h = COMMENT_LINE_H * lines.len() as i32;
        svg.rect(mid - w / 2 - 4, arrow_y + 6, w + 8, h + 2, 0, "mask");
        for (k, line) in lines.iter().enumerate() {
            let y = arrow_y + 18 + COMMENT_LINE_H * k as i32;
            svg.text(mid, y, Anchor::Middle, "comment", line);
        }
        bottom = arrow_y + 8 + h;
    }
    bottom - top + 8
}

/// Width of the loop drawn for a message an actor sends to itself.
const SELF_LOOP_W: i32 = 32;

fn draw_self_message(svg: &mut Svg, x: i32, top: i32, label: &str, note: Option<&str>) -> i32 {
    let loop_top = top + 6;
    let loop_bottom = loop_top + 20;
    svg.poly(
        &[
            (x, loop_top),
            (x + SELF_LOOP_W, loop_top),
            (x + SELF_LOOP_W, loop_bottom),
            (x + TIP_LEN, loop_bottom),
        ],
        false,
        "arrow",
    );
    svg.poly(
        &[
            (x, loop_bottom),
            (x + TIP_LEN, loop_bottom - 5),
            (x + TIP_LEN, loop_bottom + 5),
        ],
        true,
        "tip",
    );
    let text_x = x + SELF_LOOP_W + 8;
    let mut y = top + 12;
    for line in label.split('\n') {
        svg.text(text_x, y, Anchor::Start, "mono label", line);
        y += LINE_H;
    }
    for line in note.map(|n| wrap(n, MESSAGE_NOTE_WRAP)).unwrap_or_default() {
        svg.text(text_x, y, Anchor::Start, "comment", &line);
        y += COMMENT_LINE_H;
    }
    (y - top).max(loop_bottom + 6 - top) + 8
}

fn draw_note(svg: &mut Svg, x: i32, top: i32, text: &str) -> i32 {
    let lines = wrap(text, NOTE_WRAP);
    let w = note_box_width(text);
    let h = LINE_H * lines.len() as i32 + 12;
    let (left, right, box_top) = (x - w / 2, x - w / 2 + w, top + 4);
    const FOLD: i32 = 8;
    svg.poly(
        &[
            (left, box_top),
            (right - FOLD, box_top),
            (right, box_top + FOLD),
            (right, box_top + h),
            (left, box_top + h),
        ],
        true,
        "note-box",
    );
    svg.poly(
        &[
            (right - FOLD, box_top),
            (right - FOLD, box_top + FOLD),
            (right, box_top + FOLD),
        ],
        true,
        "note-fold",
    );
    for (k, line) in lines.iter().enumerate() {
        svg.text(
            left + 10,
            box_top + 18 + LINE_H * k as i32,
            Anchor::Start,
            "note",
            line,
        );
    }
    h + 14
}

/// The key under the diagram: one sample of each kind of mark the diagram uses.
struct Legend {
    items: Vec<(Mark, &'static str)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Arrow(Arrow),
    State,
}

const SAMPLE_W: i32 = 40;
const ITEM_GAP: i32 = 28;

impl Legend {
    fn for_steps(steps: &[Step]) -> Legend {
        let used = |mark: Mark| {
            steps.iter().any(|s| match (s, mark) {
                (Step::Message { style, .. }, Mark::Arrow(a)) => *style == a,
                (Step::State { .. }, Mark::State) => true,
                _ => false,
            })
        };
        let all = [
            (
                Mark::Arrow(Arrow::Solid),
                "a call, its return, or data a program sent",
            ),
            (
                Mark::Arrow(Arrow::Dashed),
                "a packet the kernel sends on its own",
            ),
            (
                Mark::Arrow(Arrow::Lost),
                "lost on the way, and nobody is told",
            ),
            (Mark::State, "state from here on"),
        ];
        Legend {
            items: all.into_iter().filter(|&(m, _)| used(m)).collect(),
        }
    }

    fn item_width(&self, k: usize) -> i32 {
        SAMPLE_W + 8 + sans_width(self.items[k].1, 12)
    }

    /// The widest single item: the legend wraps onto more lines when the picture is narrow.
    fn min_width(&self) -> i32 {
        (0..self.items.len())
            .map(|k| self.item_width(k))
            .max()
            .unwrap_or(0)
    }

    /// Draw from `top` on; returns the y the legend ends at.
    fn draw(&self, svg: &mut Svg, top: i32, width: i32) -> i32 {
        if self.items.is_empty() {
            return top;
        }
        svg.line(MARGIN, top, width - MARGIN, top, "legend-rule");
        let mut x = MARGIN;
        let mut y = top + 22;
        for (k, &(mark, text)) in self.items.iter().enumerate() {
            let w = self.item_width(k);
            if x > MARGIN && x + w > width - MARGIN {
                x = MARGIN;
                y += 24;
            }
            let mid = y - 4;
            match mark {
                Mark::Arrow(Arrow::Lost) => {
                    let end = x + SAMPLE_W - 8;
                    svg.line(x, mid, end, mid, "arrow lost");
                    svg.line(end - 5, mid - 5, end + 5, mid + 5, "cross");
                    svg.line(end - 5, mid + 5, end + 5, mid - 5, "cross");
                }
                Mark::Arrow(style) => {
                    let (line, tip) = match style {
                        Arrow::Dashed => ("arrow dashed", "tip dashed"),
                        _ => ("arrow", "tip"),
                    };
                    let end = x + SAMPLE_W;
                    svg.line(x, mid, end - TIP_LEN, mid, line);
                    svg.poly(
                        &[
                            (end, mid),
                            (end - TIP_LEN, mid - 5),
                            (end - TIP_LEN, mid + 5),
                        ],
                        true,
                        tip,
                    );
                }
                Mark::State => {
                    svg.rect(x, mid - 8, SAMPLE_W, 16, 8, "state-box");
                }
            }
            svg.text(x + SAMPLE_W + 8, y, Anchor::Start, "comment", text);
            x += w + ITEM_GAP;
        }
        y + 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: usize, to: usize, label: &str) -> Step {
        Step::Message {
            from,
            to,
            label: label.into(),
            note: None,
            style: Arrow::Solid,
        }
    }

    #[test]
    fn lifelines_leave_room_for_every_label() {
        let long = "a label long enough to push the lifelines apart";
        let steps = vec![message(0, 2, long), message(1, 2, "short")];
        let heads: Vec<Head> = ["a", "b", "c"].iter().map(|a| Head::new(a)).collect();
        let xs = column_positions(&heads, &steps);
        assert!(xs[2] - xs[0] >= text_width(long, LABEL_SIZE) + 2 * LABEL_PAD);
        assert!(xs[0] < xs[1] && xs[1] < xs[2]);
    }

    #[test]
    fn neighbouring_notes_do_not_overlap() {
        let text = "a note wide enough to reach far past its own lifeline".to_string();
        let steps = vec![
            Step::Note {
                actor: 0,
                text: text.clone(),
            },
            Step::Note {
                actor: 1,
                text: text.clone(),
            },
        ];
        let heads: Vec<Head> = ["a", "b"].iter().map(|a| Head::new(a)).collect();
        let xs = column_positions(&heads, &steps);
        assert!(xs[1] - xs[0] >= note_box_width(&text) + GAP);
        assert!(note_box_width(&text) > sans_width(&text, 12) / 2);
        assert!(xs[0] - note_box_width(&text) / 2 >= MARGIN);
    }

    #[test]
    fn consecutive_states_of_different_actors_share_a_band() {
        let state = |actor: usize| Step::State {
            actor,
            state: "S".into(),
        };
        let steps = vec![state(0), state(1), state(1), Step::Divider("d".into())];
        assert_eq!(band_at(&steps, 0), 2);
        assert_eq!(band_at(&steps, 2), 1);
        assert_eq!(band_at(&steps, 3), 1);
    }

    #[test]
    fn text_is_escaped_and_output_is_deterministic() {
        let seq = Sequence {
            title: "a <b> & c".into(),
            actors: vec!["x (the <x>)".into(), "y".into()],
            steps: vec![message(0, 1, "read() -> 0 & EOF"), message(1, 1, "self")],
        };
        let svg = render_sequence(&seq);
        assert!(svg.contains("read() -&gt; 0 &amp; EOF"));
        assert!(svg.contains("(the &lt;x&gt;)"));
        assert!(!svg.contains("<b>"));
        assert_eq!(svg, render_sequence(&seq));
    }

    #[test]
    #[should_panic(expected = "names actor 5")]
    fn a_step_naming_a_missing_actor_is_a_bug() {
        let seq = Sequence {
            title: String::new(),
            actors: vec!["a".into()],
            steps: vec![message(0, 5, "x")],
        };
        render_sequence(&seq);
    }
}

/// Short builders for the step tables of the diagrams: `call(a, b, "write()").noted("...")`.
pub mod build {
    use super::{Arrow, Step};

    /// Something a program does: a system call, its return, or data it sends.
    pub fn call(from: usize, to: usize, label: &str) -> Step {
        message(from, to, label, Arrow::Solid)
    }

    /// A packet the kernel sends on its own (handshake, ACK, FIN).
    pub fn packet(from: usize, to: usize, label: &str) -> Step {
        message(from, to, label, Arrow::Dashed)
    }

    /// Sent and never delivered.
    pub fn lost(from: usize, to: usize, label: &str) -> Step {
        message(from, to, label, Arrow::Lost)
    }

    pub fn message(from: usize, to: usize, label: &str, style: Arrow) -> Step {
        Step::Message {
            from,
            to,
            label: label.to_string(),
            note: None,
            style,
        }
    }

    pub fn state(actor: usize, state: &str) -> Step {
        Step::State {
            actor,
            state: state.to_string(),
        }
    }

    pub fn note(actor: usize, text: &str) -> Step {
        Step::Note {
            actor,
            text: text.to_string(),
        }
    }

    /// `.noted("...")` adds a comment under a message.
    pub trait Noted {
        fn noted(self, text: &str) -> Step;
    }

    impl Noted for Step {
        fn noted(mut self, text: &str) -> Step {
            if let Step::Message { note, .. } = &mut self {
                *note = Some(text.to_string());
            }
            self
        }
    }
}
