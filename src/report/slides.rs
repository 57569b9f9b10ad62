//! Figures for slides: every chart of a report as a standalone SVG (its caption inside as
//! `<desc>`) and a PNG at twice the size for a projector, with the caption beside it in a text
//! file, in the report's language.

use super::lang::Lang;
use super::model::Report;
use std::path::{Path, PathBuf};

/// Why the figures could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SlidesError {
    /// A chart could not be drawn.
    #[error(transparent)]
    Report(#[from] super::export::ReportError),
    /// The folder or a file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A chart could not be rasterised.
    #[error("cannot render {section} as PNG: {why}")]
    Png {
        /// The chart.
        section: String,
        /// What the rasteriser said.
        why: String,
    },
}

/// How many times the SVG's size the PNG is drawn at.
pub const PNG_SCALE: f32 = 2.0;

/// Writes every chart of `report` into `dir` (created if needed); returns the files written.
pub fn write_charts(report: &Report, lang: Lang, dir: &Path) -> Result<Vec<PathBuf>, SlidesError> {
    let write = |path: PathBuf, bytes: &[u8]| -> Result<PathBuf, SlidesError> {
        crate::atomic::write(&path, |out| out.write_all(bytes)).map_err(|e| {
            SlidesError::Write {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
        Ok(path)
    };
    std::fs::create_dir_all(dir).map_err(|source| SlidesError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let fonts = fonts();
    let mut written = Vec::new();
    for (i, run) in report.runs.iter().enumerate() {
        let prefix = if report.runs.len() > 1 {
            let stem = Path::new(&run.label)
                .file_stem()
                .map_or_else(|| run.label.clone(), |s| s.to_string_lossy().into_owned());
            format!("{:02}-{stem}-", i + 1)
        } else {
            String::new()
        };
        for (section, svg) in super::html::charts_of(run, lang)? {
            let svg = svg.as_str().unwrap_or_default();
            let mut caption = super::html::caption(&section, lang);
            if let Some(nested) = &run.nested_kvm {
                caption = format!(
                    "{caption} ({})",
                    super::format::nested_kvm_words(nested, lang)
                );
            }
            let name = format!("{prefix}{}", section.replace('_', "-"));
            let svg = with_caption(svg, &section, &caption);
            written.push(write(dir.join(format!("{name}.svg")), svg.as_bytes())?);
            written.push(write(
                dir.join(format!("{name}.txt")),
                format!("{caption}\n").as_bytes(),
            )?);
            let png = png(&svg, &fonts).map_err(|why| SlidesError::Png {
                section: section.clone(),
                why,
            })?;
            written.push(write(dir.join(format!("{name}.png")), &png)?);
        }
    }
    Ok(written)
}

/// The SVG with its section as `<title>` and its caption as `<desc>`, escaped.
fn with_caption(svg: &str, section: &str, caption: &str) -> String {
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    match svg
        .find("<svg")
        .and_then(|at| svg[at..].find('>').map(|end| at + end + 1))
    {
        Some(end) => format!(
            "{}<title>{}</title><desc>{}</desc>{}",
            &svg[..end],
            escape(section),
            escape(caption),
            &svg[end..]
        ),
        None => svg.to_string(),
    }
}

/// The system's fonts, with the first sans-serif family found standing for `sans-serif`.
fn fonts() -> std::sync::Arc<resvg::usvg::fontdb::Database> {
    let mut db = resvg::usvg::fontdb::Database::new();
    db.load_system_fonts();
    let families: Vec<String> = db
        .faces()
        .flat_map(|f| f.families.iter().map(|(name, _)| name.clone()))
        .collect();
    for wanted in [
        "DejaVu Sans",
        "Noto Sans",
        "Liberation Sans",
        "Noto Sans CJK KR",
    ] {
        if families.iter().any(|f| f == wanted) {
            db.set_sans_serif_family(wanted);
            break;
        }
    }
    std::sync::Arc::new(db)
}

/// The SVG drawn on white at [`PNG_SCALE`], as PNG bytes.
fn png(
    svg: &str,
    fonts: &std::sync::Arc<resvg::usvg::fontdb::Database>,
) -> Result<Vec<u8>, String> {
    let options = resvg::usvg::Options {
        fontdb: fonts.clone(),
        ..Default::default()
    };
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(|e| e.to_string())?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(PNG_SCALE)
        .ok_or("empty chart")?;
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("empty chart")?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(PNG_SCALE, PNG_SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caption_goes_inside_the_svg_escaped() {
        let svg = r#"<svg width="10" height="10" xmlns="http://www.w3.org/2000/svg"><rect/></svg>"#;
        let out = with_caption(svg, "startup", "a < b & c");
        assert!(
            out.contains("<title>startup</title><desc>a &lt; b &amp; c</desc><rect/>"),
            "{out}"
        );
    }

    #[test]
    fn a_chart_becomes_a_png_twice_its_size() {
        let svg = r#"<svg width="40" height="20" xmlns="http://www.w3.org/2000/svg"><text x="2" y="15" font-family="sans-serif">ms</text></svg>"#;
        let png = png(svg, &fonts()).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (80, 40));
    }
}
