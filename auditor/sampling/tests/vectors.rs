//! Data-driven checks of the selection algorithms against published sampler vectors in
#![allow(clippy::unwrap_used)] // Test harness: a malformed data file must fail loudly.
//! `tests/data/*.json`.

use evidence_sampling::{
    RivestDraw, consistent_sample, first_ticket_number, next_ticket_number, rivest_draw,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn numbers(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn draw(seed: &str, max: u64, count: u64, with_replacement: bool) -> Vec<u64> {
    let d = RivestDraw {
        seed: seed.into(),
        min: 1,
        max,
        count,
        with_replacement,
        skip: 0,
    };
    rivest_draw(&d)
        .unwrap()
        .picks
        .iter()
        .map(|p| p.value)
        .collect()
}

#[test]
fn rivest_with_replacement_vectors_all_reproduce() {
    let data = load("rivest_vectors.json");
    let cases = data["with_replacement"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    for case in cases {
        let want = numbers(&case["expected"]);
        let seed = case["seed"].as_str().unwrap();
        let got = draw(seed, case["max"].as_u64().unwrap(), want.len() as u64, true);
        assert_eq!(got, want, "seed {seed:?}");
    }
}

#[test]
fn rivest_without_replacement_reproduces_the_47_pick_transcript() {
    let data = load("rivest_vectors.json");
    let case = &data["without_replacement"];
    let want = numbers(&case["expected"]);
    let d = RivestDraw::positions(
        case["seed"].as_str().unwrap(),
        case["max"].as_u64().unwrap(),
        47,
    );
    let s = rivest_draw(&d).unwrap();
    let got: Vec<u64> = s.picks.iter().map(|p| p.value).collect();
    assert_eq!(got, want);
    assert_eq!(s.rejected.len(), 1);
    assert_eq!((s.rejected[0].value, s.rejected[0].counter), (611, 32));
    assert_eq!(s.last_counter, case["last_counter"].as_u64().unwrap());
    assert_eq!(s.picks.last().unwrap().counter, 48);
}

#[test]
fn rivest_extension_with_skip_continues_the_transcript() {
    let data = load("rivest_vectors.json");
    let want = numbers(&data["without_replacement"]["expected"]);
    let mut d = RivestDraw::positions("3546311556112163624615351222", 876, 7);
    d.skip = 40;
    let s = rivest_draw(&d).unwrap();
    let got: Vec<u64> = s.picks.iter().map(|p| p.value).collect();
    assert_eq!(got, want[40..]);
}

fn ids_of(v: &Value) -> Vec<String> {
    if v.as_str() == Some("range(100)") {
        (0..100).map(|i| i.to_string()).collect()
    } else {
        strings(v)
    }
}

#[test]
fn consistent_sampler_vectors_all_reproduce() {
    let data = load("consistent_vectors.json");
    let ff = &data["first_fraction"];
    let first = first_ticket_number(ff["id"].as_str().unwrap(), ff["seed"].as_str().unwrap());
    assert_eq!(first, ff["expected"].as_str().unwrap());
    assert_eq!(
        next_ticket_number(&first),
        data["next_after_first"].as_str().unwrap()
    );
    for case in data["samples"].as_array().unwrap() {
        let ids = ids_of(&case["ids"]);
        let tickets = consistent_sample(
            &ids,
            case["seed"].as_str().unwrap(),
            case["with_replacement"].as_bool().unwrap(),
            case["drop"].as_u64().unwrap() as usize,
            case["take"].as_u64().unwrap() as usize,
        )
        .unwrap();
        let got: Vec<String> = tickets.iter().map(|t| t.id.clone()).collect();
        assert_eq!(got, strings(&case["expected_ids"]), "{case}");
        if let Some(want) = case.get("expected_tickets") {
            let got: Vec<String> = tickets.iter().map(|t| t.trimmed(9)).collect();
            assert_eq!(got, strings(want));
        }
    }
}

#[test]
fn consistent_sampler_ticket_heap_vector_reproduces() {
    let data = load("consistent_vectors.json");
    let heap = &data["ticket_heap"];
    let seed = heap["seed"].as_str().unwrap();
    for id in strings(&heap["ids"]) {
        assert_eq!(
            first_ticket_number(&id, seed),
            heap["expected"][&id].as_str().unwrap()
        );
    }
}
