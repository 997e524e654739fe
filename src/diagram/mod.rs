//! Diagrams drawn by code: byte layouts and sequence diagrams rendered to SVG.
//!
//! A picture of bytes on the wire must never drift from the code that puts those bytes on the
//! wire, so wire formats declare their layout as a table of [`Field`]s next to the encoder, and
//! this module turns the table into an SVG. `course diagrams` writes every diagram into
//! `diagrams/`; a test fails when a committed SVG differs from what the code draws today.
//!
//! - [`byte_layout`]: a wire format's byte layout, RFC-style, from its [`Field`] table;
//! - [`sequence`]: who sends what to whom, from a list of steps;
//! - the catalog ([`catalog`]): the diagrams the lessons link to, each built from one of those.
//!
//! The SVG is written by hand (a few kinds of shapes are all a diagram needs), with integer
//! coordinates only, so that the same code always draws the same bytes.

/// Wire formats declare their fields in [`crate::layout`]; the diagrams draw from the same table.
pub use crate::layout::Field;

pub mod byte_layout;
mod catalog;
pub mod chart;
mod lesson04;
mod lesson05;
mod lesson06;
mod lesson07;
mod lesson08;
mod lesson09;
mod lesson10;
mod lesson11;
mod lesson12;
mod lesson15;
mod lesson16;
pub mod sequence;
mod svg;

pub use byte_layout::{render_layout, render_layout_with_example, Example};
pub use sequence::{render_sequence, Arrow, Sequence, Step};

/// One finished diagram, and the file under `diagrams/` it belongs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagram {
    /// File name inside `diagrams/`, e.g. `"01-tcp-echo-sequence.svg"`; lessons link to it.
    pub file: &'static str,
    pub title: &'static str,
    /// The whole SVG document.
    pub svg: String,
}

/// Every diagram of the course, in lesson order, drawn from the code as it is now.
pub fn catalog() -> Vec<Diagram> {
    let mut all = catalog::all();
    all.extend(lesson05::diagrams());
    all.extend(lesson06::diagrams());
    all.extend(lesson07::diagrams());
    all.extend(lesson08::diagrams());
    all.extend(lesson09::diagrams());
    all.extend(lesson10::diagrams());
    all.extend(lesson11::diagrams());
    all.extend(lesson12::diagrams());
    all.extend(lesson15::diagrams());
    all.extend(lesson16::diagrams());
    all
}
