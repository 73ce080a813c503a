use crate::cli::commands::load_or_report;
use crate::cli::error::{exit, CliError};
use crate::cli::{GraphArgs, GraphFormat};

pub fn run(args: GraphArgs) -> Result<i32, CliError> {
    let runbook = match load_or_report(&args.file) {
        Ok(rb) => rb,
        Err(code) => return Ok(code),
    };
    let label = |s: &crate::runbook::step::Step| match &s.for_each {
        Some(f) => format!("{}[…]<br/>{}<br/>{}", s.id, s.kind, f.describe()),
        None => format!("{}<br/>{}", s.id, s.kind),
    };
    // A called runbook's step (`restore/say`) as a Mermaid node id, which
    // cannot hold `/`; the label keeps the real id.
    let node = |id: &str| id.replace('/', "__");
    // In DOT it is quoted.
    let dot = |id: &str| {
        if id.contains('/') {
            format!("\"{id}\"")
        } else {
            id.to_string()
        }
    };
    match args.format {
        GraphFormat::Mermaid => {
            println!("flowchart TD");
            for s in &runbook.steps {
                println!("  {}[\"{}\"]", node(&s.id), label(s).replace('"', "'"));
            }
            for s in &runbook.steps {
                for n in s.needs_ids() {
                    println!("  {} --> {}", node(n), node(&s.id));
                }
            }
        }
        GraphFormat::Dot => {
            println!(
                "digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box];",
                runbook.name
            );
            for s in &runbook.steps {
                match &s.for_each {
                    Some(f) => println!(
                        "  {} [label=\"{}[…]\\n{}\\n{}\", shape=box3d];",
                        dot(&s.id),
                        s.id,
                        s.kind,
                        f.describe().replace('"', "'")
                    ),
                    None => println!("  {} [label=\"{}\\n{}\"];", dot(&s.id), s.id, s.kind),
                }
            }
            for s in &runbook.steps {
                for n in s.needs_ids() {
                    println!("  {} -> {};", dot(n), dot(&s.id));
                }
            }
            println!("}}");
        }
    }
    Ok(exit::SUCCESS)
}
