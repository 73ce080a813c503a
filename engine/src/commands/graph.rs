use crate::checked_runbook::{load_checked, registry};
use crate::cli::{GraphArgs, GraphFormat};
use crate::cli_error::{exit, CliError};
use crate::templates::Templates;

pub fn run(args: GraphArgs) -> Result<i32, CliError> {
    let registry = registry();
    let templates = Templates::new();
    let runbook = match load_checked(&args.file, &registry, &templates) {
        Ok((rb, _)) => rb,
        Err(diags) => {
            for d in diags {
                eprint!("{}", d.render());
            }
            return Ok(exit::INVALID);
        }
    };
    let label = |s: &crate::step::Step| format!("{}<br/>{}", s.id, s.kind);
    match args.format {
        GraphFormat::Mermaid => {
            println!("flowchart TD");
            for s in &runbook.steps {
                println!("  {}[\"{}\"]", s.id, label(s).replace('"', "'"));
            }
            for s in &runbook.steps {
                for n in s.needs_ids() {
                    println!("  {n} --> {}", s.id);
                }
            }
        }
        GraphFormat::Dot => {
            println!(
                "digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box];",
                runbook.name
            );
            for s in &runbook.steps {
                println!("  {} [label=\"{}\\n{}\"];", s.id, s.id, s.kind);
            }
            for s in &runbook.steps {
                for n in s.needs_ids() {
                    println!("  {n} -> {};", s.id);
                }
            }
            println!("}}");
        }
    }
    Ok(exit::SUCCESS)
}
