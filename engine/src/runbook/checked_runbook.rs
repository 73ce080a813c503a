use std::path::Path;
use std::sync::Arc;

use lifeboat_steps::Registry;

use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::loader;
use crate::runbook::source_file::SourceFile;
use crate::runbook::templates::Templates;
use crate::runbook::validator;
use crate::runbook::Runbook;

/// Reads, loads and validates a runbook file. `Ok` holds the runbook and any
/// warnings; `Err` holds every problem (errors and warnings).
pub fn load_checked(
    path: &Path,
    registry: &Registry,
    templates: &Templates,
) -> Result<(Runbook, Vec<Diagnostic>), Vec<Diagnostic>> {
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                return Err(vec![Diagnostic::error(format!(
                    "`{}` is not UTF-8 text",
                    path.display()
                ))
                .help("save the runbook as UTF-8")])
            }
        },
        Err(e) => {
            let help = if e.kind() == std::io::ErrorKind::NotFound {
                "check the path; shipped runbooks live under runbooks/"
            } else {
                "check the file's permissions"
            };
            return Err(vec![Diagnostic::error(format!(
                "cannot read `{}`: {e}",
                path.display()
            ))
            .help(help)]);
        }
    };
    check_text(SourceFile::new(path, text), registry, templates)
}

/// Loads and validates runbook text.
pub fn check_text(
    source: SourceFile,
    registry: &Registry,
    templates: &Templates,
) -> Result<(Runbook, Vec<Diagnostic>), Vec<Diagnostic>> {
    let (runbook, mut diagnostics) = loader::load(Arc::new(source));
    let Some(runbook) = runbook else {
        return Err(diagnostics);
    };
    diagnostics.extend(validator::validate(&runbook, registry, templates));
    diagnostics.sort_by_key(|d| (d.loc.line, d.loc.col));
    if diagnostics.iter().any(Diagnostic::is_error) {
        Err(diagnostics)
    } else {
        Ok((runbook, diagnostics))
    }
}

/// The registry of every step kind this build of Lifeboat offers.
pub fn registry() -> Registry {
    Registry::builtin()
}
