//! Network ids of a space with conditional variables (`when` on a variable): ids that count
//! each distinct network once.
//!
//! A variable with a condition exists only in the variants where the condition holds; where it
//! does not, its value changes nothing, so the plain mixed-radix ids of `ids.rs` (the "full"
//! ids, one digit per variable) would count the same network once per value of every absent
//! variable. Network ids number the distinct configurations instead:
//!
//! - **Groups.** A conditional variable and the variables its condition reads are tied; the
//!   groups are the connected sets of tied variables. A condition reads only unconditional
//!   variables declared before it (its *controllers*), so a group is some controllers and the
//!   conditional variables they control. A variable no condition touches is a group of itself.
//! - **Inside a group.** The controllers' values are enumerated mixed-radix (digit order, the
//!   last fastest): combination c = 0 .. Π radix − 1. Combination c fixes which conditional
//!   variables exist; their digits, in digit order, form a mixed-radix number of
//!   P(c) = Π radix over those variables (1 if none). The group's configurations are listed
//!   controller-first: local = offset(c) + that number, offset(c) = Σ_{c' < c} P(c') (prefix
//!   sums). The group has size(g) = Σ_c P(c) configurations.
//! - **Across groups.** Network id = mixed radix over the groups, ordered by the digit position
//!   of their first variable, the last fastest: id = Σ_g local(g) · Π_{h > g} size(h).
//!
//! A space without conditions has one group per variable, of its radix: the network ids are the
//! full ids, digit for digit. The engine evaluates full ids (an absent variable at digit 0, its
//! first choice); `Networks` maps between the two.

use super::expr::{Compiled, Value};
use super::ids::{FastDiv, Id};
use super::var::Var;
use crate::error::{Error, ErrorKind, Limited};

/// Most controller combinations one group may have (each gets a prefix sum and an active set).
const CONTROLLER_LIMIT: u64 = 1 << 20;

/// One group of tied variables (see the module documentation).
struct Group {
    /// unconditional variables the conditions read, in digit order
    controllers: Vec<usize>,
    /// conditional variables, in digit order
    conditional: Vec<usize>,
    /// offset(c) for every controller combination c, then the group's size
    offsets: Vec<u64>,
    /// `active[c * conditional.len() + k]`: conditional variable k exists under combination c
    active: Vec<bool>,
}

/// The network ids of a program with conditional variables.
pub struct Networks {
    groups: Vec<Group>,
    /// each group's size: the radixes of network ids
    sizes: Vec<u64>,
    /// the variables' radixes (full ids)
    radix: Vec<u64>,
    /// variables that have a condition
    conditional: Vec<bool>,
    /// division by each group's size and by each variable's radix
    size_div: Vec<FastDiv>,
    radix_div: Vec<FastDiv>,
}

impl Group {
    fn size(&self) -> u64 {
        *self.offsets.last().expect("offsets end with the size")
    }

    fn combination(&self, digits: &[u64], radix: &[u64]) -> usize {
        self.controllers.iter().fold(0usize, |acc, &v| acc * radix[v] as usize + digits[v] as usize)
    }

    fn active(&self, c: usize) -> &[bool] {
        let n = self.conditional.len();
        &self.active[c * n..(c + 1) * n]
    }
}

impl Networks {
    /// The network ids of `vars` (digit order) whose conditions are `conditions[v]`; None when
    /// no variable has a condition. Conditions read unconditional variables only (the compiler
    /// checks it).
    pub(crate) fn new(vars: &[Var], conditions: &[Option<Compiled>]) -> Result<Option<Networks>, Error> {
        if conditions.iter().all(Option::is_none) {
            return Ok(None);
        }
        let n = vars.len();
        let radix: Vec<u64> = vars.iter().map(|v| v.choices.len() as u64).collect();
        // union-find over variables: a conditional variable with what its condition reads
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut v: usize) -> usize {
            while parent[v] != v {
                parent[v] = parent[parent[v]];
                v = parent[v];
            }
            v
        }
        for (v, c) in conditions.iter().enumerate() {
            for s in c.iter().flat_map(Compiled::slots) {
                let (a, b) = (root(&mut parent, v), root(&mut parent, s));
                parent[a.max(b)] = a.min(b);
            }
        }
        // groups in the digit order of their first variable (a root is its group's smallest index)
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); n];
        for v in 0..n {
            let r = root(&mut parent, v);
            members[r].push(v);
        }
        let mut groups = Vec::new();
        let mut slots: Vec<Value> = vars.iter().map(|v| v.choices[0]).collect();
        for group in members.into_iter().filter(|m| !m.is_empty()) {
            let (conditional, controllers): (Vec<usize>, Vec<usize>) = group.into_iter().partition(|&v| conditions[v].is_some());
            let combinations = controllers.iter().try_fold(1u64, |acc, &v| acc.checked_mul(radix[v]));
            let Some(combinations) = combinations.filter(|&c| c <= CONTROLLER_LIMIT) else {
                return Err(Error::new(ErrorKind::Limit {
                    context: String::new(),
                    what: Limited::ConditionCombinations {
                        conditional: conditional.iter().map(|&v| vars[v].name.clone()).collect(),
                        read: controllers.iter().map(|&v| vars[v].name.clone()).collect(),
                    },
                    limit: CONTROLLER_LIMIT,
                    got: combinations.unwrap_or(u64::MAX),
                }));
            };
            let mut offsets = Vec::with_capacity(combinations as usize + 1);
            let mut active = Vec::with_capacity(combinations as usize * conditional.len());
            let mut total = 0u64;
            for c in 0..combinations {
                let mut rest = c;
                for &v in controllers.iter().rev() {
                    slots[v] = vars[v].choices[(rest % radix[v]) as usize];
                    rest /= radix[v];
                }
                let mut count = 1u64;
                for &v in &conditional {
                    let condition = conditions[v].as_ref().expect("partitioned by condition");
                    let on = condition
                        .try_eval(&slots)
                        .map_err(|m| Error::expression(format!("variable '{}' when '{}'", vars[v].name, condition.source()), m))?
                        .truthy();
                    active.push(on);
                    if on {
                        count = count.checked_mul(radix[v]).ok_or_else(|| too_many(vars, &conditional))?;
                    }
                }
                offsets.push(total);
                total = total.checked_add(count).ok_or_else(|| too_many(vars, &conditional))?;
            }
            offsets.push(total);
            for &v in &controllers {
                slots[v] = vars[v].choices[0];
            }
            groups.push(Group { controllers, conditional, offsets, active });
        }
        let sizes = groups.iter().map(Group::size).collect();
        let conditional = conditions.iter().map(Option::is_some).collect();
        let size_div = groups.iter().map(|g| FastDiv::new(g.size())).collect();
        let radix_div = radix.iter().map(|&r| FastDiv::new(r)).collect();
        Ok(Some(Networks { groups, sizes, radix, conditional, size_div, radix_div }))
    }

    /// The radixes of network ids (each group's size): their product is the number of networks.
    pub fn sizes(&self) -> &[u64] {
        &self.sizes
    }

    /// Whether variable `v` has a condition.
    pub fn is_conditional(&self, v: usize) -> bool {
        self.conditional[v]
    }

    /// The digits of network `id` (absent variables at 0); `active[v]` says which variables
    /// exist. `id` must be below the number of networks.
    pub fn digits(&self, id: Id, digits: &mut [u64], active: &mut [bool]) {
        // each group's local number, the last group's the least significant digit of `id` (no
        // buffer: a sweep maps every row's id here)
        let mut high = id;
        for ((g, &size), &by_size) in self.groups.iter().zip(&self.sizes).zip(&self.size_div).rev() {
            let local = match u64::try_from(high) {
                Ok(h) => {
                    let (q, r) = by_size.divmod(h);
                    high = q as Id;
                    r
                }
                Err(_) => {
                    let local = (high % size as Id) as u64;
                    high /= size as Id;
                    local
                }
            };
            // the controller combination whose range of locals holds `local`
            let c = g.offsets.partition_point(|&o| o <= local) - 1;
            let mut rest = c as u64;
            for &v in g.controllers.iter().rev() {
                (rest, digits[v]) = self.radix_div[v].divmod(rest);
                active[v] = true;
            }
            let mut rest = local - g.offsets[c];
            for (&v, &on) in g.conditional.iter().zip(g.active(c)).rev() {
                active[v] = on;
                digits[v] = 0;
                if on {
                    (rest, digits[v]) = self.radix_div[v].divmod(rest);
                }
            }
        }
    }

    /// The full id (one digit per variable, absent ones at 0) of network `id`.
    pub fn full_id(&self, id: Id) -> Id {
        let mut digits = vec![0u64; self.radix.len()];
        let mut active = vec![false; self.radix.len()];
        self.digits(id, &mut digits, &mut active);
        super::ids::encode(&digits, &self.radix).expect("full ids fit in 128 bits (checked when compiled)")
    }

    /// The network id of the variables' digits (the digits of absent variables are ignored),
    /// with `active[v]` set to whether variable v exists in it.
    pub fn network_id(&self, digits: &[u64], active: &mut [bool]) -> Id {
        let mut id: Id = 0;
        for (g, &size) in self.groups.iter().zip(&self.sizes) {
            let c = g.combination(digits, &self.radix);
            let mut local = 0u64;
            for (&v, &on) in g.conditional.iter().zip(g.active(c)) {
                active[v] = on;
                if on {
                    local = local * self.radix[v] + digits[v];
                }
            }
            for &v in &g.controllers {
                active[v] = true;
            }
            id = id * size as Id + (g.offsets[c] + local) as Id;
        }
        id
    }
}

fn too_many(vars: &[Var], conditional: &[usize]) -> Error {
    Error::spec(format!(
        "the variables {} have more than 2^64 combinations of values: network ids cannot number them",
        conditional.iter().map(|&v| format!("'{}'", vars[v].name)).collect::<Vec<_>>().join(", ")
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::space::engine::config;
    use crate::space::expr::Value;
    use crate::space::ids::Permutation;
    use crate::space::{compile, Program, Spec};
    use serde_json::json;
    use std::collections::{BTreeMap, HashSet};

    /// depth[s] blocks per stage, a kernel per block slot, `e` only at depth[0] == 3, `w` free.
    pub(crate) fn staged_spec() -> serde_json::Value {
        json!({
            "name": "staged",
            "input": [3, 8, 8],
            "variables": {
                "depth": {"per_stage": 2, "choices": [1, 2, 3]},
                "k": {"per_stage": [2, 3], "index": ["s", "j"], "choices": [1, 3], "when": "j < depth[s]"},
                "e": {"choices": [1, 2], "when": "depth[0] == 3"},
                "w": [4, 8]
            },
            "layers": [
                {"name": "st{s}", "repeat": 2, "index": "s", "layers": [
                    {"name": "b{j}", "repeat": "=depth[s]", "index": "j", "layers": [
                        {"op": "conv2d", "out_channels": "=w * (e if s == 0 and j == 2 else 1)", "kernel_size": "=k[3 * s + j]", "padding": "=k[3 * s + j] // 2"}
                    ]}
                ]}
            ]
        })
    }

    fn program(spec: &serde_json::Value) -> Program {
        compile(&Spec::from_value(spec).unwrap()).unwrap()
    }

    fn size(prog: &Program) -> u128 {
        prog.id_radix().iter().map(|&r| r as u128).product()
    }

    /// Every full configuration reduced to the variables that exist in it, by hand.
    fn networks_by_brute_force(prog: &Program) -> HashSet<BTreeMap<String, String>> {
        let radix = prog.radix();
        let total: u64 = radix.iter().product();
        let index = |name: &str| prog.vars.iter().position(|v| v.name == name).unwrap();
        let mut out = HashSet::new();
        for full in 0..total {
            let mut digits = vec![0u64; radix.len()];
            crate::space::ids::decode(full as u128, &radix, &mut digits);
            let value = |name: &str| prog.vars[index(name)].choices[digits[index(name)] as usize];
            let depth = [value("depth_0"), value("depth_1")].map(|v| v.as_i64().unwrap());
            let mut net = BTreeMap::new();
            for (v, var) in prog.vars.iter().enumerate() {
                let exists = match var.name.strip_prefix("k_") {
                    Some(slot) => {
                        let slot: i64 = slot.parse().unwrap();
                        slot % 3 < depth[(slot / 3) as usize]
                    }
                    None => var.name != "e" || depth[0] == 3,
                };
                if exists {
                    net.insert(var.name.clone(), var.choices[digits[v] as usize].to_string());
                }
            }
            out.insert(net);
        }
        out
    }

    #[test]
    fn sizes_by_hand() {
        let prog = program(&staged_spec());
        // stage 0 with e: 2 + 2² + 2³·2 = 22; stage 1: 2 + 4 + 8 = 14; w: 2
        assert_eq!(size(&prog), 22 * 14 * 2);
        let mut spec = staged_spec();
        spec["variables"].as_object_mut().unwrap().remove("e");
        spec["layers"][0]["layers"][0]["layers"][0]["out_channels"] = json!("=w");
        assert_eq!(size(&program(&spec)), 14 * 14 * 2);
        // OFA's stage: depth {2, 3, 4}, 4 slots of kernel x expand (9 each): 9² + 9³ + 9⁴
        let ofa = json!({
            "input": [3, 8, 8],
            "variables": {
                "depth": {"per_stage": 5, "choices": [2, 3, 4]},
                "ks": {"per_stage": [5, 4], "index": ["s", "j"], "choices": [3, 5, 7], "when": "j < depth[s]"},
                "ex": {"per_stage": [5, 4], "index": ["s", "j"], "choices": [3, 4, 6], "when": "j < depth[s]"}
            },
            "layers": [{"op": "relu"}]
        });
        assert_eq!(size(&program(&ofa)), 7_371u128.pow(5));
    }

    #[test]
    fn network_ids_are_a_bijection_onto_the_distinct_networks() {
        let prog = program(&staged_spec());
        let networks = prog.networks.as_ref().unwrap();
        let expected = networks_by_brute_force(&prog);
        assert_eq!(expected.len() as u128, size(&prog));
        let mut seen = HashSet::new();
        let n = prog.vars.len();
        for id in 0..size(&prog) {
            let cfg = config(&prog, id).unwrap();
            let net: BTreeMap<String, String> = cfg.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
            assert!(expected.contains(&net), "id {id}: {net:?} is not a network of the space");
            assert!(seen.insert(net), "id {id} repeats a network");
            // back: the id of its digits (absent variables' digits ignored, whatever they are)
            let (mut digits, mut active) = (vec![0u64; n], vec![false; n]);
            networks.digits(id, &mut digits, &mut active);
            for (v, d) in digits.iter_mut().enumerate() {
                if !active[v] {
                    *d = prog.vars[v].choices.len() as u64 - 1;
                }
            }
            let mut again = vec![false; n];
            assert_eq!(networks.network_id(&digits, &mut again), id);
            assert_eq!(again, active);
            // config(id) omits exactly the absent variables
            let names: Vec<&str> = cfg.iter().map(|(k, _)| k.as_str()).collect();
            for (v, var) in prog.vars.iter().enumerate() {
                assert_eq!(names.contains(&var.name.as_str()), active[v], "id {id} variable {}", var.name);
            }
        }
        assert_eq!(seen.len(), expected.len());
    }

    #[test]
    fn samples_are_distinct_networks_spread_over_depths() {
        let prog = program(&staged_spec());
        let size = size(&prog);
        let p = Permutation::new(size, 7);
        let ids: Vec<u128> = (0..size as u64).map(|k| p.apply(k)).collect();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len() as u128, size);
        // a uniform sample over networks: depth_1 = 3 in 8 of stage 1's 14 configurations
        let k: Vec<u128> = (0..300).map(|k| p.apply(k)).collect();
        let deep = k.iter().filter(|&&id| config(&prog, id).unwrap().iter().any(|(n, v)| n == "depth_1" && *v == Value::Int(3))).count();
        let expected = 300.0 * 8.0 / 14.0;
        assert!((deep as f64 - expected).abs() < 4.0 * (300.0f64 * 8.0 / 14.0 * 6.0 / 14.0).sqrt(), "{deep} of 300, expected ~{expected}");
    }

    #[test]
    fn spaces_without_conditions_keep_their_ids() {
        let mut spec = staged_spec();
        spec["variables"]["k"].as_object_mut().unwrap().remove("when");
        spec["variables"]["e"].as_object_mut().unwrap().remove("when");
        let prog = program(&spec);
        assert!(prog.networks.is_none());
        assert_eq!(prog.id_radix(), prog.radix());
        // a condition that always holds is no condition
        spec["variables"]["e"]["when"] = json!("2 > 1");
        spec["variables"]["k"]["when"] = json!("j < 3 and s <= 1");
        assert!(program(&spec).networks.is_none());
    }

    fn compile_error(spec: &serde_json::Value) -> String {
        match compile(&Spec::from_value(spec).unwrap()) {
            Ok(_) => panic!("compiled"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn conditions_read_earlier_unconditional_variables() {
        let mut spec = staged_spec();
        spec["variables"]["e"]["when"] = json!("w == 4");
        assert_eq!(
            compile_error(&spec),
            "variable 'e' when 'w == 4': reads 'w', which is declared after 'e' (or is it); a condition reads variables declared before it"
        );
        spec["variables"]["e"]["when"] = json!("k[0] == 3");
        assert_eq!(
            compile_error(&spec),
            "variable 'e' when 'k[0] == 3': reads 'k_0', which has a condition itself; a condition reads unconditional variables"
        );
        spec["variables"]["e"]["when"] = json!("half > 1");
        spec["derived"] = json!({"half": "depth[0] // 2"});
        assert_eq!(
            compile_error(&spec),
            "variable 'e' when 'half > 1': reads the derived variable 'half'; a condition reads variables declared before it"
        );
        let wide = json!({
            "input": [3, 8, 8],
            "variables": {"b": {"per_stage": 21, "choices": [0, 1]}, "x": {"choices": [1, 2], "when": "max(b) > 0"}},
            "layers": [{"op": "relu"}]
        });
        let e = compile(&Spec::from_value(&wide).unwrap()).err().unwrap();
        assert_eq!(e.kind().code(), "limit");
        assert_eq!(
            e.to_string(),
            format!(
                "the conditions of 'x' read {} with 2097152 combinations of values (at most 1048576)",
                (0..21).map(|i| format!("b_{i}")).collect::<Vec<_>>().join(", ")
            )
        );
        spec["variables"]["e"]["when"] = json!("q > 1");
        assert_eq!(compile_error(&spec), "variable 'e' when 'q > 1': unknown variable 'q' in 'q > 1'");
    }
}
