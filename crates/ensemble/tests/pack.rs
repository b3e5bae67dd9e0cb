//! `ensemble pack`: the archive's layout, charmcraft's rules (names, bases, metadata keys),
//! options checked before the build, and charmcraft itself (from PyPI, in the project's venv:
//! `./scripts/test` installs it) validating every charm directory and analysing every archive.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An ELF header for `arch` (enough for the check `ensemble pack` makes).
fn elf_for(arch: &str) -> Vec<u8> {
    let (machine, class, data): (u16, u8, u8) = match arch {
        "amd64" => (0x3e, 2, 1),
        "arm64" => (0xb7, 2, 1),
        "ppc64el" => (0x15, 2, 1),
        "s390x" => (0x16, 2, 2),
        "riscv64" => (0xf3, 2, 1),
        other => panic!("no ELF header for {other}"),
    };
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = class;
    h[5] = data;
    h[6] = 1;
    let m = if data == 1 {
        machine.to_le_bytes()
    } else {
        machine.to_be_bytes()
    };
    h[18..20].copy_from_slice(&m);
    h
}

fn host() -> &'static str {
    ensemble::pack::host_arch()
}

fn ensemble(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args(args)
        .output()
        .unwrap()
}

/// Packs `charm_dir` with a fake binary for `arch` into `out`; returns the command's output.
fn pack(charm_dir: &Path, arch: &str, out: &Path, extra: &[&str]) -> Output {
    let bin = out.with_extension("bin");
    std::fs::write(&bin, elf_for(arch)).unwrap();
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "pack".as_ref(),
        charm_dir.as_os_str(),
        "--binary".as_ref(),
        bin.as_os_str(),
        "--arch".as_ref(),
        arch.as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    ensemble(&args)
}

fn read(zip: &mut zip::ZipArchive<std::fs::File>, name: &str) -> (String, Option<u32>) {
    let mut f = zip.by_name(name).unwrap();
    let mut s = Vec::new();
    f.read_to_end(&mut s).unwrap();
    (String::from_utf8_lossy(&s).into_owned(), f.unix_mode())
}

fn charm_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace().join("charms"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("charmcraft.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 4, "{dirs:?}");
    dirs
}

#[test]
fn packs_the_token_distributor_in_charmcrafts_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let charm_dir = workspace().join("charms/token-distributor");
    let o = pack(&charm_dir, host(), &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let archive = out.join(format!("microcluster-token-distributor_{}.charm", host()));
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&archive).unwrap()).unwrap();
    let mut names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bin/microcluster-token-distributor",
            "config.yaml",
            "dispatch",
            "manifest.yaml",
            "metadata.yaml",
            "version"
        ]
    );
    let (dispatch, mode) = read(&mut zip, "dispatch");
    assert_eq!(
        dispatch,
        ensemble::pack::dispatch_script("microcluster-token-distributor")
    );
    assert_eq!(mode.map(|m| m & 0o777), Some(0o755));
    let (_, mode) = read(&mut zip, "bin/microcluster-token-distributor");
    assert_eq!(mode.map(|m| m & 0o777), Some(0o755));
    let (version, _) = read(&mut zip, "version");
    assert!(version.starts_with("0.1.0"), "{version:?}");
    let (manifest, _) = read(&mut zip, "manifest.yaml");
    let m: serde_yaml_ng::Value = serde_yaml_ng::from_str(&manifest).unwrap();
    assert_eq!(m["bases"][0]["name"], "ubuntu");
    assert_eq!(m["bases"][0]["channel"], "24.04");
    assert_eq!(m["bases"][0]["architectures"][0], host());

    let (meta, _) = read(&mut zip, "metadata.yaml");
    let mv: serde_yaml_ng::Value = serde_yaml_ng::from_str(&meta).unwrap();
    assert_eq!(mv["display-name"], "Microcluster token distributor");
    assert!(mv.get("title").is_none() && mv.get("parts").is_none());
    // What Juju unpacks is what the framework reads.
    let (config, _) = read(&mut zip, "config.yaml");
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    std::fs::write(unpacked.join("metadata.yaml"), &meta).unwrap();
    std::fs::write(unpacked.join("config.yaml"), &config).unwrap();
    let loaded = charm::Metadata::load(&unpacked).unwrap();
    let source = charm::Metadata::from_charmcraft_yaml(token_distributor::CHARMCRAFT_YAML).unwrap();
    assert_eq!(loaded, source, "the packed metadata equals the source's");
}

#[test]
fn pack_refuses_a_directory_without_charmcraft_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let o = pack(dir.path(), host(), &dir.path().join("out"), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("charmcraft.yaml"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "said once: {err}");
}

#[test]
fn pack_says_a_missing_binary_once() {
    let dir = tempfile::tempdir().unwrap();
    let charm_dir = workspace().join("charms/token-distributor");
    let o = ensemble(&[
        "pack".as_ref(),
        charm_dir.as_os_str(),
        "--binary".as_ref(),
        dir.path().join("nope").as_os_str(),
        "-o".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("No such file").count(), 1, "said once: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn pack_refuses_an_architecture_the_charm_does_not_declare() {
    let dir = tempfile::tempdir().unwrap();
    let charm_dir = workspace().join("charms/token-distributor");
    let o = pack(&charm_dir, "s390x", &dir.path().join("out"), &[]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not the architecture of one of the charm's platforms")
    );
}

#[test]
fn pack_refuses_a_binary_of_another_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("x86");
    std::fs::write(&bin, elf_for("amd64")).unwrap();
    let charm_dir = workspace().join("charms/token-distributor");
    let o = ensemble(&[
        "pack".as_ref(),
        charm_dir.as_os_str(),
        "--binary".as_ref(),
        bin.as_os_str(),
        "--arch".as_ref(),
        "arm64".as_ref(),
        "-o".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the binary is for amd64, not arm64"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .path()
        .to_string_lossy()
        .ends_with(".charm")));
    // Not an ELF file at all.
    std::fs::write(&bin, b"#!/bin/sh\n").unwrap();
    let o = ensemble(&[
        "pack".as_ref(),
        charm_dir.as_os_str(),
        "--binary".as_ref(),
        bin.as_os_str(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an ELF executable"));
}

#[test]
fn pack_checks_the_output_directory_before_building() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let charm_dir = workspace().join("charms/token-distributor");
    // No --binary: were the option checked after the build, this would run cargo first.
    let o = ensemble(&[
        "pack".as_ref(),
        charm_dir.as_os_str(),
        "--output".as_ref(),
        file.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("Building"),
        "built first"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is a file; it names the directory"), "{err}");
    let o = ensemble(&[
        "pack".as_ref(),
        charm_dir.as_os_str(),
        "--platform".as_ref(),
        "ubuntu@20.04:amd64".as_ref(),
    ]);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("Building"),
        "built first"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not one of the charm's platforms"));
}

const BASE_YAML: &str = "name: fixture\ntype: charm\nsummary: A fixture.\ndescription: A fixture.\n";

fn fixture(dir: &Path, name: &str, rest: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("charmcraft.yaml"), format!("{BASE_YAML}{rest}")).unwrap();
    d
}

fn manifest_bases(archive: &Path) -> Vec<(String, String, String)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let (m, _) = read(&mut zip, "manifest.yaml");
    let m: serde_yaml_ng::Value = serde_yaml_ng::from_str(&m).unwrap();
    m["bases"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_owned(),
                b["channel"].as_str().unwrap().to_owned(),
                b["architectures"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const PARTS: &str = "parts:\n  x:\n    plugin: nil\n";

#[test]
fn a_legacy_bases_charm_stays_on_its_base_and_multi_base_platforms_give_one_archive_each() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = fixture(
        dir.path(),
        "legacy",
        &format!("bases:\n  - name: ubuntu\n    channel: \"22.04\"\n    architectures: [arm64]\n{PARTS}"),
    );
    let out = dir.path().join("out");
    let o = pack(&legacy, "arm64", &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let archive = out.join("fixture_ubuntu-22.04-arm64.charm");
    assert_eq!(
        manifest_bases(&archive),
        [("ubuntu".into(), "22.04".into(), "arm64".into())]
    );

    let multi = fixture(
        dir.path(),
        "multi",
        &format!("platforms:\n  ubuntu@22.04:amd64:\n  ubuntu@24.04:amd64:\n  ubuntu@24.04:arm64:\n{PARTS}"),
    );
    let out = dir.path().join("out-multi");
    let o = pack(&multi, "amd64", &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "fixture_ubuntu@22.04-amd64.charm",
            "fixture_ubuntu@24.04-amd64.charm"
        ]
    );
    assert_eq!(
        manifest_bases(&out.join("fixture_ubuntu@22.04-amd64.charm")),
        [("ubuntu".into(), "22.04".into(), "amd64".into())]
    );
    let o = pack(&multi, "arm64", &out, &["--platform", "ubuntu@24.04:arm64"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("fixture_ubuntu@24.04-arm64.charm").is_file());
}

/// A charm using every metadata key charmcraft keeps.
const FULL: &str = "title: The Fixture
links:
  documentation: https://discourse.charmhub.io/t/fixture/1
  contact: Someone <someone@example.com>
  issues: https://github.com/example/fixture/issues
  source: https://github.com/example/fixture
  website: [https://example.com]
assumes: [juju >= 3.1]
charm-user: non-root
containers:
  workload:
    resource: workload-image
    mounts: [{storage: data, location: /data}]
resources:
  workload-image: {type: oci-image, description: The image.}
  blob: {type: file, filename: blob.bin, description: A file.}
storage:
  data: {type: filesystem, location: /srv/data}
extra-bindings:
  public:
provides:
  website: {interface: http}
requires:
  db: {interface: pgsql, limit: 1}
peers:
  cluster: {interface: fixture-peers}
config:
  options:
    port: {type: int, default: 8080, description: The port.}
actions:
  backup:
    description: Backs up.
    params:
      to: {type: string, description: Where.}
base: ubuntu@24.04
platforms:
  amd64:
  arm64:
";

#[test]
fn every_metadata_key_charmcraft_keeps_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let full = fixture(dir.path(), "full", &format!("{FULL}{PARTS}"));
    let out = dir.path().join("out");
    let o = pack(&full, "amd64", &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(out.join("fixture_amd64.charm")).unwrap()).unwrap();
    let (meta, _) = read(&mut zip, "metadata.yaml");
    let m: serde_yaml_ng::Value = serde_yaml_ng::from_str(&meta).unwrap();
    for key in [
        "assumes",
        "charm-user",
        "containers",
        "resources",
        "storage",
        "extra-bindings",
        "provides",
        "requires",
        "peers",
        "docs",
        "maintainers",
        "issues",
        "source",
        "website",
    ] {
        assert!(m.get(key).is_some(), "{key} dropped: {meta}");
    }
    assert_eq!(m["display-name"], "The Fixture");
    assert_eq!(m["maintainers"][0], "Someone <someone@example.com>");
    let (actions, _) = read(&mut zip, "actions.yaml");
    assert!(actions.contains("backup"));
}

/// The project's venv's `charmcraft` (`./scripts/test` installs it from PyPI; a missing one
/// fails the test with how to install it).
fn charmcraft() -> PathBuf {
    let bin = workspace()
        .join(ensemble::charm_dirs::default_venv())
        .join("bin/charmcraft");
    let bin = if bin.is_absolute() {
        bin
    } else {
        workspace().join(bin)
    };
    assert!(
        bin.is_file(),
        "no charmcraft at {}: run ./scripts/test, or `.venv/bin/pip install -r \
         scripts/python-requirements.txt`",
        bin.display()
    );
    bin
}

fn run_charmcraft(args: &[&std::ffi::OsStr], cwd: &Path) -> Output {
    Command::new(charmcraft())
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

#[test]
fn charmcraft_validates_every_charmcraft_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let mut dirs = charm_dirs();
    dirs.push(fixture(dir.path(), "full", &format!("{FULL}{PARTS}")));
    for d in dirs {
        // expand-extensions loads the project into charmcraft's model (the check `charmcraft
        // pack` makes first) without building anything.
        let o = run_charmcraft(&["expand-extensions".as_ref()], &d);
        assert!(
            o.status.success(),
            "charmcraft rejects {}:\n{}",
            d.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let expanded: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&o.stdout).unwrap();
        assert!(expanded["parts"].as_mapping().is_some_and(|p| !p.is_empty()));
    }
    // And the check can fail: without parts, charmcraft says so.
    let bare = fixture(dir.path(), "bare", "base: ubuntu@24.04\nplatforms:\n  amd64:\n");
    let o = run_charmcraft(&["expand-extensions".as_ref()], &bare);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("parts"));
}

#[test]
fn charmcraft_analyse_passes_every_packed_charm() {
    let dir = tempfile::tempdir().unwrap();
    let mut dirs = charm_dirs();
    dirs.push(fixture(dir.path(), "full", &format!("{FULL}{PARTS}")));
    let mut archives = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let out = dir.path().join(format!("out-{i}"));
        let o = pack(d, "amd64", &out, &[]);
        assert!(
            o.status.success(),
            "{}: {}",
            d.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        for e in std::fs::read_dir(&out).unwrap() {
            archives.push(e.unwrap().path());
        }
    }
    assert_eq!(archives.len(), dirs.len());
    for a in &archives {
        let o = run_charmcraft(
            &[
                "analyse".as_ref(),
                "--format".as_ref(),
                "json".as_ref(),
                a.as_os_str(),
            ],
            dir.path(),
        );
        assert!(
            o.status.success(),
            "{}: {}",
            a.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let results: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let results = results.as_array().unwrap();
        assert!(results.len() >= 5, "{results:?}");
        for r in results {
            let result = r["result"].as_str().unwrap_or_default();
            assert!(
                result != "errors" && result != "warnings" && result != "fatal",
                "{}: {r}",
                a.display()
            );
        }
        // charmcraft recognises only Python charms' language (its `language` checker looks for
        // a Python entry point behind dispatch), so a Rust charm is `unknown`.
        let language = results.iter().find(|r| r["name"] == "language").unwrap();
        assert_eq!(language["result"], "unknown");
        let meta = results.iter().find(|r| r["name"] == "metadata").unwrap();
        assert_eq!(meta["result"], "ok");
    }
}

#[test]
fn the_charmcraft_parts_build_the_files_ensemble_pack_lays_out() {
    // Runs each charm's `override-build` as craft-parts would (its environment variables),
    // with a `cargo` on PATH that records its arguments and writes the binary it was asked
    // for: the part installs `bin/<charm>` and the same `dispatch` as `ensemble pack`.
    let dir = tempfile::tempdir().unwrap();
    let fake_bin = dir.path().join("fake-bin");
    std::fs::create_dir(&fake_bin).unwrap();
    let cargo = fake_bin.join("cargo");
    std::fs::write(
        &cargo,
        "#!/bin/sh\necho \"$@\" > \"$CRAFT_PART_BUILD/cargo-args\"\n\
         while [ $# -gt 0 ]; do case \"$1\" in --bin) bin=$2;; --target) t=$2;; --target-dir) d=$2;; esac; shift; done\n\
         mkdir -p \"$d/$t/release\" && printf built > \"$d/$t/release/$bin\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    for d in charm_dirs() {
        let text = std::fs::read_to_string(d.join("charmcraft.yaml")).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let name = doc["name"].as_str().unwrap();
        let script = doc["parts"]["rust-charm"]["override-build"].as_str().unwrap();
        let work = dir.path().join(name);
        let (build, install) = (work.join("build"), work.join("install"));
        std::fs::create_dir_all(&build).unwrap();
        std::fs::create_dir_all(&install).unwrap();
        let o = Command::new("bash")
            .args(["-c", script])
            .env("PATH", format!("{}:/usr/bin:/bin", fake_bin.display()))
            .env("CRAFT_ARCH_TRIPLET_BUILD_FOR", "aarch64-linux-gnu")
            .env("CRAFT_PROJECT_DIR", &d)
            .env("CRAFT_PART_BUILD", &build)
            .env("CRAFT_PART_INSTALL", &install)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let args = std::fs::read_to_string(build.join("cargo-args")).unwrap();
        assert!(args.contains("--target aarch64-unknown-linux-gnu"), "{args}");
        assert!(
            args.contains(&format!("--manifest-path {}/Cargo.toml", d.display())),
            "{args}"
        );
        assert_eq!(std::fs::read(install.join("bin").join(name)).unwrap(), b"built");
        assert_eq!(
            std::fs::read_to_string(install.join("dispatch")).unwrap(),
            ensemble::pack::dispatch_script(name),
            "{name}"
        );
        let mode = std::fs::metadata(install.join("dispatch"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}
