//! `ensemble pack`: the archive's layout, and that the framework's metadata reader loads it.

use std::io::Read;
use std::process::Command;

#[test]
fn packs_the_token_distributor_in_charmcrafts_layout() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("fake-binary");
    std::fs::write(&binary, b"\x7fELF not really").unwrap();
    let out = dir.path().join("td.charm");
    let charm_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../charms/token-distributor");
    let status = Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args(["pack", charm_dir, "--binary"])
        .arg(&binary)
        .arg("--output")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());

    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let mut names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bin/microcluster-token-distributor",
            "config.yaml",
            "dispatch",
            "manifest.yaml",
            "metadata.yaml"
        ]
    );
    let mut read = |name: &str| -> (String, Option<u32>) {
        let mut f = zip.by_name(name).unwrap();
        let mut s = Vec::new();
        f.read_to_end(&mut s).unwrap();
        (String::from_utf8_lossy(&s).into_owned(), f.unix_mode())
    };
    let (dispatch, mode) = read("dispatch");
    assert!(dispatch.starts_with("#!/bin/sh"));
    assert!(dispatch.contains("exec ./bin/microcluster-token-distributor"));
    assert_eq!(mode.map(|m| m & 0o777), Some(0o755));
    let (bin, mode) = read("bin/microcluster-token-distributor");
    assert_eq!(bin, "\u{7f}ELF not really");
    assert_eq!(mode.map(|m| m & 0o777), Some(0o755));
    let (manifest, _) = read("manifest.yaml");
    let m: serde_yaml_ng::Value = serde_yaml_ng::from_str(&manifest).unwrap();
    assert_eq!(m["bases"][0]["name"], "ubuntu");
    assert_eq!(m["bases"][0]["channel"], "24.04");
    let arches: Vec<&str> = m["bases"][0]["architectures"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(arches, [ensemble::pack::host_arch()]);

    // What Juju unpacks is what the framework reads.
    let (meta, _) = read("metadata.yaml");
    let (config, _) = read("config.yaml");
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    std::fs::write(unpacked.join("metadata.yaml"), &meta).unwrap();
    std::fs::write(unpacked.join("config.yaml"), &config).unwrap();
    let loaded = charm::Metadata::load(&unpacked).unwrap();
    assert_eq!(loaded.name, "microcluster-token-distributor");
    assert_eq!(
        loaded.endpoints["microcluster-cluster"].interface,
        "worker-cluster"
    );
    assert_eq!(
        loaded.endpoints["microcluster-cluster"].role,
        charm::Role::Provides
    );
    assert!(loaded.is_peer("cluster"));
    assert_eq!(
        loaded.config["log-level"].default,
        Some(charm::ConfigValue::String("info".into()))
    );
    let source = charm::Metadata::from_charmcraft_yaml(token_distributor::CHARMCRAFT_YAML).unwrap();
    assert_eq!(loaded, source, "the packed metadata equals the source's");
}

#[test]
fn pack_refuses_a_directory_without_charmcraft_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("b");
    std::fs::write(&bin, b"x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .arg("pack")
        .arg(dir.path())
        .arg("--binary")
        .arg(&bin)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("charmcraft.yaml"));
}

#[test]
fn pack_refuses_an_architecture_the_charm_does_not_declare() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("b");
    std::fs::write(&bin, b"x").unwrap();
    let charm_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../charms/token-distributor");
    let out = Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args(["pack", charm_dir, "--arch", "s390x", "--binary"])
        .arg(&bin)
        .arg("--output")
        .arg(dir.path().join("x.charm"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not one of the charm's platforms"));
}
