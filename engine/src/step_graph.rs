//! The dependency graph of a runbook's steps: cycles, ancestry, execution
//! levels and the critical path.
//!
//! Each section (`steps`, `on_failure`, `finally`) is its own graph; `needs`
//! never crosses sections (the validator reports it if it does).

use std::collections::HashMap;
use std::time::Duration;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::runbook::Runbook;
use crate::step::Section;

pub struct StepGraph {
    /// Nodes hold indexes into `Runbook::steps`; an edge `a -> b` means `b` needs `a`.
    graph: DiGraph<usize, ()>,
    node_of: HashMap<usize, NodeIndex>,
    /// Position of each step in a topological order (empty when cyclic).
    topo_pos: HashMap<usize, usize>,
}

impl StepGraph {
    /// Builds the graph of one section. Unknown and cross-section `needs` are
    /// ignored here; the validator reports them.
    pub fn new(runbook: &Runbook, section: Section) -> Self {
        let mut graph = DiGraph::new();
        let mut node_of = HashMap::new();
        let mut index_of_id = HashMap::new();
        for (i, step) in runbook.steps.iter().enumerate() {
            if step.section == section {
                node_of.insert(i, graph.add_node(i));
                index_of_id.entry(step.id.as_str()).or_insert(i);
            }
        }
        for (i, step) in runbook.steps.iter().enumerate() {
            if step.section != section {
                continue;
            }
            for need in step.needs_ids() {
                if let Some(&j) = index_of_id.get(need) {
                    graph.add_edge(node_of[&j], node_of[&i], ());
                }
            }
        }
        let topo_pos = toposort(&graph, None)
            .map(|order| {
                order
                    .iter()
                    .enumerate()
                    .map(|(pos, n)| (graph[*n], pos))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            graph,
            node_of,
            topo_pos,
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
        !self.topo_pos.is_empty() || self.graph.node_count() == 0
    }

    /// Whether step `a` is a (transitive) dependency of step `b`.
    pub fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let (Some(&na), Some(&nb)) = (self.node_of.get(&a), self.node_of.get(&b)) else {
            return false;
        };
        if let (Some(pa), Some(pb)) = (self.topo_pos.get(&a), self.topo_pos.get(&b)) {
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
        let mut order: Vec<(usize, usize)> = self.topo_pos.iter().map(|(s, p)| (*p, *s)).collect();
        order.sort_unstable();
        order.into_iter().map(|(_, s)| s).collect()
    }

    /// Groups of steps that can run in parallel: level 0 needs nothing,
    /// level n needs something from level n-1.
    pub fn levels(&self) -> Vec<Vec<usize>> {
        let mut level_of: HashMap<usize, usize> = HashMap::new();
        let mut levels: Vec<Vec<usize>> = Vec::new();
        for step in self.order() {
            let n = self.node_of[&step];
            let level = self
                .graph
                .neighbors_directed(n, Direction::Incoming)
                .map(|p| level_of[&self.graph[p]] + 1)
                .max()
                .unwrap_or(0);
            level_of.insert(step, level);
            if levels.len() <= level {
                levels.resize(level + 1, Vec::new());
            }
            levels[level].push(step);
        }
        levels
    }

    /// The longest chain of steps by duration, and its length.
    pub fn critical_path(&self, duration: impl Fn(usize) -> Duration) -> (Vec<usize>, Duration) {
        let mut finish: HashMap<usize, (Duration, Option<usize>)> = HashMap::new();
        for step in self.order() {
            let n = self.node_of[&step];
            let (start, via) = self
                .graph
                .neighbors_directed(n, Direction::Incoming)
                .map(|p| self.graph[p])
                .map(|p| (finish[&p].0, Some(p)))
                .max_by_key(|(d, p)| (*d, std::cmp::Reverse(*p)))
                .unwrap_or((Duration::ZERO, None));
            finish.insert(step, (start + duration(step), via));
        }
        let Some((&end, &(total, _))) = finish
            .iter()
            .max_by_key(|(s, (d, _))| (*d, std::cmp::Reverse(**s)))
        else {
            return (Vec::new(), Duration::ZERO);
        };
        let mut path = vec![end];
        let mut cur = end;
        while let Some(prev) = finish[&cur].1 {
            path.push(prev);
            cur = prev;
        }
        path.reverse();
        (path, total)
    }

    /// Direct dependents of a step.
    pub fn dependents(&self, step: usize) -> Vec<usize> {
        match self.node_of.get(&step) {
            Some(&n) => self
                .graph
                .neighbors_directed(n, Direction::Outgoing)
                .map(|c| self.graph[c])
                .collect(),
            None => Vec::new(),
        }
    }
}
