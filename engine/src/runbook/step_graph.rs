//! The dependency graph of a runbook's steps: cycles, ancestry, execution
//! levels and the critical path.
//!
//! Each section (`steps`, `on_failure`, `finally`) is its own graph; `needs`
//! never crosses sections (the validator reports it if it does).

use std::time::Duration;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::runbook::step::Section;
use crate::runbook::Runbook;

/// The longest chain of steps by duration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CriticalPath {
    /// Step indices, first to last.
    pub steps: Vec<usize>,
    /// The chain's total duration.
    pub duration: Duration,
}

pub struct StepGraph {
    /// Nodes hold indexes into `Runbook::steps`; an edge `a -> b` means `b` needs `a`.
    graph: DiGraph<usize, ()>,
    /// The graph node of each step index (`None` for other sections).
    node_of: Vec<Option<NodeIndex>>,
    /// Position of each step in a topological order (empty when cyclic).
    topo_pos: Vec<Option<usize>>,
    acyclic: bool,
}

impl StepGraph {
    /// Builds the graph of one section. Unknown and cross-section `needs` are
    /// ignored here; the validator reports them.
    pub fn new(runbook: &Runbook, section: Section) -> Self {
        let mut graph = DiGraph::new();
        let mut node_of = vec![None; runbook.steps.len()];
        for (i, step) in runbook.steps.iter().enumerate() {
            if step.section == section {
                node_of[i] = Some(graph.add_node(i));
            }
        }
        for (i, step) in runbook.steps.iter().enumerate() {
            if step.section != section {
                continue;
            }
            for need in step.needs_ids() {
                let Some(j) = runbook.step_index(need) else {
                    continue;
                };
                if let (Some(from), Some(to)) = (node_of[j], node_of[i]) {
                    graph.add_edge(from, to, ());
                }
            }
        }
        let mut topo_pos = vec![None; runbook.steps.len()];
        let acyclic = match toposort(&graph, None) {
            Ok(order) => {
                for (pos, n) in order.iter().enumerate() {
                    topo_pos[graph[*n]] = Some(pos);
                }
                true
            }
            Err(_) => false,
        };
        Self {
            graph,
            node_of,
            topo_pos,
            acyclic,
        }
    }

    /// Every cycle, each as step indexes where the first equals the last.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        for scc in tarjan_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            // Walk inside the component from its first node until we return.
            let members: std::collections::HashSet<_> = scc.iter().copied().collect();
            let start = *scc
                .iter()
                .min_by_key(|n| self.graph[**n])
                .expect("non-empty");
            let mut path = vec![start];
            let mut seen = std::collections::HashSet::from([start]);
            let mut cur = start;
            loop {
                let next = self
                    .graph
                    .neighbors_directed(cur, Direction::Outgoing)
                    .filter(|n| members.contains(n))
                    .min_by_key(|n| (*n != start, seen.contains(n), self.graph[*n]));
                let Some(next) = next else { break };
                path.push(next);
                if next == start || seen.contains(&next) {
                    break;
                }
                seen.insert(next);
                cur = next;
            }
            out.push(path.iter().map(|n| self.graph[*n]).collect());
        }
        out
    }

    pub fn is_acyclic(&self) -> bool {
        self.acyclic
    }

    /// Whether step `a` is a (transitive) dependency of step `b`.
    pub fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let (Some(Some(na)), Some(Some(nb))) =
            (self.node_of.get(a).copied(), self.node_of.get(b).copied())
        else {
            return false;
        };
        if let (Some(Some(pa)), Some(Some(pb))) = (self.topo_pos.get(a), self.topo_pos.get(b)) {
            if pa >= pb {
                return false;
            }
        }
        let mut stack = vec![nb];
        let mut seen = std::collections::HashSet::new();
        while let Some(n) = stack.pop() {
            for p in self.graph.neighbors_directed(n, Direction::Incoming) {
                if p == na {
                    return true;
                }
                if seen.insert(p) {
                    stack.push(p);
                }
            }
        }
        false
    }

    /// Step indexes in a topological order (empty when cyclic).
    pub fn order(&self) -> Vec<usize> {
        let mut order: Vec<(usize, usize)> = self
            .topo_pos
            .iter()
            .enumerate()
            .filter_map(|(s, p)| p.map(|p| (p, s)))
            .collect();
        order.sort_unstable();
        order.into_iter().map(|(_, s)| s).collect()
    }

    /// Groups of steps that can run in parallel: level 0 needs nothing,
    /// level n needs something from level n-1.
    pub fn levels(&self) -> Vec<Vec<usize>> {
        let mut level_of = vec![0usize; self.node_of.len()];
        let mut levels: Vec<Vec<usize>> = Vec::new();
        for step in self.order() {
            let n = self.node_of[step].expect("ordered steps have nodes");
            let level = self
                .graph
                .neighbors_directed(n, Direction::Incoming)
                .map(|p| level_of[self.graph[p]] + 1)
                .max()
                .unwrap_or(0);
            level_of[step] = level;
            if levels.len() <= level {
                levels.resize(level + 1, Vec::new());
            }
            levels[level].push(step);
        }
        levels
    }

    /// The longest chain of steps by duration, and its length.
    pub fn critical_path(&self, duration: impl Fn(usize) -> Duration) -> CriticalPath {
        let mut finish: Vec<Option<(Duration, Option<usize>)>> = vec![None; self.node_of.len()];
        for step in self.order() {
            let n = self.node_of[step].expect("ordered steps have nodes");
            let (start, via) = self
                .graph
                .neighbors_directed(n, Direction::Incoming)
                .map(|p| self.graph[p])
                .map(|p| (finish[p].map(|f| f.0).unwrap_or_default(), Some(p)))
                .max_by_key(|(d, p)| (*d, std::cmp::Reverse(*p)))
                .unwrap_or((Duration::ZERO, None));
            finish[step] = Some((start + duration(step), via));
        }
        let Some((end, total)) = finish
            .iter()
            .enumerate()
            .filter_map(|(s, f)| f.map(|(d, _)| (s, d)))
            .max_by_key(|(s, d)| (*d, std::cmp::Reverse(*s)))
        else {
            return CriticalPath::default();
        };
        let mut path = vec![end];
        let mut cur = end;
        while let Some(prev) = finish[cur].and_then(|f| f.1) {
            path.push(prev);
            cur = prev;
        }
        path.reverse();
        CriticalPath {
            steps: path,
            duration: total,
        }
    }

    /// Direct dependents of a step.
    pub fn dependents(&self, step: usize) -> Vec<usize> {
        match self.node_of.get(step).copied().flatten() {
            Some(n) => self
                .graph
                .neighbors_directed(n, Direction::Outgoing)
                .map(|c| self.graph[c])
                .collect(),
            None => Vec::new(),
        }
    }
}
