//! `ensemble pack`: `.charm` archives in the layout charmcraft produces, for a Rust charm.
//!
//! One archive is for one platform of the charm's `charmcraft.yaml` (one base and one
//! architecture), named `<name>_<platform>.charm` as charmcraft 3 and later name them. The
//! platforms are read as charmcraft reads them: `platforms` (with `base`, or multi-base
//! platforms such as `ubuntu@22.04:amd64`), or the legacy `bases` list (whose platforms are named
//! `ubuntu-22.04-amd64`). `ensemble pack` builds the charm's binary for the machine it runs on
//! (statically linked, so it runs on any Ubuntu base) and packs every platform for that
//! architecture; for another architecture, build the binary elsewhere and pass `--binary <path>
//! --arch <arch>` (or `--platform <name>`). The binary's ELF machine must match the platform's
//! architecture.
//!
//! The archive holds `dispatch` (a shell shim Juju runs for every hook), `bin/<charm>` (the
//! charm's binary), `manifest.yaml` (the bases it runs on), `version`, and `metadata.yaml`,
//! `config.yaml` and `actions.yaml` generated from the charm's `charmcraft.yaml` with
//! charmcraft's rules (every metadata key charmcraft keeps, `title` written as `display-name`,
//! `links` flattened). docs/packing.md lists the rules.

use serde_yaml_ng::{Mapping, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a charm could not be packed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A file could not be read or written (the OS error is part of the message, not a source,
    /// so that a report of the error chain says it once).
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// charmcraft.yaml is not what a charm needs.
    #[error("charmcraft.yaml: {0}")]
    Charmcraft(String),
    /// The command's options do not fit the charm (a platform it lacks, an output path that is a file).
    #[error("{0}")]
    Options(String),
    /// The binary is not an executable for the platform's architecture.
    #[error("{0}")]
    Binary(String),
    /// The archive could not be written.
    #[error("writing the archive {}: {error}", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// Why.
        error: zip::result::ZipError,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackError + '_ {
    move |error| PackError::Io {
        path: path.to_owned(),
        error,
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

/// A base a charm runs on (an entry of `manifest.yaml`'s `bases`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The OS (`ubuntu`).
    pub name: String,
    /// Its channel (`24.04`).
    pub channel: String,
    /// The architectures the archive runs on there.
    pub architectures: Vec<String>,
}

/// One platform of a charm: one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The platform's name, as charmcraft names it (`amd64`, `ubuntu@22.04:amd64`,
    /// `ubuntu-22.04-amd64` for a legacy `bases` charm).
    pub platform: String,
    /// The architecture the binary must be built for.
    pub arch: String,
    /// The bases `manifest.yaml` declares.
    pub bases: Vec<Base>,
}

impl Target {
    /// The archive's file name, as charmcraft 3 and later write it: `<name>_<platform>.charm`,
    /// with `:` in the platform name written `-`.
    pub fn archive_name(&self, charm: &str) -> String {
        format!("{charm}_{}.charm", self.platform.replace(':', "-"))
    }
}

/// The architectures Juju and charmcraft know (Debian names).
pub const ARCHITECTURES: [&str; 7] = ["amd64", "arm64", "armhf", "i386", "ppc64el", "riscv64", "s390x"];

/// The architectures charmcraft builds a legacy `bases` entry for when it names none.
const DEFAULT_ARCHITECTURES: [&str; 5] = ["amd64", "arm64", "ppc64el", "riscv64", "s390x"];

fn known_arch(arch: &str) -> Result<(), PackError> {
    if ARCHITECTURES.contains(&arch) {
        Ok(())
    } else {
        Err(PackError::Charmcraft(format!(
            "{arch:?} is not an architecture (one of {})",
            ARCHITECTURES.join(", ")
        )))
    }
}

fn split_base(base: &str) -> Result<(String, String), PackError> {
    match base.split_once('@') {
        Some((os, channel)) if !os.is_empty() && !channel.is_empty() => {
            Ok((os.to_owned(), channel.to_owned()))
        }
        _ => Err(PackError::Charmcraft(format!(
            "base {base:?} is not <name>@<channel> (such as ubuntu@24.04)"
        ))),
    }
}

/// `[<base>:]<arch>` (a platform name or a `build-for` entry).
fn split_base_arch(s: &str) -> (Option<&str>, &str) {
    match s.rsplit_once(':') {
        Some((base, arch)) => (Some(base), arch),
        None => (None, s),
    }
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A `charmcraft.yaml`, read as charmcraft reads it for packing.
#[derive(Debug, Clone)]
pub struct Project {
    /// The charm's name.
    pub name: String,
    /// Its platforms, in the order declared.
    pub targets: Vec<Target>,
    doc: Value,
}

impl Project {
    /// Reads a `charmcraft.yaml`: its name, its platforms, and the relations, options and
    /// actions the framework reads (checked here, so that a charm that packs also loads).
    pub fn parse(charmcraft_yaml: &str) -> Result<Self, PackError> {
        let doc: Value =
            serde_yaml_ng::from_str(charmcraft_yaml).map_err(|e| PackError::Charmcraft(e.to_string()))?;
        charm::Metadata::from_charmcraft_yaml(charmcraft_yaml)
            .map_err(|e| PackError::Charmcraft(e.to_string()))?;
        let name = doc
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| PackError::Charmcraft("no name".into()))?
            .to_owned();
        if let Some(t) = doc.get("type").and_then(Value::as_str) {
            if t != "charm" {
                return Err(PackError::Charmcraft(format!("type is {t:?}, not \"charm\"")));
            }
        }
        let targets = if let Some(platforms) = doc.get("platforms") {
            platform_targets(&doc, platforms)?
        } else if let Some(bases) = doc.get("bases") {
            legacy_targets(bases)?
        } else {
            return Err(PackError::Charmcraft(
                "neither `platforms` nor `bases`: charmcraft needs one to know what to build".into(),
            ));
        };
        if targets.is_empty() {
            return Err(PackError::Charmcraft("no platform to build for".into()));
        }
        Ok(Self { name, targets, doc })
    }

    /// The platforms to pack: the one named `platform`, or every platform whose architecture is
    /// `arch`.
    pub fn select(&self, platform: Option<&str>, arch: &str) -> Result<Vec<Target>, PackError> {
        let names = || {
            self.targets
                .iter()
                .map(|t| format!("{} ({})", t.platform, t.arch))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(p) = platform {
            let t = self.targets.iter().find(|t| t.platform == p).ok_or_else(|| {
                PackError::Options(format!("{p:?} is not one of the charm's platforms: {}", names()))
            })?;
            if t.arch != arch {
                return Err(PackError::Options(format!(
                    "platform {p:?} is for {}, and the binary is for {arch}",
                    t.arch
                )));
            }
            return Ok(vec![t.clone()]);
        }
        let chosen: Vec<Target> = self.targets.iter().filter(|t| t.arch == arch).cloned().collect();
        if chosen.is_empty() {
            return Err(PackError::Options(format!(
                "{arch} is not the architecture of one of the charm's platforms: {}",
                names()
            )));
        }
        Ok(chosen)
    }

    /// The files of the archive for `target`, with `binary` as `bin/<name>` and `version` (if
    /// any) as the `version` file. The binary is not checked here (see [`check_elf`]).
    pub fn layout(&self, target: &Target, binary: Vec<u8>, version: Option<&str>) -> Packed {
        let name = &self.name;
        let dispatch = dispatch_script(name);
        let mut files = vec![
            ("dispatch".to_owned(), dispatch.into_bytes(), 0o755),
            (format!("bin/{name}"), binary, 0o755),
            ("manifest.yaml".to_owned(), yaml(&manifest(target)), 0o644),
            ("metadata.yaml".to_owned(), yaml(&metadata(&self.doc)), 0o644),
        ];
        if let Some(config) = self.doc.get("config") {
            files.push(("config.yaml".to_owned(), yaml(config), 0o644));
        }
        if let Some(actions) = self.doc.get("actions") {
            files.push(("actions.yaml".to_owned(), yaml(actions), 0o644));
        }
        if let Some(v) = version {
            files.push(("version".to_owned(), format!("{v}\n").into_bytes(), 0o644));
        }
        Packed {
            name: name.clone(),
            files,
        }
    }
}

/// The `dispatch` shim of a charm whose binary is `bin/<name>` (the same text as the
/// `override-build` of the charms' `charmcraft.yaml` parts writes).
pub fn dispatch_script(name: &str) -> String {
    format!(
        "#!/bin/sh\n# Juju runs this for every hook and action; the charm is a Rust binary.\n\
         JUJU_DISPATCH_PATH=\"${{JUJU_DISPATCH_PATH:-$0}}\" exec ./bin/{name}\n"
    )
}

fn platform_targets(doc: &Value, platforms: &Value) -> Result<Vec<Target>, PackError> {
    let map = platforms
        .as_mapping()
        .ok_or_else(|| PackError::Charmcraft("`platforms` is not a mapping".into()))?;
    let top_base = doc.get("base").and_then(Value::as_str);
    let mut out = Vec::new();
    for (k, v) in map {
        let pname = k
            .as_str()
            .ok_or_else(|| PackError::Charmcraft(format!("platform name {k:?} is not a string")))?;
        // The architecture and base: from `build-for` when the platform has one, else from its
        // name (`amd64` or `ubuntu@22.04:amd64`).
        let build_for = match v {
            Value::Null => vec![pname.to_owned()],
            Value::Mapping(_) => {
                let bf = str_list(v.get("build-for"));
                if bf.is_empty() {
                    vec![pname.to_owned()]
                } else {
                    bf
                }
            }
            _ => {
                return Err(PackError::Charmcraft(format!(
                    "platform {pname:?} is neither empty nor a mapping"
                )))
            }
        };
        if build_for.len() != 1 {
            return Err(PackError::Charmcraft(format!(
                "platform {pname:?} builds for {} architectures; a charm archive is for one",
                build_for.len()
            )));
        }
        let (bf_base, arch) = split_base_arch(&build_for[0]);
        let (name_base, _) = split_base_arch(pname);
        let base = bf_base.or(name_base).or(top_base).ok_or_else(|| {
            PackError::Charmcraft(format!(
                "platform {pname:?} has no base: declare `base`, or name the platform \
                 <base>:<arch> (such as ubuntu@24.04:amd64)"
            ))
        })?;
        if (bf_base.is_some() || name_base.is_some()) && top_base.is_some() {
            return Err(PackError::Charmcraft(format!(
                "platform {pname:?} declares a base and so does the top-level `base`"
            )));
        }
        known_arch(arch)?;
        let (os, channel) = split_base(base)?;
        out.push(Target {
            platform: pname.to_owned(),
            arch: arch.to_owned(),
            bases: vec![Base {
                name: os,
                channel,
                architectures: vec![arch.to_owned()],
            }],
        });
    }
    Ok(out)
}

fn legacy_base(v: &Value) -> Result<(String, String, Vec<String>), PackError> {
    let name = v.get("name").and_then(Value::as_str);
    let channel = v.get("channel").and_then(Value::as_str);
    match (name, channel) {
        (Some(n), Some(c)) => {
            let archs = str_list(v.get("architectures"));
            for a in &archs {
                known_arch(a)?;
            }
            Ok((n.to_owned(), c.to_owned(), archs))
        }
        _ => Err(PackError::Charmcraft(
            "a `bases` entry needs a name and a channel".into(),
        )),
    }
}

/// The platforms of a legacy `bases` charm, named as charmcraft names them
/// (`<build base>-<channel>-<run-on architectures>`).
fn legacy_targets(bases: &Value) -> Result<Vec<Target>, PackError> {
    let list = bases
        .as_sequence()
        .ok_or_else(|| PackError::Charmcraft("`bases` is not a list".into()))?;
    let mut out: Vec<Target> = Vec::new();
    for entry in list {
        let (build_on, run_on) = if entry.get("build-on").is_some() {
            let seq = |k: &str| -> Result<Vec<_>, PackError> {
                entry
                    .get(k)
                    .and_then(Value::as_sequence)
                    .ok_or_else(|| PackError::Charmcraft(format!("a `bases` entry's {k} is not a list")))?
                    .iter()
                    .map(legacy_base)
                    .collect()
            };
            (seq("build-on")?, seq("run-on")?)
        } else {
            let b = legacy_base(entry)?;
            (vec![b.clone()], vec![b])
        };
        for (bname, bchannel, barchs) in &build_on {
            let build_archs: Vec<String> = if barchs.is_empty() {
                DEFAULT_ARCHITECTURES.iter().map(|a| a.to_string()).collect()
            } else {
                barchs.clone()
            };
            for build_arch in &build_archs {
                let bases: Vec<Base> = run_on
                    .iter()
                    .map(|(n, c, a)| Base {
                        name: n.clone(),
                        channel: c.clone(),
                        architectures: if a.is_empty() {
                            vec![build_arch.clone()]
                        } else {
                            a.clone()
                        },
                    })
                    .collect();
                for run in &bases {
                    let platform = format!("{bname}-{bchannel}-{}", run.architectures.join("-"));
                    if out.iter().any(|t| t.platform == platform) {
                        continue;
                    }
                    out.push(Target {
                        platform,
                        arch: run.architectures[0].clone(),
                        bases: bases.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

fn yaml(v: &Value) -> Vec<u8> {
    serde_yaml_ng::to_string(v).unwrap_or_default().into_bytes()
}

/// The keys of charmcraft.yaml that charmcraft copies into metadata.yaml (its `CharmMetadata`
/// model), under their metadata.yaml names; `title` and `links` are handled apart.
const METADATA_KEYS: [&str; 21] = [
    "name",
    "summary",
    "description",
    "maintainers",
    "assumes",
    "charm-user",
    "containers",
    "devices",
    "docs",
    "extra-bindings",
    "issues",
    "peers",
    "provides",
    "requires",
    "resources",
    "source",
    "storage",
    "subordinate",
    "terms",
    "website",
    "display-name",
];

/// metadata.yaml as charmcraft writes it from charmcraft.yaml: its metadata keys, `title` as
/// `display-name`, and `links` flattened (`documentation` to `docs`, `contact` to
/// `maintainers`, `issues`, `source` and `website` as they are); keys sorted.
pub fn metadata(doc: &Value) -> Value {
    let mut m = std::collections::BTreeMap::<String, Value>::new();
    for key in METADATA_KEYS {
        if let Some(v) = doc.get(key) {
            m.insert(key.to_owned(), v.clone());
        }
    }
    if let Some(links) = doc.get("links").and_then(Value::as_mapping) {
        for (k, v) in links {
            match k.as_str() {
                Some("documentation") => {
                    m.insert("docs".into(), v.clone());
                }
                Some("contact") => {
                    let list = match v {
                        Value::String(_) => Value::Sequence(vec![v.clone()]),
                        other => other.clone(),
                    };
                    m.insert("maintainers".into(), list);
                }
                Some(other @ ("issues" | "source" | "website")) => {
                    m.insert(other.to_owned(), v.clone());
                }
                _ => {}
            }
        }
    }
    if let Some(t) = doc.get("title") {
        m.insert("display-name".into(), t.clone());
    }
    let mut out = Mapping::new();
    for (k, v) in m {
        out.insert(Value::from(k), v);
    }
    Value::Mapping(out)
}

fn manifest(target: &Target) -> Value {
    let mut manifest = Mapping::new();
    manifest.insert(
        "charmcraft-version".into(),
        format!("ensemble-{}", env!("CARGO_PKG_VERSION")).into(),
    );
    let bases = target
        .bases
        .iter()
        .map(|b| {
            let mut m = Mapping::new();
            m.insert("name".into(), b.name.clone().into());
            m.insert("channel".into(), b.channel.clone().into());
            m.insert(
                "architectures".into(),
                Value::Sequence(b.architectures.iter().map(|a| Value::from(a.as_str())).collect()),
            );
            Value::Mapping(m)
        })
        .collect();
    manifest.insert("bases".into(), Value::Sequence(bases));
    let mut analysis = Mapping::new();
    let mut lang = Mapping::new();
    lang.insert("name".into(), "language".into());
    lang.insert("result".into(), "rust".into());
    analysis.insert("attributes".into(), Value::Sequence(vec![Value::Mapping(lang)]));
    manifest.insert("analysis".into(), Value::Mapping(analysis));
    Value::Mapping(manifest)
}

/// The Juju name of the architecture this process runs on (`amd64`, `arm64`, ...).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "x86" => "i386",
        "arm" => "armhf",
        other => other,
    }
}

/// The architecture an ELF file is for, from its header (`e_machine`, read in the file's byte
/// order): `amd64`, `arm64`, ... ; an error if the bytes are not an ELF file or are for a
/// machine Juju does not run.
pub fn elf_arch(binary: &[u8]) -> Result<&'static str, PackError> {
    if binary.len() < 20 || &binary[..4] != b"\x7fELF" {
        return Err(PackError::Binary("the binary is not an ELF executable".into()));
    }
    let class64 = binary[4] == 2;
    let machine = match binary[5] {
        1 => u16::from_le_bytes([binary[18], binary[19]]),
        2 => u16::from_be_bytes([binary[18], binary[19]]),
        other => {
            return Err(PackError::Binary(format!(
                "the binary's ELF header has an unknown byte order ({other})"
            )))
        }
    };
    let little = binary[5] == 1;
    Ok(match (machine, class64, little) {
        (0x3e, true, true) => "amd64",
        (0xb7, true, true) => "arm64",
        (0x15, true, true) => "ppc64el",
        (0x16, true, false) => "s390x",
        (0xf3, true, true) => "riscv64",
        (0x28, false, true) => "armhf",
        (0x03, false, true) => "i386",
        _ => {
            return Err(PackError::Binary(format!(
                "the binary is for ELF machine {machine:#x} ({}-bit, {} endian), which no \
                 Juju architecture is",
                if class64 { 64 } else { 32 },
                if little { "little" } else { "big" }
            )))
        }
    })
}

/// Checks that `binary` is an ELF executable for `arch`.
pub fn check_elf(binary: &[u8], arch: &str) -> Result<(), PackError> {
    let found = elf_arch(binary)?;
    if found != arch {
        return Err(PackError::Binary(format!(
            "the binary is for {found}, not {arch}: build it for {arch} (cargo build --target \
             <{arch} triple>) or pack it for {found} (--arch {found})"
        )));
    }
    Ok(())
}

/// Lays out a charm from its `charmcraft.yaml` text and its binary, for the first platform
/// whose architecture is `arch` (the binary is not checked: the process driver's charm
/// directories use this with a link to the binary).
pub fn layout(charmcraft_yaml: &str, binary: Vec<u8>, arch: &str) -> Result<Packed, PackError> {
    let project = Project::parse(charmcraft_yaml)?;
    let target = project.select(None, arch)?.remove(0);
    Ok(project.layout(&target, binary, None))
}

/// Writes `packed` as a zip archive at `out`.
pub fn write_archive(packed: &Packed, out: &Path) -> Result<(), PackError> {
    let zip_err = |error| PackError::Zip {
        path: out.to_owned(),
        error,
    };
    let file = std::fs::File::create(out).map_err(io(out))?;
    let mut zip = zip::ZipWriter::new(file);
    for (path, content, mode) in &packed.files {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(*mode);
        zip.start_file(path.as_str(), opts).map_err(zip_err)?;
        zip.write_all(content).map_err(io(out))?;
    }
    zip.finish().map_err(zip_err)?;
    Ok(())
}

/// Checks the output directory before a build: it is created if missing, and must not be a
/// file.
pub fn prepare_output_dir(out_dir: &Path) -> Result<(), PackError> {
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(PackError::Options(format!(
            "--output {} is a file; it names the directory the archives are written to",
            out_dir.display()
        )));
    }
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))
}

/// Packs `project` for each of `targets` with the binary at `binary` (checked against each
/// target's architecture) into `out_dir`; returns the archives' paths.
pub fn pack(
    project: &Project,
    targets: &[Target],
    binary: &Path,
    version: Option<&str>,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, PackError> {
    let bin = std::fs::read(binary).map_err(io(binary))?;
    let mut written = Vec::new();
    for t in targets {
        check_elf(&bin, &t.arch)?;
        let packed = project.layout(t, bin.clone(), version);
        let out = out_dir.join(t.archive_name(&project.name));
        write_archive(&packed, &out)?;
        written.push(out);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(platforms: &str) -> Project {
        Project::parse(&format!(
            "name: c\ntype: charm\nsummary: s\ndescription: d\n{platforms}"
        ))
        .unwrap()
    }

    fn names(p: &Project) -> Vec<(String, String, String)> {
        p.targets
            .iter()
            .map(|t| {
                (
                    t.platform.clone(),
                    t.arch.clone(),
                    t.bases
                        .iter()
                        .map(|b| format!("{}@{}", b.name, b.channel))
                        .collect::<Vec<_>>()
                        .join(","),
                )
            })
            .collect()
    }

    fn t(p: &str, a: &str, b: &str) -> (String, String, String) {
        (p.into(), a.into(), b.into())
    }

    #[test]
    fn platforms_are_read_as_charmcraft_reads_them() {
        let p = project("base: ubuntu@24.04\nplatforms:\n  amd64:\n  arm64:\n");
        assert_eq!(
            names(&p),
            [
                t("amd64", "amd64", "ubuntu@24.04"),
                t("arm64", "arm64", "ubuntu@24.04")
            ]
        );
        let p = project("platforms:\n  ubuntu@22.04:amd64:\n  ubuntu@24.04:amd64:\n");
        assert_eq!(
            names(&p),
            [
                t("ubuntu@22.04:amd64", "amd64", "ubuntu@22.04"),
                t("ubuntu@24.04:amd64", "amd64", "ubuntu@24.04")
            ]
        );
        assert_eq!(p.targets[0].archive_name("c"), "c_ubuntu@22.04-amd64.charm");
        let p = project(
            "platforms:\n  jammy:\n    build-on: [ubuntu@22.04:amd64]\n    build-for: [ubuntu@22.04:amd64]\n",
        );
        assert_eq!(names(&p), [t("jammy", "amd64", "ubuntu@22.04")]);
        let p = project("bases:\n  - name: ubuntu\n    channel: \"22.04\"\n    architectures: [amd64]\n");
        assert_eq!(names(&p), [t("ubuntu-22.04-amd64", "amd64", "ubuntu@22.04")]);
        let p = project(
            "bases:\n  - build-on:\n      - {name: ubuntu, channel: \"22.04\", architectures: [arm64]}\n    run-on:\n      - {name: ubuntu, channel: \"22.04\"}\n      - {name: ubuntu, channel: \"20.04\"}\n",
        );
        assert_eq!(
            names(&p),
            [t("ubuntu-22.04-arm64", "arm64", "ubuntu@22.04,ubuntu@20.04")]
        );
    }

    #[test]
    fn platforms_charmcraft_refuses_are_refused() {
        for bad in [
            "",
            "platforms:\n  amd64:\n",
            "base: ubuntu@24.04\nplatforms:\n  ubuntu@22.04:amd64:\n",
            "base: ubuntu@24.04\nplatforms:\n  sparc:\n",
            "base: ubuntu\nplatforms:\n  amd64:\n",
            "base: ubuntu@24.04\nplatforms:\n  x:\n    build-on: [amd64]\n    build-for: [amd64, arm64]\n",
        ] {
            let text = format!("name: c\nsummary: s\ndescription: d\n{bad}");
            assert!(Project::parse(&text).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn selects_by_platform_or_architecture() {
        let p = project("platforms:\n  ubuntu@22.04:amd64:\n  ubuntu@24.04:amd64:\n  ubuntu@24.04:arm64:\n");
        assert_eq!(p.select(None, "amd64").unwrap().len(), 2);
        assert_eq!(p.select(Some("ubuntu@24.04:arm64"), "arm64").unwrap().len(), 1);
        assert!(p.select(Some("ubuntu@24.04:arm64"), "amd64").is_err());
        assert!(p.select(Some("nope"), "amd64").is_err());
        assert!(p.select(None, "s390x").is_err());
    }

    #[test]
    fn metadata_keeps_what_charmcraft_keeps() {
        let doc: Value = serde_yaml_ng::from_str(
            "name: c
title: The C
summary: s
description: d
charm-user: non-root
containers: {w: {resource: img}}
resources: {img: {type: oci-image}}
storage: {data: {type: filesystem}}
extra-bindings: {public: null}
links:
  documentation: https://d
  contact: a@b
  issues: https://i
  source: [https://s]
  website: https://w
parts: {x: {plugin: nil}}
config: {options: {}}
base: ubuntu@24.04
",
        )
        .unwrap();
        let m = metadata(&doc);
        let keys: Vec<&str> = m.as_mapping().unwrap().keys().filter_map(Value::as_str).collect();
        assert_eq!(
            keys,
            [
                "charm-user",
                "containers",
                "description",
                "display-name",
                "docs",
                "extra-bindings",
                "issues",
                "maintainers",
                "name",
                "resources",
                "source",
                "storage",
                "summary",
                "website"
            ]
        );
        assert_eq!(m["display-name"], "The C");
        assert_eq!(m["maintainers"][0], "a@b");
        assert_eq!(m["docs"], "https://d");
    }

    fn elf(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = data;
        let m = if data == 1 {
            machine.to_le_bytes()
        } else {
            machine.to_be_bytes()
        };
        h[18..20].copy_from_slice(&m);
        h
    }

    #[test]
    fn the_elf_machine_is_checked() {
        assert_eq!(elf_arch(&elf(2, 1, 0x3e)).unwrap(), "amd64");
        assert_eq!(elf_arch(&elf(2, 1, 0xb7)).unwrap(), "arm64");
        assert_eq!(elf_arch(&elf(2, 2, 0x16)).unwrap(), "s390x");
        assert!(check_elf(&elf(2, 1, 0x3e), "arm64").is_err());
        assert!(check_elf(&elf(2, 1, 0x3e), "amd64").is_ok());
        assert!(check_elf(b"#!/bin/sh\n", "amd64").is_err());
        assert!(check_elf(&elf(2, 1, 0x9999), "amd64").is_err());
        assert!(check_elf(b"\x7fELF", "amd64").is_err());
    }
}
