//! Grouped bar charts of measured numbers, for the benchmarks' results in the lesson texts.
//!
//! Unlike the other diagrams these are drawn from a benchmark run, not from code, so they are
//! written by `course bench` and are not in the catalog that a test compares.

use super::svg::{sans_width, text_width, Anchor, Svg};

const CSS: &str = "\
.axis { stroke: #57606a; stroke-width: 1; }
.grid { stroke: #d0d7de; stroke-width: 1; stroke-dasharray: 2 3; }
.bar0 { fill: #cf222e; } .bar1 { fill: #0969da; } .bar2 { fill: #1a7f37; } .bar3 { fill: #8250df; }
.value { font-size: 11px; fill: #1f2328; }
.tick { font-size: 11px; fill: #57606a; }
.note { font-size: 11px; fill: #57606a; font-style: italic; }
";

/// One series: a name for the legend and one value per group (`None`: not measured).
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// Bars grouped by `groups` (e.g. connection counts, named by `x_label`), one colour per
/// series, each bar labelled with its value; `unit` labels the vertical axis.
pub fn render_bars(
    title: &str,
    unit: &str,
    x_label: &str,
    groups: &[String],
    series: &[Series],
    note: &str,
) -> String {
    let (left, top, plot_h, bar_w, gap) = (70, 56, 260, 36, 28);
    let widest_group = groups.iter().map(|g| sans_width(g, 11)).max().unwrap_or(0);
    let group_w = (bar_w * series.len() as i32 + gap).max(widest_group + gap);
    let plot_w = group_w * groups.len() as i32 + gap;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |m, &v| m.max(v))
        .max(1e-9);
    let step = nice_step(max / 4.0);
    let top_value = (max / step).ceil() * step;
    let y_of = |v: f64| top + plot_h - (v / top_value * plot_h as f64).round() as i32;

    let mut svg = Svg::new();
    svg.text(24, 32, Anchor::Start, "title", title);
    // Grid lines and their values.
    let mut v = 0.0;
    while v <= top_value + step / 2.0 {
        let y = y_of(v);
        svg.line(left, y, left + plot_w, y, "grid");
        svg.text(left - 8, y + 4, Anchor::End, "tick", &format_value(v));
        v += step;
    }
    svg.line(left, top, left, top + plot_h, "axis");
    svg.line(left, top + plot_h, left + plot_w, top + plot_h, "axis");
    svg.text(left - 56, top - 14, Anchor::Start, "tick", unit);
    for (g, group) in groups.iter().enumerate() {
        let x0 = left + gap + g as i32 * group_w;
        for (s, serie) in series.iter().enumerate() {
            let Some(value) = serie.values.get(g).copied().flatten() else {
                continue;
            };
            let x = x0 + s as i32 * bar_w;
            let y = y_of(value).min(top + plot_h - 1);
            svg.rect(
                x + 2,
                y,
                bar_w - 4,
                top + plot_h - y,
                0,
                &format!("bar{}", s % 4),
            );
            svg.text(
                x + bar_w / 2,
                y - 4,
                Anchor::Middle,
                "value",
                &format_value(value),
            );
        }
        let mid = x0 + group_w / 2 - gap / 2;
        svg.text(mid, top + plot_h + 18, Anchor::Middle, "tick", group);
    }
    svg.text(
        left + plot_w / 2,
        top + plot_h + 38,
        Anchor::Middle,
        "tick",
        x_label,
    );
    // Legend.
    let mut x = left;
    let legend_y = top + plot_h + 64;
    for (s, serie) in series.iter().enumerate() {
        svg.rect(x, legend_y - 10, 12, 12, 2, &format!("bar{}", s % 4));
        svg.text(x + 18, legend_y, Anchor::Start, "tick", &serie.name);
        x += 18 + sans_width(&serie.name, 11) + 24;
    }
    if !note.is_empty() {
        svg.text(left, legend_y + 22, Anchor::Start, "note", note);
    }
    let width = (left + plot_w + 24)
        .max(x + 24)
        .max(sans_width(note, 11) + left + 24)
        .max(text_width(title, 16) + 48);
    svg.finish(width, legend_y + 36, title, CSS)
}

/// A round step for grid lines: 1, 2 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn format_value(v: f64) -> String {
    if v >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_carry_their_values_and_the_legend_its_series() {
        let svg = render_bars(
            "memory",
            "MiB",
            "connections",
            &["100".into(), "1000".into()],
            &[
                Series {
                    name: "threads".into(),
                    values: vec![Some(3.5), Some(35.0)],
                },
                Series {
                    name: "event loop".into(),
                    values: vec![Some(2.6), None],
                },
            ],
            "measured here",
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        for part in [
            "3.50",
            "35",
            "2.60",
            "threads",
            "event loop",
            "measured here",
        ] {
            assert!(svg.contains(part), "{part} missing");
        }
        // One bar and the legend's swatch: none for the missing value.
        assert_eq!(svg.matches("class=\"bar1\" x=").count(), 2);
    }

    #[test]
    fn grid_steps_are_round() {
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(120.0), 200.0);
    }
}
