//! The PDF export: a task laid out as simple A4 pages with `krilla`, in one
//! TrueType/OpenType font that covers the scripts users write in.
//!
//! The 14 standard PDF fonts know no Chinese, so the font is a file:
//! `EXPORT_PDF_FONT`, or the first of [`KNOWN_FONTS`] that exists. The text
//! is embedded with its Unicode mapping, so `pdftotext` and screen readers
//! read back exactly what was written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use krilla::Document;
use krilla::geom::Point;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};

use crate::config::PdfFontChoice;

/// Fonts looked for when `EXPORT_PDF_FONT` is not set: CJK-capable ones
/// first (Debian's `fonts-wqy-microhei`, `fonts-wqy-zenhei`,
/// `fonts-noto-cjk`), then DejaVu, which covers Latin, Greek and Cyrillic.
pub const KNOWN_FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
];

/// A4, in points.
const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;

/// The font the PDF export writes with.
#[derive(Clone)]
pub struct PdfFont {
    font: Font,
    data: Arc<Vec<u8>>,
    path: PathBuf,
}

impl std::fmt::Debug for PdfFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfFont").field("path", &self.path).finish()
    }
}

impl PdfFont {
    /// Loads the first face of the font file at `path` (a `.ttf`, `.otf`
    /// or `.ttc`).
    pub fn load(path: &Path) -> Result<Self, String> {
        let data =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let data = Arc::new(data);
        if skrifa::FontRef::from_index(&data, 0).is_err() {
            return Err(format!(
                "{} is not a TrueType or OpenType font",
                path.display()
            ));
        }
        let font = Font::new(data.clone().into(), 0)
            .ok_or_else(|| format!("{} is not a usable font", path.display()))?;
        Ok(Self {
            font,
            data,
            path: path.to_owned(),
        })
    }

    /// The font `choice` names: a file (which must load), the first known
    /// font found on this machine, or none.
    pub fn choose(choice: &PdfFontChoice) -> Result<Option<Self>, String> {
        match choice {
            PdfFontChoice::File(path) => Self::load(path).map(Some),
            PdfFontChoice::Discover => Ok(Self::first_of(KNOWN_FONTS)),
            PdfFontChoice::Off => Ok(None),
        }
    }

    /// The first of `paths` that is a usable font.
    fn first_of(paths: &[&str]) -> Option<Self> {
        paths
            .iter()
            .map(Path::new)
            .filter(|path| path.exists())
            .find_map(|path| Self::load(path).ok())
    }

    /// The file the font came from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// One piece of a document, in reading order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// The document's title, once at the top.
    Title(String),
    /// A section heading.
    Heading(String),
    /// Running text, wrapped at spaces (or anywhere in scripts without them).
    Text(String),
    /// Preformatted text (JSON), smaller, leading spaces kept.
    Code(String),
}

impl Block {
    fn size(&self) -> f32 {
        match self {
            Block::Title(_) => 18.0,
            Block::Heading(_) => 13.0,
            Block::Text(_) => 10.5,
            Block::Code(_) => 9.0,
        }
    }

    fn text(&self) -> &str {
        match self {
            Block::Title(t) | Block::Heading(t) | Block::Text(t) | Block::Code(t) => t,
        }
    }

    /// Space above the block, in points.
    fn gap(&self) -> f32 {
        match self {
            Block::Title(_) => 0.0,
            Block::Heading(_) => 14.0,
            Block::Text(_) | Block::Code(_) => 4.0,
        }
    }
}

/// One laid-out line: where its top is, how big, what it says.
struct Line {
    top: f32,
    size: f32,
    text: String,
}

/// Lays `blocks` out on as many pages as they need and writes the PDF.
pub fn render(font: &PdfFont, title: &str, blocks: &[Block]) -> Result<Vec<u8>, String> {
    let face = skrifa::FontRef::from_index(&font.data, 0).map_err(|e| e.to_string())?;
    let charmap = face.charmap();
    let width = PAGE_WIDTH - 2.0 * MARGIN;

    let mut pages: Vec<Vec<Line>> = vec![Vec::new()];
    let mut top = MARGIN;
    for block in blocks {
        let size = block.size();
        let metrics = face.glyph_metrics(Size::new(size), LocationRef::default());
        let advance = |c: char| {
            metrics
                .advance_width(charmap.map(c).unwrap_or_default())
                .unwrap_or(size / 2.0)
        };
        let line_height = size * 1.45;
        top += block.gap();
        for text in wrap(&printable(block.text()), width, &advance) {
            if top + line_height > PAGE_HEIGHT - MARGIN {
                pages.push(Vec::new());
                top = MARGIN;
            }
            if let Some(page) = pages.last_mut() {
                page.push(Line { top, size, text });
            }
            top += line_height;
        }
    }

    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(title.to_owned())
            .creator("workspace-service".to_owned()),
    );
    let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).ok_or("bad page size")?;
    for lines in pages {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        for line in lines.iter().filter(|line| !line.text.is_empty()) {
            // krilla places text by its baseline.
            surface.draw_text(
                Point::from_xy(MARGIN, line.top + line.size),
                font.font.clone(),
                line.size,
                &line.text,
                false,
                TextDirection::Auto,
            );
        }
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|e| format!("{e:?}"))
}

/// Tabs become four spaces; other control characters (except newlines)
/// are dropped, since no font draws them.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '\t' => vec![' '; 4],
            '\n' => vec!['\n'],
            c if c.is_control() => vec![],
            c => vec![c],
        })
        .collect()
}

/// Splits `text` into lines no wider than `width`: at its newlines, then
/// after the last space that fits, or, in a run with no space (Chinese, a
/// long hash), after the last character that fits.
fn wrap(text: &str, width: f32, advance: &dyn Fn(char) -> f32) -> Vec<String> {
    let measure = |s: &str| s.chars().map(advance).sum::<f32>();
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut line_width = 0.0;
        // Byte offset in `line` just after its last space.
        let mut last_space: Option<usize> = None;
        // Spaces that indent a line are not places to break it.
        let mut indented = true;
        for c in paragraph.chars() {
            let w = advance(c);
            if line_width + w > width && !line.is_empty() {
                match last_space.filter(|&at| at < line.len()) {
                    Some(at) => {
                        let rest = line.split_off(at);
                        lines.push(line.trim_end().to_owned());
                        line = rest;
                    }
                    None => lines.push(std::mem::take(&mut line).trim_end().to_owned()),
                }
                line_width = measure(&line);
                last_space = None;
                indented = false;
            }
            line.push(c);
            line_width += w;
            if c != ' ' {
                indented = false;
            } else if !indented {
                last_space = Some(line.len());
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character one unit wide.
    fn unit(_: char) -> f32 {
        1.0
    }

    #[test]
    fn wraps_after_the_last_space_that_fits() {
        assert_eq!(
            wrap("the quick brown fox", 10.0, &unit),
            ["the quick", "brown fox"]
        );
    }

    #[test]
    fn wraps_text_without_spaces_anywhere() {
        assert_eq!(
            wrap("数据分析报告结果", 3.0, &unit),
            ["数据分", "析报告", "结果"]
        );
    }

    #[test]
    fn keeps_newlines_and_leading_spaces() {
        assert_eq!(
            wrap("{\n  \"a\": 1\n}", 80.0, &unit),
            ["{", "  \"a\": 1", "}"]
        );
    }

    #[test]
    fn never_breaks_inside_the_indentation() {
        assert_eq!(wrap("    abcdef", 6.0, &unit), ["    ab", "cdef"]);
    }

    #[test]
    fn a_file_that_is_not_a_font_is_refused_and_missing_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.ttf");
        std::fs::write(&text, "not a font").unwrap();
        let error = PdfFont::load(&text).unwrap_err();
        assert!(error.contains("not a TrueType or OpenType font"), "{error}");
        let missing = dir.path().join("missing.ttf");
        assert!(PdfFont::load(&missing).unwrap_err().contains("cannot read"));
        assert!(PdfFont::first_of(&[missing.to_str().unwrap(), text.to_str().unwrap()]).is_none());
        assert!(PdfFont::choose(&PdfFontChoice::Off).unwrap().is_none());
    }

    #[test]
    fn control_characters_are_dropped_and_tabs_become_spaces() {
        assert_eq!(printable("a\u{0}b\tc\u{7}"), "ab    c");
    }
}
