//! `ensemble pack`: a `.charm` archive in the layout charmcraft produces, for a Rust charm.
//!
//! One archive is for one architecture: `ensemble pack` builds the charm's binary for the
//! machine it runs on (statically linked, so it runs on any Ubuntu base); for another
//! architecture, build the binary with `cargo build --release --target <triple>` (a cross
//! toolchain, or on a machine of that architecture) and pass `--binary <path> --arch <arch>`.
//!
//! The archive holds `dispatch` (a shell shim Juju runs for every hook), `bin/<charm>` (the
//! charm's binary), `manifest.yaml` (the bases it runs on), and `metadata.yaml`, `config.yaml`
//! and `actions.yaml` generated from the charm's `charmcraft.yaml` (the packed form Juju reads).

use serde_yaml_ng::{Mapping, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a charm could not be packed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// charmcraft.yaml is not what a charm needs.
    #[error("charmcraft.yaml: {0}")]
    Charmcraft(String),
    /// The archive could not be written.
    #[error("writing the archive: {0}")]
    Zip(#[from] zip::result::ZipError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackError + '_ {
    move |source| PackError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The files of a packed charm, by path in the archive, with their Unix modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// The charm's name.
    pub name: String,
    /// (path in the archive, content, mode).
    pub files: Vec<(String, Vec<u8>, u32)>,
}

fn yaml(v: &Value) -> Vec<u8> {
    serde_yaml_ng::to_string(v).unwrap_or_default().into_bytes()
}

/// The architectures a charmcraft.yaml builds for (`platforms` keys, or `amd64`).
pub fn architectures(doc: &Value) -> Vec<String> {
    match doc.get("platforms").and_then(Value::as_mapping) {
        Some(p) if !p.is_empty() => p.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect(),
        _ => vec!["amd64".to_owned()],
    }
}

/// The Juju name of the architecture this process runs on (`amd64`, `arm64`, ...).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Lays out a charm from its `charmcraft.yaml` text and its binary, built for `arch` (a Juju
/// architecture name, which must be one of the charm's `platforms`).
pub fn layout(charmcraft_yaml: &str, binary: Vec<u8>, arch: &str) -> Result<Packed, PackError> {
    let doc: Value =
        serde_yaml_ng::from_str(charmcraft_yaml).map_err(|e| PackError::Charmcraft(e.to_string()))?;
    charm::Metadata::from_charmcraft_yaml(charmcraft_yaml)
        .map_err(|e| PackError::Charmcraft(e.to_string()))?;
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| PackError::Charmcraft("no name".into()))?
        .to_owned();
    let base = doc.get("base").and_then(Value::as_str).unwrap_or("ubuntu@24.04");
    let (os, channel) = base
        .split_once('@')
        .ok_or_else(|| PackError::Charmcraft(format!("base {base:?} is not <name>@<channel>")))?;

    let platforms = architectures(&doc);
    if !platforms.iter().any(|p| p == arch) {
        return Err(PackError::Charmcraft(format!(
            "the binary is for {arch}, which is not one of the charm's platforms {platforms:?}"
        )));
    }
    let mut metadata = Mapping::new();
    for key in [
        "name",
        "title",
        "summary",
        "description",
        "provides",
        "requires",
        "peers",
        "assumes",
        "subordinate",
    ] {
        if let Some(v) = doc.get(key) {
            metadata.insert(Value::from(key), v.clone());
        }
    }
    let mut manifest = Mapping::new();
    manifest.insert("charmcraft-version".into(), "ensemble".into());
    let mut b = Mapping::new();
    b.insert("name".into(), os.into());
    b.insert("channel".into(), channel.into());
    b.insert("architectures".into(), Value::Sequence(vec![Value::from(arch)]));
    manifest.insert("bases".into(), Value::Sequence(vec![Value::Mapping(b)]));
    let mut analysis = Mapping::new();
    let mut lang = Mapping::new();
    lang.insert("name".into(), "language".into());
    lang.insert("result".into(), "rust".into());
    analysis.insert("attributes".into(), Value::Sequence(vec![Value::Mapping(lang)]));
    manifest.insert("analysis".into(), Value::Mapping(analysis));

    let dispatch = format!(
        "#!/bin/sh\n# Juju runs this for every hook and action; the charm is a Rust binary.\n\
         JUJU_DISPATCH_PATH=\"${{JUJU_DISPATCH_PATH:-$0}}\" exec ./bin/{name}\n"
    );
    let mut files = vec![
        ("dispatch".to_owned(), dispatch.into_bytes(), 0o755),
        (format!("bin/{name}"), binary, 0o755),
        ("manifest.yaml".to_owned(), yaml(&Value::Mapping(manifest)), 0o644),
        ("metadata.yaml".to_owned(), yaml(&Value::Mapping(metadata)), 0o644),
    ];
    if let Some(options) = doc.get("config").and_then(|c| c.get("options")) {
        let mut config = Mapping::new();
        config.insert("options".into(), options.clone());
        files.push(("config.yaml".to_owned(), yaml(&Value::Mapping(config)), 0o644));
    }
    if let Some(actions) = doc.get("actions") {
        files.push(("actions.yaml".to_owned(), yaml(actions), 0o644));
    }
    Ok(Packed { name, files })
}

/// Writes `packed` as a zip archive at `out`.
pub fn write_archive(packed: &Packed, out: &Path) -> Result<(), PackError> {
    let file = std::fs::File::create(out).map_err(io(out))?;
    let mut zip = zip::ZipWriter::new(file);
    for (path, content, mode) in &packed.files {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(*mode);
        zip.start_file(path.as_str(), opts)?;
        zip.write_all(content).map_err(io(out))?;
    }
    zip.finish()?;
    Ok(())
}

/// Packs the charm in `dir` (its `charmcraft.yaml`) with the binary at `binary`, built for
/// `arch`, into `out`.
pub fn pack(dir: &Path, binary: &Path, arch: &str, out: &Path) -> Result<Packed, PackError> {
    let cc = dir.join("charmcraft.yaml");
    let text = std::fs::read_to_string(&cc).map_err(io(&cc))?;
    let bin = std::fs::read(binary).map_err(io(binary))?;
    let packed = layout(&text, bin, arch)?;
    write_archive(&packed, out)?;
    Ok(packed)
}
