//! Wire layouts as data: a wire format lists its fields in a table next to its encoder.
//!
//! The same table names the fields in `--trace` hexdumps and draws the format's byte-layout
//! diagram (see [`crate::diagram`]), so the picture cannot drift from the code.

/// One field of a wire format, in the order it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Short name, as the lesson text and the `--trace` output call it.
    pub name: &'static str,
    /// Width in bits, or `None` for a field whose length is given by another field.
    pub bits: Option<u32>,
    /// One line on what the field means and how it is encoded.
    pub about: &'static str,
}
