//! Charm directories for the simulator's process driver ([`juju_sim::Sim::deploy_charm_dir`]):
//! a Rust charm laid out as `ensemble pack` lays it out (with `dispatch` a link to the built
//! binary, so nothing large is copied), and a Python `ops` charm with its `venv` taken from a
//! Python virtual environment, as charmcraft packs it.

use crate::pack::{host_arch, layout, PackError};
use std::path::{Path, PathBuf};

/// The variable naming the Python virtual environment that holds `ops` and
/// `charmlibs-rollingops` (default: `.venv` in the current directory; `./scripts/test` makes it).
pub const VENV_ENV: &str = "ENSEMBLE_PYTHON_VENV";

/// Lays out the Rust charm whose `charmcraft.yaml` is in `charm_source` in `out`: the
/// generated `metadata.yaml`, `config.yaml`, `actions.yaml` and `manifest.yaml`, and
/// `dispatch` as a symbolic link to `binary` (Juju runs `dispatch` for every hook, and a Rust
/// charm's binary reads `JUJU_DISPATCH_PATH`, so it needs no shell shim in front).
pub fn rust_charm_dir(charm_source: &Path, binary: &Path, out: &Path) -> Result<PathBuf, PackError> {
    let cc = charm_source.join("charmcraft.yaml");
    let text = std::fs::read_to_string(&cc).map_err(|error| PackError::Io {
        path: cc.clone(),
        error,
    })?;
    let packed = layout(&text, Vec::new(), host_arch())?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |error| PackError::Io { path, error }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    for (name, content, _) in &packed.files {
        if name == "dispatch" || name.starts_with("bin/") {
            continue; // dispatch is the binary itself here
        }
        let path = out.join(name);
        std::fs::write(&path, content).map_err(io(&path))?;
    }
    let dispatch = out.join("dispatch");
    let _ = std::fs::remove_file(&dispatch);
    let binary = binary.canonicalize().map_err(io(binary))?;
    std::os::unix::fs::symlink(&binary, &dispatch).map_err(io(&dispatch))?;
    Ok(out.to_owned())
}

/// The virtual environment named by [`VENV_ENV`], or `.venv` in the current directory.
pub fn default_venv() -> PathBuf {
    std::env::var_os(VENV_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".venv"))
}

/// The `site-packages` directory of the virtual environment `venv`.
pub fn site_packages(venv: &Path) -> Result<PathBuf, String> {
    let lib = venv.join("lib");
    let entries = std::fs::read_dir(&lib).map_err(|e| {
        format!(
            "no Python virtual environment at {} ({e}): run ./scripts/test, or `python3 -m venv {0} && \
             {0}/bin/pip install -r scripts/python-requirements.txt`, or set {VENV_ENV}",
            venv.display()
        )
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.join("ops").is_dir())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| {
        format!(
            "the virtual environment at {} has no `ops`: `{}/bin/pip install -r scripts/python-requirements.txt`",
            venv.display(),
            venv.display()
        )
    })
}

/// Copies the Python charm in `source` (with its `dispatch`, `src/` and metadata) to `out` and
/// links `out/venv` to the `site-packages` of `venv`, as a packed charm carries its
/// dependencies in `venv/`.
pub fn python_charm_dir(source: &Path, venv: &Path, out: &Path) -> Result<PathBuf, String> {
    let site = site_packages(venv)?;
    let site = site
        .canonicalize()
        .map_err(|e| format!("{}: {e}", site.display()))?;
    copy_dir(source, out).map_err(|e| format!("copying {} to {}: {e}", source.display(), out.display()))?;
    let link = out.join("venv");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&site, &link).map_err(|e| format!("{}: {e}", link.display()))?;
    Ok(out.to_owned())
}

/// Copies the Python charm in `source` to `out` and links `out/venv` to the virtual
/// environment `venv` itself, as charmcraft's `python` and `uv` plugins pack a charm: `venv/`
/// is a virtual environment (`venv/bin/python`, `venv/lib/python3.X/site-packages`) and
/// `dispatch` runs `venv/bin/python`. Libraries that start Python workers from the charm's
/// `venv/lib/python3.X/site-packages` (charmlibs-rollingops) need this layout.
pub fn python_venv_charm_dir(source: &Path, venv: &Path, out: &Path) -> Result<PathBuf, String> {
    site_packages(venv)?;
    let venv = venv
        .canonicalize()
        .map_err(|e| format!("{}: {e}", venv.display()))?;
    if !venv.join("bin").join("python").exists() {
        return Err(format!(
            "{} is not a virtual environment (no bin/python): `/usr/bin/python3 -m venv {0}`",
            venv.display()
        ));
    }
    copy_dir(source, out).map_err(|e| format!("copying {} to {}: {e}", source.display(), out.display()))?;
    let link = out.join("venv");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&venv, &link).map_err(|e| format!("{}: {e}", link.display()))?;
    Ok(out.to_owned())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_dir(&entry.path(), &target)?;
            }
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
