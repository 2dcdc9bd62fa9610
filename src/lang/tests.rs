use super::*;

fn eval(src: &str) -> std::result::Result<Value, String> {
    let e: hcl::Expression = src.parse().map_err(|e| format!("{e}"))?;
    let roots: Map<String, Value> = [
        ("m".to_string(), hcl::value!({ b = 2, a = 1 })),
        ("l".to_string(), hcl::value!(["x", "y"])),
        ("nothing".to_string(), Value::Null),
    ]
    .into_iter()
    .collect();
    evaluate(&e, &roots, &NoFunctions).map_err(|e| e.to_string())
}

#[test]
fn arithmetic_is_decimal_and_checked() {
    assert_eq!(eval("7 % 3"), Ok(Value::from(1)));
    assert_eq!(eval("1 + 2 * 3"), Ok(Value::from(7)));
    assert_eq!(eval("7 / 2"), Ok(Value::from(3.5)));
    assert_eq!(eval("0.1 + 0.2"), Ok(Value::from(0.3)));
    assert_eq!(eval("\"1\" + 2"), Ok(Value::from(3)));
    assert!(eval("1 % 0").unwrap_err().contains("modulo by zero"));
    assert!(eval("1 / 0").unwrap_err().contains("division by zero"));
    assert_eq!(
        eval("9223372036854775807 + 1"),
        Ok(Value::from(9223372036854775808.0))
    );
    assert_eq!(eval("\"n=${10 % 4}\""), Ok(Value::from("n=2")));
    assert!(eval("\"${1 % 0}\"").is_err());
    assert!(eval("\"a\" + 1")
        .unwrap_err()
        .contains("a number is required"));
}

#[test]
fn for_iterates_an_object_in_key_order() {
    assert_eq!(eval("[for k, v in m : k]"), Ok(hcl::value!(["a", "b"])));
    assert_eq!(
        eval("[for k, v in {z = 1, y = 2} : v]"),
        Ok(hcl::value!([2, 1]))
    );
    assert!(
        eval("{for s in [\"a\", \"bb\"] : length_is(s) => s...}").is_err(),
        "an undefined function is an error"
    );
    assert_eq!(
        eval("{for i, s in l : s => i}"),
        Ok(hcl::value!({ x = 0, y = 1 }))
    );
    assert!(eval("{for s in [\"a\", \"a\"] : s => 1}")
        .unwrap_err()
        .contains("Duplicate object key"));
    assert!(eval("[for x in nothing : x]").unwrap_err().contains("null"));
}

#[test]
fn templates_follow_terraform() {
    assert_eq!(eval("\"${l}\"").unwrap(), hcl::value!(["x", "y"]));
    assert!(eval("\"a${l}\"").unwrap_err().contains("string required"));
    assert!(eval("\"a${nothing}\"").unwrap_err().contains("null"));
    assert_eq!(eval("\"${1.5}/${true}\""), Ok(Value::from("1.5/true")));
    assert_eq!(
        eval("\"%{for x in l}${x},%{endfor}\""),
        Ok(Value::from("x,y,"))
    );
    assert!(
        eval("\"%{if missing}x%{endif}\"").is_err(),
        "an undefined name is an error"
    );
    assert_eq!(
        eval("\"a %{~ if true ~} b %{~ endif ~} c\""),
        Ok(Value::from("abc"))
    );
}

#[test]
fn try_and_can_catch_errors_lazily() {
    assert_eq!(eval("try(m.c, m.a)"), Ok(Value::from(1)));
    assert_eq!(eval("try(l[5], \"none\")"), Ok(Value::from("none")));
    assert_eq!(eval("can(m.c)"), Ok(Value::Bool(false)));
    assert_eq!(eval("can(m.a)"), Ok(Value::Bool(true)));
    assert_eq!(
        eval("[for x in [\"1\", \"b\"] : try(x + 0, -1)]"),
        Ok(hcl::value!([1, -1]))
    );
    assert!(eval("try(m.c, l[9])")
        .unwrap_err()
        .contains("no expression succeeded"));
}

#[test]
fn conditionals_unify_their_result_types() {
    assert_eq!(eval("true ? 1 : \"a\""), Ok(Value::from("1")));
    assert_eq!(eval("\"true\" ? 1 : 2"), Ok(Value::from(1)));
    assert!(eval("true ? 1 : false")
        .unwrap_err()
        .contains("consistent types"));
    assert_eq!(eval("false ? l[9] : 2"), Ok(Value::from(2)));
    assert!(eval("nothing ? 1 : 2").unwrap_err().contains("null"));
}

#[test]
fn indexes_and_attributes() {
    assert_eq!(eval("l[\"1\"]"), Ok(Value::from("y")));
    assert_eq!(eval("l.0"), Ok(Value::from("x")));
    assert_eq!(eval("m[\"a\"]"), Ok(Value::from(1)));
    assert!(eval("l[2]").unwrap_err().contains("greater than or equal"));
    assert!(eval("l[-1]").unwrap_err().contains("negative"));
    assert!(eval("nothing.a").unwrap_err().contains("null"));
    assert_eq!(eval("[{a = 1}, {a = 2}][*].a"), Ok(hcl::value!([1, 2])));
    assert_eq!(eval("nothing[*]"), Ok(hcl::value!([])));
    assert_eq!(eval("m.*.a"), Ok(hcl::value!([1])));
    assert_eq!(eval("1 == 1.0"), Ok(Value::Bool(true)));
    assert_eq!(eval("1 == \"1\""), Ok(Value::Bool(false)));
}
