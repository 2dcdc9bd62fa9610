//! Expansion: the one pass that turns declarations into instances.
//!
//! Every repetition goes through [`Expander::repetitions`]: `for_each` and
//! `count` on nodes and module calls, and rollout stages. A module call
//! becomes one scope per instance (`module.tenant["b"].`), a rollout one set
//! of nodes and module calls per stage (`rollout.traffic[50].`), a node with
//! `for_each` one node per key (`step.copy["a"]`). Expressions that decide
//! how many instances there are are evaluated here, before anything is read
//! from a real system: they may use variables and locals, not node values.

use crate::addr::Key;
use crate::eval::Evaluator;
use crate::spec::ast::{Expr, FleetDecl, ModuleCall, ModuleSource, NodeDecl, RolloutDecl};
use crate::spec::diagnostic::{did_you_mean, Diagnostic, Diagnostics, SourceSpan};
use crate::spec::load::load_dir;
use crate::spec::{
    Each, Fleet, FleetTarget, Inst, Instances, ModuleParent, NodeInstance, RolloutInstance, Scope,
    ScopeId, Spec, Stage, StageRef, VarInputs,
};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

const MAX_MODULE_DEPTH: usize = 16;

/// Loads, checks and expands the migration in `dir`, reading no data
/// source: a `for_each` or `count` that uses one is a diagnostic here (see
/// [`load_with`]). All problems are returned at once.
pub fn load(dir: &Path, inputs: &VarInputs) -> Result<Spec, Diagnostics> {
    let (spec, pending) = load_with(dir, inputs, &ReadData::default())?;
    match pending.first() {
        None => Ok(spec),
        Some(&id) => {
            let d = Diagnostic::error(
                "Data source not read",
                format!(
                    "A `for_each` or `count` uses {}, which is read at plan time; this command does not read data sources.",
                    spec.nodes[id].address
                ),
            )
            .at(Some(spec.nodes[id].decl.span.clone()));
            let mut diags = Diagnostics::default();
            diags.push(d);
            Err(diags)
        }
    }
}

/// Loads and expands the migration with the data sources in `data` already
/// read. Also returns the data sources that a `for_each` or `count` needs
/// and `data` lacks: read them and load again (the blocks that need them
/// are left out of this expansion).
pub fn load_with(
    dir: &Path,
    inputs: &VarInputs,
    data: &ReadData,
) -> Result<(Spec, Vec<crate::spec::NodeId>), Diagnostics> {
    let mut diags = Diagnostics::default();
    let root = load_dir(dir, &mut diags);
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    let variables = crate::spec::variables::resolve_root(&root, inputs, &mut diags);
    let settings = crate::spec::MigrationSettings::from_decl(&root, &mut diags);
    let mut spec = Spec {
        dir: dir.to_path_buf(),
        settings,
        scopes: Vec::new(),
        nodes: Vec::new(),
        fleets: Vec::new(),
        variables,
        digest: String::new(),
    };
    let mut x = Expander {
        spec: &mut spec,
        diags: &mut diags,
        sources: HashMap::new(),
        data,
        pending: Vec::new(),
    };
    x.scope(Arc::new(root), String::new(), None, 0);
    let mut pending = std::mem::take(&mut x.pending);
    pending.sort_unstable();
    pending.dedup();
    spec.digest = crate::spec::digest(&spec);
    if diags.has_errors() && pending.is_empty() {
        return Err(diags.sorted());
    }
    Ok((spec, pending))
}

/// How many instances a block has, before they are numbered.
enum Repetition {
    Single,
    Count(u64),
    /// Keys in order, with `each.value`.
    ForEach(Vec<(String, hcl::Value)>),
}

struct Expander<'a> {
    spec: &'a mut Spec,
    diags: &'a mut Diagnostics,
    /// Module sources by call (pointer of the `ModuleCall`): a module called
    /// for 1,000 tenants is read once.
    sources: HashMap<*const ModuleCall, Option<Arc<ModuleSource>>>,
    /// Data sources read before this expansion.
    data: &'a ReadData,
    /// Data sources a `for_each` or `count` needs that `data` lacks.
    pending: Vec<crate::spec::NodeId>,
}

impl Expander<'_> {
    /// Adds the scope of `source` and everything inside it.
    fn scope(
        &mut self,
        source: Arc<ModuleSource>,
        prefix: String,
        parent: Option<ModuleParent>,
        depth: usize,
    ) -> ScopeId {
        let id = self.spec.scopes.len();
        let first_node = self.spec.nodes.len();
        let is_module = parent.is_some();
        self.spec.scopes.push(Scope {
            source: Arc::clone(&source),
            prefix: prefix.clone(),
            parent,
            children: BTreeMap::new(),
            nodes: HashMap::new(),
            rollouts: BTreeMap::new(),
            all_nodes: first_node..first_node,
        });
        check_unique_names(&source, is_module, self.diags);
        let mut taken: HashMap<String, SourceSpan> = HashMap::new();
        // Data sources that decide how many instances other blocks have come first.
        let mut decls: Vec<&Arc<NodeDecl>> = source.nodes.iter().collect();
        if uses_data_for_expansion(&source) {
            decls.sort_by_key(|d| d.kind != crate::spec::ast::NodeKind::Data);
        }
        for decl in decls {
            if let Some(g) = self.node_group(id, decl, &Inst::NONE, &prefix, &mut taken) {
                self.spec.scopes[id].nodes.insert(decl.local_address(), g);
            }
        }
        let mut calls: HashMap<String, SourceSpan> = HashMap::new();
        for call in &source.modules {
            if let Some(g) = self.module_group(id, call, &Inst::NONE, &prefix, depth, &mut calls) {
                self.spec.scopes[id].children.insert(call.name.clone(), g);
            }
        }
        for r in &source.rollouts {
            self.rollout(id, r, &prefix, depth, &taken, &calls);
        }
        self.spec.scopes[id].all_nodes = first_node..self.spec.nodes.len();
        id
    }

    /// The instances of one node block, added to the spec.
    fn node_group(
        &mut self,
        scope: ScopeId,
        decl: &Arc<NodeDecl>,
        outer: &Inst,
        prefix: &str,
        taken: &mut HashMap<String, SourceSpan>,
    ) -> Option<Instances<crate::spec::NodeId>> {
        let local = decl.local_address();
        if let Some(first) = taken.get(&local) {
            self.diags
                .push(duplicate("The block", &local, first, &decl.span));
            return None;
        }
        taken.insert(local.clone(), decl.span.clone());
        let for_each = decl.body.attr("for_each").map(|a| &a.value);
        let count = decl.body.attr("count").map(|a| &a.value);
        let rep = self.repetitions(scope, outer, for_each, count, &decl.span)?;
        let single = matches!(rep, Repetition::Single);
        let group = self.instances(rep, outer, |x, key, inst| {
            let id = x.spec.nodes.len();
            x.spec.nodes.push(NodeInstance {
                address: format!("{prefix}{local}{key}"),
                decl: Arc::clone(decl),
                scope,
                inst,
                fleet: None,
            });
            id
        });
        if let Some(b) = decl.body.block("fleet") {
            let f = FleetDecl::from_block(b);
            let targets = group
                .all()
                .into_iter()
                .map(|id| FleetTarget {
                    address: self.spec.nodes[id].address.clone(),
                    nodes: id..id + 1,
                })
                .collect();
            self.fleet(
                scope,
                outer,
                &format!("{prefix}{local}"),
                &f,
                single,
                targets,
            );
        }
        Some(group)
    }

    /// Numbers the instances of a repetition, calling `add` for each with
    /// its address key (`""`, `[2]`, `["a"]`) and its `each`/`count`.
    fn instances<T>(
        &mut self,
        rep: Repetition,
        outer: &Inst,
        mut add: impl FnMut(&mut Self, String, Inst) -> T,
    ) -> Instances<T> {
        let with = |each: Each| Inst {
            stage: outer.stage.clone(),
            each: Some(Box::new(each)),
        };
        match rep {
            Repetition::Single => Instances::Single(add(self, String::new(), outer.clone())),
            Repetition::Count(n) => Instances::Count(
                (0..n)
                    .map(|i| add(self, Key::Int(i as i64).to_string(), with(Each::Count(i))))
                    .collect(),
            ),
            Repetition::ForEach(items) => Instances::ForEach(
                items
                    .into_iter()
                    .map(|(key, value)| {
                        let k = Key::Str(key.clone()).to_string();
                        let t = add(
                            self,
                            k,
                            with(Each::ForEach {
                                key: key.clone(),
                                value,
                            }),
                        );
                        (key, t)
                    })
                    .collect(),
            ),
        }
    }

    /// The instances of one module call: one scope each.
    fn module_group(
        &mut self,
        scope: ScopeId,
        call: &Arc<ModuleCall>,
        outer: &Inst,
        prefix: &str,
        depth: usize,
        taken: &mut HashMap<String, SourceSpan>,
    ) -> Option<Instances<ScopeId>> {
        if let Some(first) = taken.get(&call.name) {
            self.diags
                .push(duplicate("The module call", &call.name, first, &call.span));
            return None;
        }
        taken.insert(call.name.clone(), call.span.clone());
        let source = self.module_source(call, depth)?;
        let rep = self.repetitions(
            scope,
            outer,
            call.for_each.as_ref(),
            call.count.as_ref(),
            &call.span,
        )?;
        let single = matches!(rep, Repetition::Single);
        let group = self.instances(rep, outer, |x, key, inst| {
            let parent = ModuleParent {
                scope,
                call: Arc::clone(call),
                inst,
            };
            let child_prefix = format!("{prefix}module.{}{key}.", call.name);
            x.scope(Arc::clone(&source), child_prefix, Some(parent), depth + 1)
        });
        if let Some(f) = &call.fleet {
            let targets = group
                .all()
                .into_iter()
                .map(|s| FleetTarget {
                    address: self.spec.scopes[s].prefix.trim_end_matches('.').to_string(),
                    nodes: self.spec.scopes[s].all_nodes.clone(),
                })
                .collect();
            let address = format!("{prefix}module.{}", call.name);
            self.fleet(scope, outer, &address, f, single, targets);
        }
        Some(group)
    }

    /// A fleet's gates, once after every batch but the last:
    /// `module.tenant.after_batch[1].gate.healthy` holds between batches 1 and 2.
    fn fleet_gates(
        &mut self,
        scope: ScopeId,
        outer: &Inst,
        fleet: &Fleet,
        decl: &FleetDecl,
    ) -> Vec<Vec<crate::spec::NodeId>> {
        let boundaries = fleet.batches.len().saturating_sub(1);
        (0..boundaries)
            .map(|k| {
                decl.gates
                    .iter()
                    .map(|g| {
                        let id = self.spec.nodes.len();
                        self.spec.nodes.push(NodeInstance {
                            address: format!(
                                "{}.after_batch[{}].{}",
                                fleet.address,
                                k + 1,
                                g.local_address()
                            ),
                            decl: Arc::clone(g),
                            scope,
                            inst: outer.clone(),
                            fleet: None,
                        });
                        id
                    })
                    .collect()
            })
            .collect()
    }

    /// Records the fleet of a repeated block: its targets and batches.
    fn fleet(
        &mut self,
        scope: ScopeId,
        outer: &Inst,
        address: &str,
        decl: &FleetDecl,
        single: bool,
        targets: Vec<FleetTarget>,
    ) {
        if single {
            self.diags.push(
                Diagnostic::error(
                    "Invalid fleet block",
                    "A fleet rolls out the instances of a repeated block; give the block `for_each` or `count`.",
                )
                .at(Some(decl.span.clone())),
            );
            return;
        }
        let n = targets.len();
        let mut value = |e: &Option<Expr>, what: &str| match e {
            Some(e) => self
                .known_value(scope, outer, e, what)
                .map(|v| Some((v, e.clone()))),
            None => Some(None),
        };
        let (Some(batches), Some(conc), Some(errors), Some(pause)) = (
            value(&decl.batches, "batches"),
            value(&decl.max_concurrency, "max_concurrency"),
            value(&decl.max_errors, "max_errors"),
            value(&decl.pause, "pause"),
        ) else {
            return;
        };
        let settings = (|| -> Result<Fleet, (String, SourceSpan)> {
            fn at(e: &Expr) -> impl Fn(String) -> (String, SourceSpan) + '_ {
                move |why| (why, e.span.clone())
            }
            let batches = match &batches {
                Some((v, e)) => fleet_batches(v, n).map_err(at(e))?,
                None => vec![n],
            };
            let max_concurrency = match &conc {
                Some((v, e)) => fleet_size(v, n, "max_concurrency").map_err(at(e))?.max(1),
                None => n.max(1),
            };
            let max_errors = match &errors {
                Some((v, e)) => fleet_size(v, n, "max_errors").map_err(at(e))?,
                None => 0,
            };
            let pause = match &pause {
                Some((v, e)) => v
                    .as_str()
                    .and_then(|s| crate::eval::duration::parse(s).ok())
                    .ok_or_else(|| {
                        at(e)("`pause` is a duration such as \"10m\" or \"30s\".".into())
                    })?,
                None => std::time::Duration::ZERO,
            };
            Ok(Fleet {
                address: address.to_string(),
                targets,
                batches,
                max_concurrency,
                max_errors,
                pause,
                gates: Vec::new(),
            })
        })();
        let fleet = match settings {
            Ok(f) => f,
            Err((why, span)) => {
                self.diags
                    .push(Diagnostic::error("Invalid fleet block", why).at(Some(span)));
                return;
            }
        };
        let mut fleet = fleet;
        fleet.gates = self.fleet_gates(scope, outer, &fleet, decl);
        let id = self.spec.fleets.len();
        for (t, target) in fleet.targets.iter().enumerate() {
            for node in target.nodes.clone() {
                if self.spec.nodes[node].fleet.is_some() {
                    self.diags.push(
                        Diagnostic::error(
                            "Invalid fleet block",
                            "Fleets do not nest: a module rolled out as a fleet calls another fleet.",
                        )
                        .at(Some(decl.span.clone())),
                    );
                    return;
                }
                self.spec.nodes[node].fleet = Some((id, t));
            }
        }
        self.spec.fleets.push(fleet);
    }

    /// The source directory of a module call, read and checked once.
    fn module_source(&mut self, call: &Arc<ModuleCall>, depth: usize) -> Option<Arc<ModuleSource>> {
        let key = Arc::as_ptr(call);
        if let Some(s) = self.sources.get(&key) {
            return s.clone();
        }
        let s = self.read_module(call, depth).map(Arc::new);
        self.sources.insert(key, s.clone());
        s
    }

    fn read_module(&mut self, call: &ModuleCall, depth: usize) -> Option<ModuleSource> {
        if depth >= MAX_MODULE_DEPTH {
            self.diags.push(
                Diagnostic::error(
                    "Modules nested too deeply",
                    format!("Module calls nest more than {MAX_MODULE_DEPTH} levels deep; a module probably calls itself."),
                )
                .at(Some(call.span.clone())),
            );
            return None;
        }
        let base = self.call_dir(call);
        let dir = base.join(&call.source);
        if !dir.is_dir() {
            self.diags.push(
                Diagnostic::error(
                    "Module not found",
                    format!(
                        "The module source \"{}\" is not a directory (looked in {}).",
                        call.source,
                        dir.display()
                    ),
                )
                .at(Some(call.source_span.clone())),
            );
            return None;
        }
        let mut child_diags = Diagnostics::default();
        let child = load_dir(&dir, &mut child_diags);
        let failed = child_diags.has_errors();
        self.diags.extend(child_diags);
        if failed {
            return None;
        }
        check_inputs(call, &child, self.diags);
        Some(child)
    }

    /// The directory a call's `source` is relative to: its file's.
    fn call_dir(&self, call: &ModuleCall) -> std::path::PathBuf {
        call.span
            .path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Every instance of a rollout (one, or one per `for_each` key or `count` index).
    fn rollout(
        &mut self,
        scope: ScopeId,
        decl: &RolloutDecl,
        prefix: &str,
        depth: usize,
        taken: &HashMap<String, SourceSpan>,
        calls: &HashMap<String, SourceSpan>,
    ) {
        let Some(rep) = self.repetitions(
            scope,
            &Inst::NONE,
            decl.for_each.as_ref(),
            decl.count.as_ref(),
            &decl.span,
        ) else {
            return;
        };
        self.instances(rep, &Inst::NONE, |x, key, inst| {
            x.rollout_instance(scope, decl, &key, &inst, prefix, depth, taken, calls);
        });
    }

    /// Every stage of one rollout instance: its nodes and module calls, once per stage.
    #[allow(clippy::too_many_arguments)]
    fn rollout_instance(
        &mut self,
        scope: ScopeId,
        decl: &RolloutDecl,
        key: &str,
        outer: &Inst,
        prefix: &str,
        depth: usize,
        taken: &HashMap<String, SourceSpan>,
        calls: &HashMap<String, SourceSpan>,
    ) {
        let Some(values) = self.stage_values(scope, outer, decl) else {
            return;
        };
        let id = format!("{}{key}", decl.name);
        let address = format!("{prefix}rollout.{id}");
        let mut stages = Vec::with_capacity(values.len());
        for (index, value) in values.iter().enumerate() {
            let inst = Inst {
                stage: Some(Box::new(StageRef {
                    rollout: id.clone(),
                    index,
                    value: value.clone(),
                })),
                each: outer.each.clone(),
            };
            let key = Key::from_value(value)
                .map(|k| k.to_string())
                .unwrap_or_default();
            let stage_prefix = format!("{address}{key}.");
            // Names used outside the rollout may not be reused inside it. A
            // problem found in every stage is reported once (`sorted` dedups).
            let mut local_taken = taken.clone();
            let mut local_calls = calls.clone();
            let mut stage = Stage::default();
            for n in &decl.nodes {
                if let Some(g) = self.node_group(scope, n, &inst, &stage_prefix, &mut local_taken) {
                    stage.nodes.insert(n.local_address(), g);
                }
            }
            for call in &decl.modules {
                if let Some(g) =
                    self.module_group(scope, call, &inst, &stage_prefix, depth, &mut local_calls)
                {
                    stage.modules.insert(call.name.clone(), g);
                }
            }
            stages.push(stage);
        }
        self.spec.scopes[scope].rollouts.insert(
            id,
            RolloutInstance {
                name: decl.name.clone(),
                address,
                stage_values: values,
                stages,
            },
        );
    }

    fn stage_values(
        &mut self,
        scope: ScopeId,
        outer: &Inst,
        r: &RolloutDecl,
    ) -> Option<Vec<hcl::Value>> {
        let stages = r.stages.as_ref()?;
        let bad = |detail: String| {
            Diagnostic::error("Invalid rollout stages", detail).at(Some(stages.span.clone()))
        };
        let v = self.known_value(scope, outer, stages, "stages")?;
        let Some(items) = v.as_array() else {
            self.diags.push(bad(
                "`stages` must be a list of numbers or strings, as in [10, 50, 100].".into(),
            ));
            return None;
        };
        if items.is_empty() {
            self.diags.push(bad(
                "`stages` is empty; a rollout needs at least one stage.".into(),
            ));
            return None;
        }
        let mut seen = Vec::new();
        for it in items {
            let problem = if Key::from_value(it).is_none() {
                Some("is not a number or string")
            } else if seen.contains(it) {
                Some("appears twice; each stage value must be unique")
            } else {
                None
            };
            if let Some(p) = problem {
                self.diags
                    .push(bad(format!("stage {} {p}.", crate::eval::short(it))));
                return None;
            }
            seen.push(it.clone());
        }
        Some(seen)
    }

    /// Whether every data source `e` uses has been read; those that have not
    /// are noted as pending.
    fn data_ready(&mut self, scope: ScopeId, inst: &Inst, e: &Expr) -> bool {
        let mut ready = true;
        for r in e.refs.iter().filter(|r| r.root() == "data") {
            let ids = match self.spec.resolve(r, scope, inst) {
                Ok(crate::spec::resolve::Target::Node { id, .. }) => vec![id],
                Ok(crate::spec::resolve::Target::Nodes { ids, .. }) => ids.all(),
                Ok(_) => Vec::new(),
                Err(d) => {
                    self.diags.push(d);
                    ready = false;
                    continue;
                }
            };
            for id in ids {
                if !self.data.outputs.contains_key(&self.spec.nodes[id].address) {
                    self.pending.push(id);
                    ready = false;
                }
            }
        }
        ready
    }

    /// Evaluates the `for_each` or `count` of a block written in `scope`.
    fn repetitions(
        &mut self,
        scope: ScopeId,
        outer: &Inst,
        for_each: Option<&Expr>,
        count: Option<&Expr>,
        span: &SourceSpan,
    ) -> Option<Repetition> {
        match (for_each, count) {
            (None, None) => Some(Repetition::Single),
            (Some(_), Some(c)) => {
                self.diags.push(
                    Diagnostic::error(
                        "Invalid combination of \"count\" and \"for_each\"",
                        "A block may have `count` or `for_each`, not both.",
                    )
                    .at(Some(c.span.clone())),
                );
                let _ = span;
                None
            }
            (None, Some(c)) => {
                let v = self.known_value(scope, outer, c, "count")?;
                match v.as_f64() {
                    Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 100_000.0 => {
                        Some(Repetition::Count(n as u64))
                    }
                    _ => {
                        self.diags.push(invalid(
                            "count",
                            c,
                            format!(
                                "`count` must be a whole number from 0 to 100000; got {}.",
                                crate::eval::short(&v)
                            ),
                        ));
                        None
                    }
                }
            }
            (Some(f), None) => {
                let v = self.known_value(scope, outer, f, "for_each")?;
                match for_each_items(&v) {
                    Ok(items) => Some(Repetition::ForEach(items)),
                    Err(why) => {
                        self.diags.push(invalid("for_each", f, why));
                        None
                    }
                }
            }
        }
    }

    /// The value of an expression that decides expansion: it must be known
    /// now, and not secret (it would appear in addresses).
    fn known_value(
        &mut self,
        scope: ScopeId,
        inst: &Inst,
        e: &Expr,
        what: &str,
    ) -> Option<hcl::Value> {
        let not_allowed = |r: &&crate::spec::ast::Reference| {
            !EXPANSION_ROOTS.contains(&r.root()) && r.root() != "data"
        };
        if let Some(r) = e.refs.iter().find(not_allowed) {
            self.diags.push(invalid(
                what,
                e,
                format!(
                    "`{what}` must be known before anything is read or applied, but it uses `{}`: it is only known after apply. Use variables, locals and data sources here.",
                    r.display()
                ),
            ));
            return None;
        }
        if !self.data_ready(scope, inst, e) {
            return None;
        }
        let ev = Evaluator::new(&*self.spec);
        let values = DataValues(self.data, &self.spec.nodes);
        let result = ev.eval(e, scope, inst, &values);
        match result {
            Err(d) => {
                self.diags.push(d);
                None
            }
            Ok(v) if v.sensitive => {
                self.diags.push(invalid(
                    what,
                    e,
                    format!("`{what}` uses a sensitive value, which would appear in addresses and the plan."),
                ));
                None
            }
            Ok(v) => match v.val {
                Some(v) => Some(v),
                None => {
                    self.diags.push(invalid(
                        what,
                        e,
                        format!("`{what}` must be known before apply; this value is only known after apply."),
                    ));
                    None
                }
            },
        }
    }
}

/// Data source values read before expansion, by address: their outputs and
/// which of those are secrets. See [`load_with`].
#[derive(Debug, Default, Clone)]
pub struct ReadData {
    pub outputs: BTreeMap<String, crate::providers::Attrs>,
    pub sensitive: BTreeMap<String, Vec<String>>,
}

/// Node values during expansion: the data sources read before it; every
/// other node is unknown.
struct DataValues<'a>(&'a ReadData, &'a [NodeInstance]);

impl crate::eval::NodeValues for DataValues<'_> {
    fn attr(&self, id: crate::spec::NodeId, attr: &str) -> Option<crate::eval::Evaluated> {
        let address = &self.1[id].address;
        let Some(outputs) = self.0.outputs.get(address) else {
            return Some(crate::eval::Evaluated::unknown());
        };
        let sensitive = self
            .0
            .sensitive
            .get(address)
            .is_some_and(|s| s.iter().any(|k| k == attr));
        Some(crate::eval::Evaluated {
            val: Some(
                outputs
                    .get(attr)
                    .map(crate::eval::from_json)
                    .unwrap_or(hcl::Value::Null),
            ),
            sensitive,
        })
    }

    fn object(&self, id: crate::spec::NodeId) -> crate::eval::Evaluated {
        match self.0.outputs.get(&self.1[id].address) {
            Some(o) => crate::eval::Evaluated {
                val: Some(crate::eval::from_json(&serde_json::Value::Object(
                    o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ))),
                sensitive: self.0.sensitive.contains_key(&self.1[id].address),
            },
            None => crate::eval::Evaluated::unknown(),
        }
    }
}

/// Whether a `for_each` or `count` of this module's blocks uses a data source.
fn uses_data_for_expansion(source: &ModuleSource) -> bool {
    let uses = |e: Option<&Expr>| e.is_some_and(|e| e.refs.iter().any(|r| r.root() == "data"));
    let node = |d: &Arc<NodeDecl>| {
        uses(d.body.attr("for_each").map(|a| &a.value))
            || uses(d.body.attr("count").map(|a| &a.value))
    };
    let call = |c: &Arc<ModuleCall>| uses(c.for_each.as_ref()) || uses(c.count.as_ref());
    source.nodes.iter().any(node)
        || source.modules.iter().any(call)
        || source.rollouts.iter().any(|r| {
            uses(r.for_each.as_ref())
                || uses(r.count.as_ref())
                || uses(r.stages.as_ref())
                || r.nodes.iter().any(node)
                || r.modules.iter().any(call)
        })
}

/// What an expression deciding expansion may refer to.
const EXPANSION_ROOTS: &[&str] = &["var", "local", "each", "count", "stage", "path"];

fn invalid(what: &str, e: &Expr, detail: String) -> Diagnostic {
    let summary = match what {
        "stages" => "Invalid rollout stages".to_string(),
        w => format!("Invalid {w} argument"),
    };
    Diagnostic::error(summary, detail).at(Some(e.span.clone()))
}

/// The keys and values of a `for_each`: a map (object), or a list of
/// distinct strings (a set), in key order.
fn for_each_items(v: &hcl::Value) -> Result<Vec<(String, hcl::Value)>, String> {
    let mut items: Vec<(String, hcl::Value)> = match v {
        hcl::Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        hcl::Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, e) in a.iter().enumerate() {
                let Some(s) = e.as_str() else {
                    return Err(format!(
                        "`for_each` takes a map or a set of strings; element {i} is {}, not a string. Convert it, as in toset([for x in … : tostring(x)]).",
                        crate::eval::short(e)
                    ));
                };
                out.push((s.to_string(), e.clone()));
            }
            out
        }
        hcl::Value::Null => {
            return Err("`for_each` is null; it takes a map or a set of strings.".into());
        }
        other => {
            return Err(format!(
                "`for_each` takes a map or a set of strings; got {}.",
                crate::eval::short(other)
            ))
        }
    };
    items.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = items.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "`for_each` has the key \"{}\" twice; each instance needs a distinct key (toset() drops duplicates).",
            w[0].0
        ));
    }
    Ok(items)
}

/// A fleet size: a whole number, or a percentage of the `n` targets
/// (`"25%"`: rounded down, at least 1).
fn fleet_size(v: &hcl::Value, n: usize, what: &str) -> Result<usize, String> {
    if let Some(x) = v.as_f64() {
        if x >= 0.0 && x.fract() == 0.0 && x <= 1e9 {
            return Ok(x as usize);
        }
    }
    if let Some(p) = v
        .as_str()
        .and_then(|s| s.strip_suffix('%'))
        .and_then(|p| p.trim().parse::<f64>().ok())
        .filter(|p| (0.0..=100.0).contains(p))
    {
        let k = (n as f64 * p / 100.0).floor() as usize;
        return Ok(k.max(1).min(n.max(1)));
    }
    Err(format!(
        "`{what}` is a whole number or a percentage of the targets, as in 10 or \"25%\"; got {}.",
        crate::eval::short(v)
    ))
}

/// Cumulative batch sizes, each clamped to `n`, non-decreasing; targets left
/// after the last form one more batch.
fn fleet_batches(v: &hcl::Value, n: usize) -> Result<Vec<usize>, String> {
    let Some(items) = v.as_array().filter(|a| !a.is_empty()) else {
        return Err("`batches` is a non-empty list of cumulative sizes, as in [1, \"10%\", \"50%\", \"100%\"].".into());
    };
    let mut out: Vec<usize> = Vec::with_capacity(items.len() + 1);
    for it in items {
        let k = fleet_size(it, n, "batches")?.min(n);
        match out.last() {
            Some(&last) if k < last => {
                return Err(format!(
                    "`batches` are cumulative and must not shrink: {} comes after a batch reaching {last} targets.",
                    crate::eval::short(it)
                ))
            }
            Some(&last) if k == last => {}
            _ if k == 0 => {}
            _ => out.push(k),
        }
    }
    if out.last().copied().unwrap_or(0) < n {
        out.push(n);
    }
    Ok(out)
}

fn duplicate(what: &str, name: &str, first: &SourceSpan, again: &SourceSpan) -> Diagnostic {
    Diagnostic::error(
        "Duplicate block",
        format!(
            "{what} `{name}` is already declared at {}:{}; each needs a unique name.",
            first.path().display(),
            first.start().0
        ),
    )
    .at(Some(again.clone()))
}

/// Variables, locals and rollouts are named once per module; only the root
/// declares the `migration` block.
fn check_unique_names(source: &ModuleSource, is_module: bool, diags: &mut Diagnostics) {
    let mut seen: HashMap<&str, &SourceSpan> = HashMap::new();
    for v in &source.variables {
        if let Some(first) = seen.insert(&v.name, &v.span) {
            diags.push(duplicate("The variable", &v.name, first, &v.span));
        }
    }
    let mut seen: HashMap<&str, &SourceSpan> = HashMap::new();
    for l in &source.locals {
        if let Some(first) = seen.insert(&l.name, &l.name_span) {
            diags.push(duplicate("The local", &l.name, first, &l.name_span));
        }
    }
    let mut seen: HashMap<&str, &SourceSpan> = HashMap::new();
    for r in &source.rollouts {
        if let Some(first) = seen.insert(&r.name, &r.span) {
            diags.push(duplicate("The rollout", &r.name, first, &r.span));
        }
    }
    if is_module {
        if let Some(m) = &source.migration {
            diags.push(
                Diagnostic::error(
                    "Migration block in a module",
                    "Only the root directory declares the `migration` block; remove it from the module.",
                )
                .at(Some(m.span.clone())),
            );
        }
    }
}

/// A call's arguments against the module's variables: each argument names a
/// variable, each variable without a default gets an argument.
fn check_inputs(call: &ModuleCall, child: &ModuleSource, diags: &mut Diagnostics) {
    for input in &call.inputs {
        if !child.variables.iter().any(|v| v.name == input.name) {
            let names = child.variables.iter().map(|v| v.name.as_str());
            let hint = did_you_mean(&input.name, names)
                .map(|s| format!(" Did you mean `{s}`?"))
                .unwrap_or_default();
            diags.push(
                Diagnostic::error(
                    "Unsupported argument",
                    format!(
                        "The module \"{}\" declares no variable `{}`.{hint}",
                        call.name, input.name
                    ),
                )
                .at(Some(input.name_span.clone())),
            );
        }
    }
    for v in &child.variables {
        if v.default.is_none() && !call.inputs.iter().any(|a| a.name == v.name) {
            diags.push(
                Diagnostic::error(
                    "Missing required argument",
                    format!(
                        "The module \"{}\" requires the input `{}`, which has no default.",
                        call.name, v.name
                    ),
                )
                .at(Some(call.span.clone())),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fleet_batches, fleet_size, for_each_items};

    #[test]
    fn fleet_sizes_are_numbers_or_percentages_rounded_down_at_least_one() {
        let v = |s: &str| hcl::Value::from(s);
        assert_eq!(fleet_size(&v("25%"), 12, "x"), Ok(3));
        assert_eq!(fleet_size(&v("5%"), 12, "x"), Ok(1));
        assert_eq!(fleet_size(&hcl::Value::from(0), 12, "x"), Ok(0));
        assert!(fleet_size(&v("120%"), 12, "x").is_err());
        assert!(fleet_size(&hcl::Value::from(1.5), 12, "x").is_err());
        let b = |items: Vec<hcl::Value>, n| fleet_batches(&hcl::Value::Array(items), n);
        assert_eq!(
            b(vec![1.into(), v("10%"), v("50%"), v("100%")], 12),
            Ok(vec![1, 6, 12])
        );
        assert_eq!(b(vec![1.into(), v("100%")], 3), Ok(vec![1, 3]));
        assert_eq!(b(vec![2.into()], 5), Ok(vec![2, 5]));
        assert!(b(vec![5.into(), 2.into()], 12)
            .unwrap_err()
            .contains("shrink"));
    }
    use hcl::Value;

    #[test]
    fn for_each_orders_keys_and_rejects_what_cannot_key() {
        let m: Value = hcl::value!({ b = 2, a = 1 });
        let items = for_each_items(&m).unwrap();
        assert_eq!(items[0].0, "a");
        assert_eq!(items[1], ("b".to_string(), Value::from(2)));
        let set = Value::from(vec!["y", "x"]);
        assert_eq!(for_each_items(&set).unwrap()[0], ("x".into(), "x".into()));
        assert!(for_each_items(&Value::from(vec!["a", "a"]))
            .unwrap_err()
            .contains("twice"));
        assert!(for_each_items(&Value::from(vec![1, 2]))
            .unwrap_err()
            .contains("not a string"));
        assert!(for_each_items(&Value::Null).unwrap_err().contains("null"));
        assert!(for_each_items(&Value::from(3)).is_err());
    }
}
